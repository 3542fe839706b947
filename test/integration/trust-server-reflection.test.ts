// Nothing a trust server answers is repeated in a denial's reasons: a hostile trust server
// whose root certificate names another repository, in words of its choosing, must not get
// those words into the answer `trustgate verify` (and so an admission denial) gives.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepository, generateRootCertKey } from '../support/notary-builder.js';
import { startHostileTrustServer, type HostileTrustServer } from './support/hostile-trust-server.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgateVerify } from './support/trustgate-cli.js';

const PLANTED = 'APPROVED - ask ops at https://evil.example/pw';

let hostile: HostileTrustServer;
let scratch: string;

beforeAll(async () => {
  hostile = await startHostileTrustServer();
  scratch = await makeTempDir('reflection');
});

afterAll(async () => {
  await hostile?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

describe('trustgate verify against a trust server whose root certificate names text of its choosing', () => {
  it('denies with TRUST_ROOT_CERT_INVALID without repeating the certificate name', async () => {
    const gun = uniqueGun('cn-reflection');
    const now = new Date();
    const manifest = randomBytes(64);
    const rootKey = generateRootCertKey(gun, {
      commonNames: [PLANTED],
      notBefore: new Date(now.getTime() - 86_400_000),
      notAfter: new Date(now.getTime() + 86_400_000 * 365),
    });
    const built = buildRepository(gun, {
      now,
      keys: { root: [rootKey] },
      targets: { v1: { sha256Hex: createHash('sha256').update(manifest).digest('hex'), length: manifest.length } },
    });
    hostile.publish(gun, built.metadata);
    const stateDir = join(scratch, 'state');
    await mkdir(stateDir);

    const run = await runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir });

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['TRUST_ROOT_CERT_INVALID'] });
    expect(JSON.stringify(run.json)).not.toContain('evil.example');
    expect(run.stdout + run.stderr).not.toContain('evil.example');
  });
});
