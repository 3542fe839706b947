// `trustgate serve` /admit after an admission whose time budget ran out while its answer was
// loading a delegation of a repository it had just verified (and memoised): the memo gives
// that repository up, so the next admissions verify it again under their own deadline and
// are admitted once the trust server answers, instead of being handed the first admission's
// ADMISSION_TIMEOUT for the whole freshness window. A delegation that fails verification
// stays denied, from the memo as from the trust server.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepository, generateKey, type BuiltRepository } from '../support/notary-builder.js';
import { startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { admitPodImage, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const RELEASES_PATH = '/_trust/tuf/targets/releases';

let server: LocalServer;
let ca: TestCa;
let serve: ServeProcess;
let dir: string;
const files = new Map<string, Uint8Array>();
// While set, answers for targets/releases are held back until the test lets them go.
let holdReleases = false;
const held: (() => void)[] = [];

beforeAll(async () => {
  server = await startLocalServer((request, response) => {
    const path = request.url ?? '';
    const body = files.get(path);
    if (body === undefined) return void response.writeHead(404).end();
    const send = (): void => void sendJson(response, body);
    if (holdReleases && path.includes(RELEASES_PATH)) held.push(send);
    else send();
  });
  ca = await createTestCa();
  dir = await makeTempDir('timed-out-admission');
  const policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'policies.yaml'), signedTestRegistryPolicy(server.url));
  // A budget of 1 s: the first admission's runs out while targets/releases is held.
  serve = await startTrustgateServe({ policiesDir, stateDir: join(dir, 'state'), caFile: ca.caFile, extraArgs: ['--budget-ms', '1000'] });
}, 60_000);

afterAll(async () => {
  for (const send of held.splice(0)) send();
  await serve?.stop();
  await server?.close();
  await ca?.remove();
  await removeDir(dir);
});

function sendJson(response: ServerResponse, body: Uint8Array): void {
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
}

// Serves every document of `repo` under its latest and its by-checksum name.
function publish(repo: BuiltRepository): void {
  for (const [role, bytes] of repo.metadata) {
    const base = `/v2/${repo.gun}/_trust/tuf/`;
    files.set(`${base}${role}.json`, bytes);
    files.set(`${base}${role}.${createHash('sha256').update(bytes).digest('hex')}.json`, bytes);
  }
}

// A repository whose tag v1 is signed in targets/releases (as Docker Content Trust signs).
function releasesRepository(name: string, releasesSigners?: BuiltRepository['keys']['targets']): BuiltRepository {
  const manifest = randomBytes(100);
  const hex = createHash('sha256').update(manifest).digest('hex');
  return buildRepository(uniqueGun(name), {
    now: new Date(),
    delegations: [{ name: 'targets/releases', targets: { v1: { sha256Hex: hex, length: manifest.length } } }],
    ...(releasesSigners === undefined ? {} : { signers: { 'targets/releases': releasesSigners } }),
  });
}

describe('serve /admit after an admission that timed out loading a delegation', () => {
  it('admits the next admission of the repository once the trust server answers, within the freshness window', async () => {
    const repo = releasesRepository('timed-out');
    publish(repo);
    holdReleases = true;
    const first = await admitPodImage(serve, `${repo.gun}:v1`, 'default');
    expect(first.response.allowed).toBe(false);
    expect(first.response.status.message).toContain('ADMISSION_TIMEOUT');

    holdReleases = false;
    for (const send of held.splice(0)) send();
    // Right after, well within the 30 s window in which the verified repository is memoised.
    const second = await admitPodImage(serve, `${repo.gun}:v1`, 'default');
    expect(second.response.status.message).not.toContain('ADMISSION_TIMEOUT');
    expect(second.response.allowed).toBe(true);
    const third = await admitPodImage(serve, `${repo.gun}:v1`, 'default');
    expect(third.response.allowed).toBe(true);
  }, 60_000);

  it('keeps denying a delegation whose signature does not verify, from the memo as the first time', async () => {
    const repo = releasesRepository('bad-releases', [generateKey('ecdsa')]);
    publish(repo);
    const first = await admitPodImage(serve, `${repo.gun}:v1`, 'default');
    expect(first.response.allowed).toBe(false);
    expect(first.response.status.message).toMatch(/TRUST_(SIGNATURE_INVALID|THRESHOLD_NOT_MET)/);
    const second = await admitPodImage(serve, `${repo.gun}:v1`, 'default');
    expect(second.response.allowed).toBe(false);
    expect(second.response.status.message).toMatch(/TRUST_(SIGNATURE_INVALID|THRESHOLD_NOT_MET)/);
  }, 60_000);
});
