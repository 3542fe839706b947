// A hostile trust server serving validly signed repositories shaped to exhaust the client:
// delegations too large or too many, a root version no chain could reach, answers that
// drip. `trustgate verify` (and `trustgate serve` for the admission budget) must refuse
// each with the code of the bound it hit, after a bounded number of requests, leaving the
// store as it was.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIZE_LIMITS } from '../../shared/trust/notary/model.js';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { buildRepository } from '../support/notary-builder.js';
import { delegationFlood, rootJump, startHostileTrustServer, type HostileTrustServer } from './support/hostile-trust-server.js';
import { uniqueGun } from './support/scenarios.js';
import { readStoredEntries, readTrustedRoot } from './support/state-dir.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe } from './support/trustgate-serve.js';

let hostile: HostileTrustServer;
let scratch: string;

beforeAll(async () => {
  hostile = await startHostileTrustServer();
  scratch = await makeTempDir('resource-bounds');
});

afterAll(async () => {
  await hostile?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

let dirs = 0;
async function newDir(label: string): Promise<string> {
  dirs += 1;
  const dir = join(scratch, `${label}-${dirs}`);
  await mkdir(dir);
  return dir;
}

function verify(image: string, stateDir: string): Promise<TrustgateRun> {
  return runTrustgateVerify({ image, trustServer: hostile.url, stateDir });
}

function requestsFor(gun: string): string[] {
  return hostile.requests.filter((path) => path.startsWith(`/v2/${gun}/`));
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

function target(): { sha256Hex: string; length: number } {
  const manifest = randomBytes(64);
  return { sha256Hex: createHash('sha256').update(manifest).digest('hex'), length: manifest.length };
}

describe('trustgate verify against a hostile trust server', () => {
  describe('when the repository holds more delegation bytes than one update may read', () => {
    it('refuses with TRUST_METADATA_TOO_LARGE before reading them all, and stores nothing', async () => {
      const gun = uniqueGun('huge-delegations');
      const count = 12;
      const bytesEach = 1024 * 1024;
      hostile.publish(gun, delegationFlood(gun, { count, bytesEach, now: new Date() }).metadata);
      const stateDir = await newDir('huge');

      const run = await verify(`${gun}:v1`, stateDir);

      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['TRUST_METADATA_TOO_LARGE'] });
      const delegationFetches = requestsFor(gun).filter((path) => path.includes('/targets/releases/d'));
      // At most the budget's worth of whole delegations, plus the one that crossed it.
      expect(delegationFetches.length).toBeLessThanOrEqual(Math.floor(DEFAULT_SIZE_LIMITS.updateBytes / bytesEach) + 1);
      expect(delegationFetches.length).toBeLessThan(count);
      expect(readStoredEntries(stateDir, gun)).toEqual([]);
    });
  });

  describe('when the repository delegates to more roles than one update may look at', () => {
    it('refuses with TRUST_METADATA_TOO_LARGE after at most that many delegation requests', async () => {
      const gun = uniqueGun('many-delegations');
      hostile.publish(gun, delegationFlood(gun, { count: 300, bytesEach: 0, now: new Date() }).metadata);
      const stateDir = await newDir('many');

      const run = await verify(`${gun}:v1`, stateDir);

      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['TRUST_METADATA_TOO_LARGE'] });
      const delegationFetches = requestsFor(gun).filter((path) => path.includes('/targets/releases'));
      expect(delegationFetches.length).toBeLessThanOrEqual(DEFAULT_SIZE_LIMITS.delegationCount);
      expect(readStoredEntries(stateDir, gun)).toEqual([]);
    });
  });

  describe('when the snapshot names a root version far beyond the trusted one', () => {
    it('refuses with TRUST_ROOT_ROTATION_INVALID without fetching a single intermediate root, and keeps the stored state', async () => {
      const gun = uniqueGun('root-jump');
      const signed = target();
      const first = buildRepository(gun, { now: new Date(), targets: { v1: signed } });
      hostile.publish(gun, first.metadata);
      const stateDir = await newDir('jump');
      expect((await verify(`${gun}:v1`, stateDir)).json).toMatchObject({ allowed: true, digest: `sha256:${signed.sha256Hex}` });
      const storedBytes = await dirBytes(stateDir);

      hostile.publish(gun, rootJump(first, 1_000_000).metadata);
      const before = requestsFor(gun).length;
      const run = await verify(`${gun}:v1`, stateDir);

      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['TRUST_ROOT_ROTATION_INVALID'] });
      const during = requestsFor(gun).slice(before);
      expect(during.filter((path) => /\/\d+\.root\.json$/.test(path))).toEqual([]);
      expect(during.length).toBeLessThanOrEqual(4);
      expect(readTrustedRoot(stateDir, gun)?.signed.version).toBe(1);
      expect(await dirBytes(stateDir)).toBe(storedBytes);
    });
  });
});

describe('trustgate serve against a trust server that drips its answers', () => {
  it('denies with ADMISSION_TIMEOUT after one request to it', async () => {
    const gun = uniqueGun('drip');
    hostile.drip(gun, { bytes: 1, everyMs: 200 });
    const policiesDir = await newDir('policies');
    await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(hostile.url));
    // The hostile server speaks plain HTTP: serve needs no extra CA for it.
    const caFile = join(scratch, 'no-extra-ca.pem');
    await writeFile(caFile, '');
    const serve = await startTrustgateServe({ policiesDir, stateDir: await newDir('serve-state'), caFile, extraArgs: ['--budget-ms', '1000'] });
    try {
      const review = reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${gun}:v1` }] })));
      const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(review) });
      const response = (JSON.parse(answer.text) as { response: { allowed: boolean; status: { message: string } } }).response;
      expect(response.allowed).toBe(false);
      expect(response.status.message).toContain('ADMISSION_TIMEOUT');
      // Nothing past the first document was asked for. (That the budget also cancels the
      // dripping request itself is shown without timing in the node-fetch and verifier unit
      // tests; the soak script measures it.)
      expect(requestsFor(gun)).toHaveLength(1);
    } finally {
      await serve.stop();
    }
  });
});
