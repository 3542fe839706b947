// What signature verification may cost, through `trustgate verify` against a hostile trust
// server (any trust server a tenant's ImagePolicy names can be one): a document padded with
// signatures, and a listed RSA key whose public exponent makes each verification thousands
// of times dearer, are refused before they cost anything; repeated signatures by a real key
// are not verified again.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SIGNATURES } from '../../shared/trust/notary/decode.js';
import { buildRepository, fileMetaJson, generateKey, signMetadata, type TestKey } from '../support/notary-builder.js';
import { startHostileTrustServer, type HostileTrustServer } from './support/hostile-trust-server.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';

let hostile: HostileTrustServer;
let stateDirs: string[] = [];

beforeAll(async () => {
  hostile = await startHostileTrustServer();
});

afterAll(async () => {
  await hostile?.stop();
  await Promise.all(stateDirs.map((dir) => removeDir(dir)));
  stateDirs = [];
});

// A public-only 'rsa' key: 3072-bit modulus, odd public exponent of about 3071 bits
// (OpenSSL caps the exponent only above 3072-bit moduli). It only has to be listed.
function bigExponentKey(): TestKey {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const jwk = publicKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n ?? '', 'base64url');
  const e = Buffer.from(n);
  e[0] = (e[0] ?? 0) >> 1;
  e[e.length - 1] = (e[e.length - 1] ?? 0) | 1;
  const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n ?? '', e: e.toString('base64url') }, format: 'jwk' });
  const publicBase64 = key.export({ type: 'spki', format: 'der' }).toString('base64');
  const id = createHash('sha256').update(canonicalize({ keytype: 'rsa', keyval: { private: null, public: publicBase64 } })).digest('hex');
  return { type: 'rsa', publicBase64, id, method: 'rsapss', sign: () => new Uint8Array(), privateKey: publicKey, publicKeyPem: '' };
}

// A repository whose targets (listing `targetsKeys`, signed by the first) carries `extra`
// signatures after the real one; `v1` is signed in targets.
async function publishPadded(label: string, targetsKeys: readonly TestKey[], extra: (honest: TestKey) => { keyid: string; method: string; sig: string }[]): Promise<{ run: TrustgateRun; digestHex: string }> {
  const gun = uniqueGun(label);
  const manifest = randomBytes(100);
  const digestHex = createHash('sha256').update(manifest).digest('hex');
  const honest = targetsKeys[0] as TestKey;
  const repo = buildRepository(gun, { now: new Date(), keys: { targets: targetsKeys }, signers: { targets: [honest] }, targets: { v1: manifest } });
  const targets = signMetadata(repo.signed.get('targets') as Record<string, unknown>, [honest], { extraSignatures: extra(honest) });
  const snapshotSigned = { ...(repo.signed.get('snapshot') as Record<string, unknown>) };
  snapshotSigned['meta'] = { ...(snapshotSigned['meta'] as Record<string, unknown>), targets: fileMetaJson(targets) };
  const snapshot = signMetadata(snapshotSigned, repo.keys.snapshot);
  const timestamp = signMetadata({ ...(repo.signed.get('timestamp') as Record<string, unknown>), meta: { snapshot: fileMetaJson(snapshot) } }, repo.keys.timestamp);
  hostile.publish(gun, new Map([['root', repo.root], ['targets', targets], ['snapshot', snapshot], ['timestamp', timestamp]]));
  const stateDir = await makeTempDir(label);
  stateDirs.push(stateDir);
  return { run: await runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir }), digestHex };
}

const bogusEcdsa = (key: TestKey) => ({ keyid: key.id, method: 'ecdsa', sig: randomBytes(64).toString('base64') });

describe('trustgate verify and the cost of signatures', () => {
  describe('when a targets document carries more signatures than the bound', () => {
    it('refuses with TRUST_METADATA_TOO_LARGE', async () => {
      const { run } = await publishPadded('sig-padded', [generateKey('ecdsa')], (honest) => Array.from({ length: MAX_SIGNATURES }, () => bogusEcdsa(honest)));
      expect(run.json).toMatchObject({ allowed: false, codes: ['TRUST_METADATA_TOO_LARGE'] });
    }, 60_000);
  });

  describe('when the valid signature is followed by bogus ones within the bound', () => {
    it('allows the image: the threshold is met before they are looked at', async () => {
      const { run, digestHex } = await publishPadded('sig-trailing', [generateKey('ecdsa')], (honest) => Array.from({ length: MAX_SIGNATURES - 1 }, () => bogusEcdsa(honest)));
      expect(run.json).toMatchObject({ allowed: true, digest: `sha256:${digestHex}` });
    }, 60_000);
  });

  describe('when the targets role lists an RSA key with a public exponent above 2^31-1', () => {
    it('refuses the root that lists it with TRUST_METADATA_INVALID', async () => {
      const heavy = bigExponentKey();
      const { run } = await publishPadded('sig-exponent', [generateKey('ecdsa'), heavy], () => [
        { keyid: heavy.id, method: 'rsapss', sig: Buffer.concat([Buffer.from([0]), randomBytes(383)]).toString('base64') },
      ]);
      expect(run.json).toMatchObject({ allowed: false, codes: ['TRUST_METADATA_INVALID'] });
    }, 60_000);
  });
});
