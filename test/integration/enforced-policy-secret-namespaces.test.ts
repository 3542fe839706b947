// An enforced ClusterImagePolicy is a baseline namespace policies cannot weaken, so the key it
// checks against must never come from the workload's namespace, where a tenant may write
// Secrets: `trustgate verify --policies` and `trustgate policy lint` against a real registry.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { runTrustgate } from './support/trustgate-cli.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';

let dir: string;
let registry: DockerRegistry;
let tenantSigned: PushedImage;
let operatorSigned: PushedImage;
let operatorKey: CosignKeyPair;
let tenantKey: CosignKeyPair;

// The baseline (its key Secret named `release-key`, in `keyNamespace` when given), an
// allow-all ImagePolicy of the tenant, and two Secrets called `release-key`: the operator's in
// `trustgate-keys` and the tenant's own in `tenant`.
async function writePolicies(name: string, keyNamespace?: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  const key = keyNamespace === undefined ? '{secretName: release-key}' : `{secretName: release-key, secretNamespace: ${keyNamespace}}`;
  await writeFile(
    join(folder, 'policies.yaml'),
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: production-baseline, annotations: {trustgate.dev/enforce: "true"}}
spec:
  repositories:
    - name: "${registry.host}/prod/*"
      policy: {sigstore: {authorities: [{key: ${key}}]}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: anything, namespace: tenant}
spec:
  repositories:
    - name: "*"
      policy: {}
---
${cosignKeySecretYaml('release-key', 'trustgate-keys', operatorKey.publicKeyPem)}
---
${cosignKeySecretYaml('release-key', 'tenant', tenantKey.publicKeyPem)}
`,
  );
  return folder;
}

function verify(image: PushedImage, policies: string, namespace: string) {
  return runTrustgate(['verify', `${registry.host}/prod/app@${image.digest}`, '--policies', policies, '--namespace', namespace, '--json'], { stateDir: join(dir, `state-${namespace}`) });
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  dir = await makeTempDir('enforced-secret-namespaces');
  registry = await startDockerRegistry();
  await mkdir(join(dir, 'keys'));
  operatorKey = await createCosignKey(join(dir, 'keys'), 'operator');
  tenantKey = await createCosignKey(join(dir, 'keys'), 'tenant');
  tenantSigned = await pushImage(registry, 'prod/app', 'tenant');
  await pushCosignSignatures(registry, 'prod/app', tenantSigned.digest, [signPayload(tenantKey, cosignPayload(`${registry.host}/prod/app`, tenantSigned.digest))]);
  operatorSigned = await pushImage(registry, 'prod/app', 'release');
  await pushCosignSignatures(registry, 'prod/app', operatorSigned.digest, [signPayload(operatorKey, cosignPayload(`${registry.host}/prod/app`, operatorSigned.digest))]);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  await removeDir(dir);
});

describe('an enforced ClusterImagePolicy whose key Secret names no namespace', () => {
  it('is refused, so a tenant key Secret in the workload namespace never admits the tenant-signed image', async () => {
    const policies = await writePolicies('unpinned');
    const run = await verify(tenantSigned, policies, 'tenant');
    expect(run.exitCode, run.stdout).toBe(2);
    expect(run.json).toBeUndefined();
    expect(run.stderr).toContain('spec.repositories[0].policy.sigstore.authorities[0].key.secretNamespace');
  }, 60_000);

  it('is reported by policy lint at the missing field', async () => {
    const policies = await writePolicies('unpinned-lint');
    const run = await runTrustgate(['policy', 'lint', policies], { stateDir: join(dir, 'state-lint') });
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stdout).toContain('policies.yaml:1: spec.repositories[0].policy.sigstore.authorities[0].key.secretNamespace: ');
  }, 60_000);
});

describe('an enforced ClusterImagePolicy whose key Secret names its namespace', () => {
  it('denies the tenant-signed image in the tenant namespace, whatever key the tenant Secret of that name holds', async () => {
    const policies = await writePolicies('pinned-tenant', 'trustgate-keys');
    const run = await verify(tenantSigned, policies, 'tenant');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
  }, 60_000);

  it('admits the image the key of the named namespace signed, in the tenant namespace and elsewhere', async () => {
    const policies = await writePolicies('pinned-operator', 'trustgate-keys');
    for (const namespace of ['tenant', 'default']) {
      const run = await verify(operatorSigned, policies, namespace);
      expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: operatorSigned.digest });
    }
  }, 60_000);

  it('passes policy lint', async () => {
    const policies = await writePolicies('pinned-lint', 'trustgate-keys');
    const run = await runTrustgate(['policy', 'lint', policies], { stateDir: join(dir, 'state-lint-pinned') });
    expect(run.exitCode, run.stdout).toBe(0);
  }, 60_000);
});
