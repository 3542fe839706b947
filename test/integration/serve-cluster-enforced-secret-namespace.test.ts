// An enforced ClusterImagePolicy under `trustgate serve --policies-from-cluster`, against a
// real kube-apiserver (and etcd) with the shipped CRDs and RBAC, and images signed with the
// real notary client: its signer Secret is read from the namespace it names, never from the
// workload's, where a tenant put its own key under the same Secret name. One that names no
// namespace is invalid and denies.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, installTrustgate, POLICY_API, writeKubeconfigAsTrustgate } from './support/kube-cluster-setup.js';
import type { KubeObject } from './support/kube-apiserver.js';
import { imagePolicy, servedCluster, signerSecret } from './support/kube-suite.js';
import { uniqueGun } from './support/scenarios.js';
import { TEST_GUN_PATTERN } from './support/trust-policies.js';
import { startTrustgateServe } from './support/trustgate-serve.js';

const SUFFIX = randomBytes(3).toString('hex');
const TENANT = `tenant-${SUFFIX}`;
const KEYS = `trustgate-keys-${SUFFIX}`;

const cluster = servedCluster();
const { api, eventually, metric, decision } = cluster;
let operatorImage: string;
let tenantImage: string;

beforeAll(setUp, 120_000);
afterAll(cluster.stop);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  await installTrustgate(api(), ['trustgate-system', TENANT, KEYS]);
  // Two repositories signed by a `targets/alice` delegation, each with its own key.
  const operatorGun = uniqueGun('enforced-operator');
  const tenantGun = uniqueGun('enforced-tenant');
  const operator = await trust.scenarios.signedByDelegationOnly(operatorGun, 'v1', 'targets/alice');
  const tenant = await trust.scenarios.signedByDelegationOnly(tenantGun, 'v1', 'targets/alice');
  operatorImage = `${operatorGun}:v1`;
  tenantImage = `${tenantGun}:v1`;
  expectStatus(await api().request('POST', `/api/v1/namespaces/${KEYS}/secrets`, signerSecret(KEYS, 'release-signer', operator.signer.key.publicKeyPem)), 201);
  // The tenant's own Secret of that name, with its own key, and a policy allowing anything.
  expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, 'release-signer', tenant.signer.key.publicKeyPem)), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TENANT}/imagepolicies`, imagePolicy(TENANT, 'anything', [{ name: '*', policy: {} }])), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, baseline('baseline', trust.server.url, { name: 'release-signer', namespace: KEYS })), 201);

  const kubeconfig = await writeKubeconfigAsTrustgate(await trust.makeDir('kube'), api(), api().adminToken);
  cluster.serving(await startTrustgateServe({ stateDir: await trust.makeDir('state'), caFile: trust.caFile, extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig] }));
}

// An enforced ClusterImagePolicy requiring every test image to be signed by `signer`.
function baseline(name: string, trustServer: string, signer: { readonly name: string; readonly namespace?: string }): KubeObject {
  return {
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name, annotations: { 'trustgate.dev/enforce': 'true' } },
    spec: { repositories: [{ name: TEST_GUN_PATTERN, policy: { trust: { enabled: true, trustServer, signerSecrets: [signer] } } }] },
  };
}

describe('serve --policies-from-cluster with an enforced ClusterImagePolicy naming its signer Secret\'s namespace', () => {
  it('admits in the tenant namespace the image the signer of the named namespace signed', async () => {
    await eventually('the baseline admits the operator-signed image', async () => (await decision(TENANT, operatorImage)).allowed);
  });

  it('denies the image the tenant signed, though the tenant Secret of that name holds the tenant key', async () => {
    const answer = await decision(TENANT, tenantImage);
    expect(answer.allowed).toBe(false);
    expect(answer.message).not.toContain('[POLICY_SECRET_MISSING]');
    // Only the named namespace's Secret is held: the tenant's is never read.
    expect(await metric('trustgate_policy_secrets_held')).toBe(1);
  });

  it('denies every image, POLICY_INVALID at the field, once an enforced ClusterImagePolicy names no namespace', async () => {
    expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, baseline('unpinned', cluster.trust().server.url, { name: 'release-signer' })), 201);
    await eventually('the unpinned baseline denies', async () => (await decision(TENANT, operatorImage)).message.includes('[POLICY_INVALID]'));
    const answer = await decision(TENANT, tenantImage);
    expect(answer.allowed).toBe(false);
    expect(answer.message).toContain('trust.signerSecrets[0].namespace');
  });
});
