// A simple signing signature that is an OpenPGP signature of a type that signs no document
// (standalone 0x02, timestamp 0x40), made by a trusted key, in front of an attacker's
// payload: it hashes nothing of the literal data, so it must never count as a signature over
// it. Only binary (0x00) and text (0x01) document signatures are checked (OpenPGP.js drops
// the others before verifying); this guards that the image stays denied. Through
// `trustgate verify --policies` against the real docker-registry and a lookaside store.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleKeySecretYaml } from '../support/key-secrets.js';
import { pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { serveLookaside, type HttpServer } from './support/simple-signing.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate } from './support/trustgate-cli.js';

let scratch: string;
let registry: DockerRegistry;
let lookaside: HttpServer;

beforeAll(async () => {
  scratch = await makeTempDir('standalone-sig');
  registry = await startDockerRegistry();
  await mkdir(join(scratch, 'lookaside'), { recursive: true });
  lookaside = await serveLookaside(join(scratch, 'lookaside'));
});

afterAll(async () => {
  await lookaside?.close();
  await registry?.stop();
  await removeDir(scratch);
});

// A signature packet of `type` made by `key`'s signing key over `data` (the literal data
// packet for a document signature; nothing of the message for the other types).
async function signaturePacket(privateKey: openpgp.PrivateKey, type: openpgp.enums.signature, data: unknown): Promise<openpgp.SignaturePacket> {
  const signing = await privateKey.getSigningKey();
  const packet = new openpgp.SignaturePacket();
  packet.signatureType = type;
  packet.publicKeyAlgorithm = signing.keyPacket.algorithm;
  packet.hashAlgorithm = openpgp.enums.hash.sha256;
  packet.issuerKeyID = signing.getKeyID();
  packet.issuerFingerprint = signing.keyPacket.getFingerprintBytes();
  packet.issuerKeyVersion = signing.keyPacket.version;
  // OpenPGP.js's typings omit the config parameter that sign reads.
  const signWithConfig = packet.sign.bind(packet) as unknown as (key: unknown, data: unknown, date: Date, detached: boolean, config: unknown) => Promise<void>;
  await signWithConfig(signing.keyPacket, data, new Date(Date.now() - 60_000), false, openpgp.config);
  return packet;
}

describe('simple signing with a non-document OpenPGP signature', () => {
  const cases = [
    ['denies', 'standalone (0x02)', openpgp.enums.signature.standalone],
    ['denies', 'timestamp (0x40)', openpgp.enums.signature.timestamp],
    // The same construction with a document signature over the payload (control).
    ['admits', 'binary document (0x00)', openpgp.enums.signature.binary],
  ] as const;
  for (const [verdict, name, type] of cases) {
    it(`${verdict} an image whose lookaside store holds a ${name} signature by the release key in front of the payload`, async () => {
      const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'release', email: 'release@example.com' }], date: new Date(Date.now() - 120_000), format: 'object' });
      const repository = `sec/app-${type}`;
      const pushed = await pushImage(registry, repository, 'v1');
      const payload = Buffer.from(JSON.stringify({
        critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': pushed.digest }, identity: { 'docker-reference': `${registry.host}/${repository}:v1` } },
        optional: {},
      }));
      const literal = (await openpgp.createMessage({ binary: payload })).packets;
      // A non-document signature: what the key holder signed once for some other purpose.
      const signature = await signaturePacket(privateKey, type, type === openpgp.enums.signature.binary ? literal[0] : {});
      const list = new openpgp.PacketList();
      // The older signed-message form (signature, then literal data), which the packet
      // walk and openpgp both accept.
      list.push(signature);
      list.push(...literal);
      const dir = join(scratch, 'lookaside', `${repository}@${pushed.digest.replace(':', '=')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'signature-1'), list.write());

      const policies = join(scratch, `policies-${type}`);
      await mkdir(policies, { recursive: true });
      const armored = publicKey.armor();
      await writeFile(join(policies, 'policy.yaml'), `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: simple}
spec:
  repositories:
    - name: "${registry.host}/sec/*"
      policy: {simple: {storeURL: "${lookaside.url}", requirements: [{type: signedBy, keySecret: release-gpg}]}}
---
${simpleKeySecretYaml('release-gpg', 'default', armored)}
`);
      const run = await runTrustgate(['verify', `${registry.host}/${repository}:v1`, '--policies', policies, '--json'], { stateDir: scratch });
      if (verdict === 'admits') expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: pushed.digest });
      else expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
    });
  }
});
