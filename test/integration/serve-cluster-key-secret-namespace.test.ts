// A simple-signing requirement's `keySecretNamespace` under `trustgate serve
// --policies-from-cluster`, against a real kube-apiserver (and etcd) with the shipped RBAC:
// the key Secret is read from the namespace the policy names, and only from there. A tenant's
// Secret of the same name in its own namespace is never what the policy uses, nor held.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, installTrustgate, POLICY_API, writeKubeconfigAsTrustgate } from './support/kube-cluster-setup.js';
import type { KubeObject } from './support/kube-apiserver.js';
import { imagePolicy, opaqueSecret, servedCluster } from './support/kube-suite.js';
import { TEST_GUN_PATTERN } from './support/trust-policies.js';
import { startTrustgateServe } from './support/trustgate-serve.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/simple-signing/', import.meta.url));
const SUFFIX = randomBytes(3).toString('hex');
const TENANT = `tenant-${SUFFIX}`;
const KEYS = `gpg-keys-${SUFFIX}`;
// Namespaces whose policies name many of KEYS's Secrets.
const OTHERS = ['x', 'y'].map((letter) => `other-${letter}-${SUFFIX}`);
const IMAGE = TEST_GUN_PATTERN.replace('*', 'simple-app:v1');

const cluster = servedCluster();
const { api, eventually, metric, decision } = cluster;

beforeAll(setUp, 120_000);
afterAll(cluster.stop);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  await installTrustgate(api(), ['trustgate-system', TENANT, KEYS, ...OTHERS]);
  expectStatus(await api().request('POST', `/api/v1/namespaces/${KEYS}/secrets`, keySecret(KEYS, readFileSync(join(FIXTURES, 'simple-signing-pubkey.asc'), 'utf8'))), 201);
  // The tenant's own Secret of that name: not the key its policy names.
  expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, keySecret(TENANT, 'not a keyring')), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TENANT}/imagepolicies`, simplePolicy(TENANT)), 201);

  const kubeconfig = await writeKubeconfigAsTrustgate(await trust.makeDir('kube'), api(), api().adminToken);
  cluster.serving(await startTrustgateServe({ stateDir: await trust.makeDir('state'), caFile: trust.caFile, extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig] }));
}

// An ImagePolicy in `namespace` requiring simple signing by each of `keySecrets`, all in KEYS.
function simplePolicy(namespace: string, keySecrets: readonly string[] = ['release-gpg']): KubeObject {
  return imagePolicy(namespace, 'signed-release', [{ name: TEST_GUN_PATTERN, policy: { simple: { requirements: keySecrets.map((keySecret) => ({ type: 'signedBy', keySecret, keySecretNamespace: KEYS })) } } }]);
}

function keySecret(namespace: string, key: string, name = 'release-gpg'): KubeObject {
  return opaqueSecret(namespace, name, { key });
}

describe('serve --policies-from-cluster with a simple-signing keySecretNamespace', () => {
  it('holds the key Secret of the named namespace, not the tenant\'s own of that name', async () => {
    await eventually('the key Secret is held', async () => (await metric('trustgate_policy_secrets_held')) === 1);
    const first = await decision(TENANT, IMAGE);
    expect(first.allowed).toBe(false);
    expect(first.message).not.toContain('[POLICY_SECRET_MISSING]');
    expect(first.message).not.toContain('[POLICY_SECRET_OVER_LIMIT]');
    expect(await metric('trustgate_policy_secret_watches')).toBe(1);
    expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);
  });

  it('denies with POLICY_SECRET_MISSING once that key Secret is deleted, whatever the tenant holds', async () => {
    expectStatus(await api().request('DELETE', `/api/v1/namespaces/${KEYS}/secrets/release-gpg`), 200);
    await eventually('the policy denies for its missing key', async () => (await decision(TENANT, IMAGE)).message.includes('[POLICY_SECRET_MISSING]'));
    expect((await decision(TENANT, IMAGE)).allowed).toBe(false);
    expect(await metric('trustgate_policy_secrets_held')).toBe(0);
  });

  it('keeps the room of the key namespace its own: Secrets other namespaces name there are charged to them', async () => {
    const keyring = readFileSync(join(FIXTURES, 'simple-signing-pubkey.asc'), 'utf8');
    // As many of KEYS's Secrets as its per-namespace bound, named by two other namespaces.
    const names = Array.from({ length: 32 }, (_, index) => `team-key-${index}`);
    for (const name of names) expectStatus(await api().request('POST', `/api/v1/namespaces/${KEYS}/secrets`, keySecret(KEYS, keyring, name)), 201);
    for (const [index, namespace] of OTHERS.entries()) {
      expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${namespace}/imagepolicies`, simplePolicy(namespace, names.slice(index * 16, index * 16 + 16))), 201);
    }
    await eventually('the Secrets the other namespaces name are held', async () => (await metric('trustgate_policy_secrets_held')) === 32);
    // The tenant's key comes back: it still has room, charged to the tenant.
    expectStatus(await api().request('POST', `/api/v1/namespaces/${KEYS}/secrets`, keySecret(KEYS, keyring)), 201);
    await eventually('the tenant\'s key Secret is held', async () => (await metric('trustgate_policy_secrets_held')) === 33);
    const answer = await decision(TENANT, IMAGE);
    expect(answer.allowed).toBe(false);
    expect(answer.message).not.toContain('[POLICY_SECRET_OVER_LIMIT]');
    expect(answer.message).not.toContain('[POLICY_SECRET_MISSING]');
    expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);
  });
});
