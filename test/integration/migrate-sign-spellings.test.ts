// `trustgate migrate sign` against the real notary-server and docker-registry, where the
// carry-over key or the image is spelled another way than migrate sign reads it. The
// carried-over signature is bound to the repository and digest only, so it admits the image
// wherever a policy trusts the key, under any spelling of either:
// - a ClusterImagePolicy trusting the key without Notary trust, its Secret holding the key
//   with the point compressed, must not be invisible to migrate sign (nor admit the image);
// - prod admits release tags (`:v*`) on Notary signer `ci` only and everything else of the
//   repository (digest-pinned images) on the carry-over key only; dev trusts any tag the
//   repository owner signed, or the key. The dev image, signed by the owner only, must not
//   be carried over from dev: prod would then admit it by digest.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spellP256 } from '../support/ec-point-spellings.js';
import { cosignKeySecretYaml, notarySignerSecretYaml } from '../support/key-secrets.js';
import { createDelegateKey, type DelegateKey } from './support/delegate-keys.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';

let env: TrustEnvironment;
let registry: DockerRegistry;
let keyFile: string;
let pem: string;
let ci: DelegateKey;
const digests = new Map<string, string>();

function ciSecret(namespace: string): string {
  return notarySignerSecretYaml('ci-signer', namespace, 'ci', ci.publicKeyPem);
}

// prod: Notary signer ci or the key; batch (through a ClusterImagePolicy): the key alone,
// its Secret there holding `batchPem`.
function clusterPolicies(batchPem: string): string {
  return [
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: prod-images, namespace: prod}
spec:
  repositories:
    - name: "${registry.host}/team/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}", signerSecrets: [{name: ci-signer}]}
        sigstore: {authorities: [{key: {secretName: carry-over}}]}
        verification: {mode: any}`,
    ciSecret('prod'),
    cosignKeySecretYaml('carry-over', 'prod', pem),
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign-only}
spec:
  repositories:
    - name: "${registry.host}/team/*"
      policy:
        sigstore: {authorities: [{key: {secretName: carry-over}}]}`,
    cosignKeySecretYaml('carry-over', 'batch', batchPem),
  ].join('\n---\n');
}

// prod: release tags on Notary signer ci, the rest of the repository on the key alone; dev:
// any tag the owner signed, or the key.
function tagScopedPolicies(): string {
  return [
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: prod-images, namespace: prod}
spec:
  repositories:
    - name: "${registry.host}/app/api:v*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}", signerSecrets: [{name: ci-signer}]}
    - name: "${registry.host}/app/api"
      policy:
        sigstore: {authorities: [{key: {secretName: carry-over}}]}`,
    ciSecret('prod'),
    cosignKeySecretYaml('carry-over', 'prod', pem),
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: dev-images, namespace: dev}
spec:
  repositories:
    - name: "${registry.host}/app/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
        sigstore: {authorities: [{key: {secretName: carry-over}}]}
        verification: {mode: any}`,
    cosignKeySecretYaml('carry-over', 'dev', pem),
  ].join('\n---\n');
}

async function policiesDir(text: string): Promise<string> {
  const dir = await env.makeDir('policies');
  await writeFile(join(dir, 'policies.yaml'), text);
  return dir;
}

async function run(args: readonly string[]): Promise<TrustgateRun> {
  return runTrustgate(args, { stateDir: await env.makeDir('state'), caFile: env.caFile });
}

function verify(dir: string, image: string, namespace: string): Promise<TrustgateRun> {
  return run(['verify', image, '--policies', dir, '--namespace', namespace, '--json']);
}

// migrate sign (classic format) for one workload image in `namespace`: its JSON line.
async function sign(dir: string, image: string, namespace: string): Promise<Record<string, unknown>> {
  const dump = join(await env.makeDir('dump'), 'workloads.json');
  const workload = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app', namespace }, spec: { template: { spec: { containers: [{ name: 'app', image }] } } } };
  await writeFile(dump, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [workload] }));
  const result = await run(['migrate', 'sign', '--policies', dir, '--cosign-key', keyFile, '--from-file', dump, '--format', 'classic', '--json']);
  return JSON.parse(result.stdout.trim().split('\n')[0] ?? 'null') as Record<string, unknown>;
}

// Pushes `repository:v1` and signs it in Notary by the `ci` delegation or the owner (targets).
async function pushSigned(repository: string, role: 'ci' | 'owner'): Promise<void> {
  const target = await pushImage(registry, repository, 'v1');
  digests.set(repository, target.digest);
  const gun = `${registry.host}/${repository}`;
  await env.scenarios.cli.init(gun);
  if (role === 'ci') {
    await env.scenarios.cli.addDelegation(gun, 'targets/ci', ci.delegationFile, { allPaths: true });
    await env.scenarios.cli.addHash(gun, 'v1', target.size, target.digest.slice('sha256:'.length), { roles: ['targets/ci'] });
  } else {
    await env.scenarios.cli.addHash(gun, 'v1', target.size, target.digest.slice('sha256:'.length));
  }
  await env.scenarios.cli.publish(gun);
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is not installed: run scripts/install-test-servers.sh');
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  const keysDir = await env.makeDir('keys');
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  keyFile = join(keysDir, 'carry-over.key');
  await writeFile(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  ci = await createDelegateKey(keysDir, 'ci', 'public-key');
  await env.scenarios.cli.importKey(ci.privateKeyFile, 'targets/ci');
  await pushSigned('team/plain', 'ci');
  await pushSigned('team/worker', 'ci');
  await pushSigned('app/api', 'owner');
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  await env?.stop();
});

describe('trustgate migrate sign, where a policy holds the carry-over key with its point compressed', () => {
  it('refuses, as for the key written uncompressed, where a ClusterImagePolicy trusts it without Notary trust', async () => {
    const line = await sign(await policiesDir(clusterPolicies(pem)), `${registry.host}/team/plain:v1`, 'prod');

    expect(line).toMatchObject({ outcome: 'refused', codes: ['CARRY_OVER_WIDENS_TRUST'] });
  });

  it('leaves the namespace whose policy holds the compressed key denying the image', async () => {
    const dir = await policiesDir(clusterPolicies(spellP256(createPublicKey(pem), 'compressed')));
    const image = `${registry.host}/team/worker:v1`;
    expect((await verify(dir, image, 'batch')).json).toMatchObject({ allowed: false });

    await sign(dir, image, 'prod');

    const after = await verify(dir, image, 'batch');
    expect(after.json, after.stderr).toMatchObject({ allowed: false });
  });
});

describe('trustgate migrate sign, where another spelling of the digest meets another policy', () => {
  it('refuses the dev image a prod entry for digest-pinned images trusts the key for, naming that entry', async () => {
    const dir = await policiesDir(tagScopedPolicies());
    const digest = digests.get('app/api') ?? '';
    expect((await verify(dir, `${registry.host}/app/api:v1`, 'dev')).json).toMatchObject({ allowed: true });
    expect((await verify(dir, `${registry.host}/app/api@${digest}`, 'prod')).json).toMatchObject({ allowed: false });

    const line = await sign(dir, `${registry.host}/app/api:v1`, 'dev');

    expect(line).toMatchObject({ outcome: 'refused', codes: ['CARRY_OVER_WIDENS_TRUST'] });
    expect(String(line['reasons'])).toContain('prod-images');
    const after = await verify(dir, `${registry.host}/app/api@${digest}`, 'prod');
    expect(after.json, after.stderr).toMatchObject({ allowed: false });
  });
});
