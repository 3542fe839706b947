// One cosign key in two Secrets, one with its point compressed: node reads both as the same
// key, so a policy asking two authorities to sign (threshold 2) must not be met by one
// signature. Against the real docker-registry, through the CLI.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { spellP256 } from '../support/ec-point-spellings.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate } from './support/trustgate-cli.js';

let dir: string;
let registry: DockerRegistry;
let key: CosignKeyPair;
let image: PushedImage;

function policies(secondPem: string): string {
  return [
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: two-signers}
spec:
  repositories:
    - name: "${registry.host}/dup/*"
      policy: {sigstore: {threshold: 2, authorities: [{key: {secretName: a}}, {key: {secretName: b}}]}}`,
    cosignKeySecretYaml('a', 'default', key.publicKeyPem),
    cosignKeySecretYaml('b', 'default', secondPem),
  ].join('\n---\n');
}

async function verifyUnder(secondPem: string, name: string): Promise<Record<string, unknown> | undefined> {
  const policiesDir = join(dir, name);
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'p.yaml'), policies(secondPem));
  const run = await runTrustgate(['verify', `${registry.host}/dup/app:v1`, '--policies', policiesDir, '--json'], { stateDir: join(dir, `state-${name}`) });
  return run.json as Record<string, unknown> | undefined;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is not installed: run scripts/install-test-servers.sh');
  dir = await makeTempDir('cosign-key-spellings');
  registry = await startDockerRegistry();
  await mkdir(join(dir, 'keys'));
  key = await createCosignKey(join(dir, 'keys'), 'k');
  image = await pushImage(registry, 'dup/app', 'v1');
  await pushCosignSignatures(registry, 'dup/app', image.digest, [signPayload(key, cosignPayload(`${registry.host}/dup/app`, image.digest))]);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (dir !== undefined) await removeDir(dir);
});

describe('a policy asking two cosign keys to sign', () => {
  it('is not met by one signature when its two Secrets hold one key, the second with its point compressed', async () => {
    const compressed = spellP256(createPublicKey(key.publicKeyPem), 'compressed');

    const verdict = await verifyUnder(compressed, 'compressed');

    expect(verdict).toMatchObject({ allowed: false });
    expect(verdict?.['codes']).toEqual(expect.arrayContaining([expect.stringMatching(/^(COSIGN_KEY_UNSUPPORTED|POLICY_INVALID)$/)]));
  }, 60_000);

  it('is met by signatures of two distinct keys (the same policy otherwise)', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const otherKey: CosignKeyPair = { publicKeyPem: other.publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKeyFile: '', privateKey: other.privateKey };
    await pushCosignSignatures(registry, 'dup/app', image.digest, [
      signPayload(key, cosignPayload(`${registry.host}/dup/app`, image.digest)),
      signPayload(otherKey, cosignPayload(`${registry.host}/dup/app`, image.digest)),
    ]);

    expect(await verifyUnder(otherKey.publicKeyPem, 'distinct')).toMatchObject({ allowed: true });
  }, 60_000);
});
