// One key spelled twice must not count twice toward a threshold. Through `trustgate verify`
// against a hostile trust server: a root that lists one P-256 key both as Notary writes it
// and with its point compressed (or its curve as explicit parameters), under two key IDs,
// for a targets threshold of 2 that one signer alone would then meet, is refused.
import { ECDH, createHash, randomBytes } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepository, generateKey, type TestKey } from '../support/notary-builder.js';
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

// The SPKI header before the point: compressed point under the named curve, or the curve's
// explicit parameters (as `openssl ec -param_enc explicit` writes them) before an
// uncompressed point.
const COMPRESSED_HEADER = '3039301306072a8648ce3d020106082a8648ce3d030107032200';
const EXPLICIT_HEADER =
  '3082014b3082010306072a8648ce3d02013081f7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff' +
  '305b0420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b' +
  '031500c49d360886e704936a6678e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb' +
  '4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101034200';

// The same key (same private key signing) under another spelling of its public key, with
// the key ID that spelling has.
function respelled(key: TestKey, spelling: 'compressed' | 'explicit curve'): TestKey {
  const spki = Buffer.from(key.publicBase64, 'base64');
  const point = spki.subarray(spki.length - 65);
  const respelledSpki =
    spelling === 'compressed'
      ? Buffer.concat([Buffer.from(COMPRESSED_HEADER, 'hex'), ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer])
      : Buffer.concat([Buffer.from(EXPLICIT_HEADER, 'hex'), point]);
  const publicBase64 = respelledSpki.toString('base64');
  const id = createHash('sha256').update(canonicalize({ keytype: 'ecdsa', keyval: { private: null, public: publicBase64 } })).digest('hex');
  return { ...key, publicBase64, id };
}

async function verifyThresholdOfTwo(label: string, second: (alice: TestKey) => TestKey): Promise<{ run: TrustgateRun; digestHex: string }> {
  const gun = uniqueGun(label);
  const manifest = randomBytes(100);
  const digestHex = createHash('sha256').update(manifest).digest('hex');
  const alice = generateKey('ecdsa');
  const other = second(alice);
  const repo = buildRepository(gun, {
    now: new Date(),
    keys: { targets: [alice, other] },
    thresholds: { targets: 2 },
    signers: { targets: [alice, other] },
    targets: { v1: manifest },
  });
  hostile.publish(gun, repo.metadata);
  const stateDir = await makeTempDir(label);
  stateDirs.push(stateDir);
  return { run: await runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir }), digestHex };
}

describe('trustgate verify and a targets threshold of 2', () => {
  describe.each(['compressed', 'explicit curve'] as const)('when the root lists one key twice, once with a %s spelling', (spelling) => {
    it('refuses the root with TRUST_METADATA_INVALID', async () => {
      const { run } = await verifyThresholdOfTwo(`twin-${spelling.replace(' ', '-')}`, (alice) => respelled(alice, spelling));
      expect(run.json).toMatchObject({ allowed: false, codes: ['TRUST_METADATA_INVALID'] });
    }, 60_000);
  });

  describe('when two distinct keys sign', () => {
    it('allows the image', async () => {
      const { run, digestHex } = await verifyThresholdOfTwo('twin-distinct', () => generateKey('ecdsa'));
      expect(run.json).toMatchObject({ allowed: true, digest: `sha256:${digestHex}` });
    }, 60_000);
  });
});
