// Who is charged for a Secret under `trustgate serve --policies-from-cluster`, against a real
// kube-apiserver (and etcd) with the shipped CRDs and RBAC, and images signed with the real
// notary client. A Secret of one namespace named by another namespace's ImagePolicy takes the
// naming namespace's room; named by a ClusterImagePolicy too, it takes its own namespace's.
// The charge follows the policies in force as they change: a tenant whose room is full that
// names an operator's Secret first cannot keep it left out once the operator's enforced
// baseline names it (which would deny everywhere), and cannot hold it for free once the
// baseline stops naming it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, installTrustgate, POLICY_API, writeKubeconfigAsTrustgate } from './support/kube-cluster-setup.js';
import type { KubeObject } from './support/kube-apiserver.js';
import { imagePolicy, servedCluster, signerSecret, updateObject } from './support/kube-suite.js';
import { uniqueGun } from './support/scenarios.js';
import { TEST_GUN_PATTERN } from './support/trust-policies.js';
import { startTrustgateServe } from './support/trustgate-serve.js';

const SUFFIX = randomBytes(3).toString('hex');
const TENANT = `tenant-${SUFFIX}`;
const OTHER = `other-${SUFFIX}`;
const KEYS = `trustgate-keys-${SUFFIX}`;
// The default bound on the bytes held per namespace.
const PER_NAMESPACE_BYTES = 2 * 1024 * 1024;
// The tenant's own Secrets its policy names, which fill its room.
const BIG = ['big-1', 'big-2', 'big-3'];
// An image only the tenant's policy governs, whose signers include the operator's Secret.
const TENANT_IMAGE = 'registry.example.com/tenant-only/app:v1';
const TENANT_POLICY = `${POLICY_API}/namespaces/${TENANT}/imagepolicies/anything`;

const cluster = servedCluster();
const { api, eventually, metric, decision } = cluster;
let operatorImage: string;
let unsignedImage: string;

beforeAll(setUp, 180_000);
afterAll(cluster.stop);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  await installTrustgate(api(), ['trustgate-system', TENANT, OTHER, KEYS]);
  const operatorGun = uniqueGun('charge-operator');
  const operator = await trust.scenarios.signedByDelegationOnly(operatorGun, 'v1', 'targets/alice');
  operatorImage = `${operatorGun}:v1`;
  unsignedImage = `${uniqueGun('charge-unsigned')}:v1`;
  const pem = operator.signer.key.publicKeyPem;
  expectStatus(await api().request('POST', `/api/v1/namespaces/${KEYS}/secrets`, signerSecret(KEYS, 'release-signer', pem)), 201);
  // The tenant fills its room (bytes per namespace) with three Secrets its policy names, sized
  // from a probe of what the API server adds to a Secret (base64 turns 3 bytes into 4).
  const probe = expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, 'probe', pem, 3)), 201).body;
  const base = Buffer.byteLength(JSON.stringify(probe));
  const padding = 3 + 3 * Math.floor((Math.floor((PER_NAMESPACE_BYTES - 300) / BIG.length) - base) / 4);
  for (const name of BIG) expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, name, pem, padding)), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TENANT}/imagepolicies`, tenantPolicy(false)), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${OTHER}/imagepolicies`, imagePolicy(OTHER, 'anything', [{ name: '*', policy: {} }])), 201);
  const kubeconfig = await writeKubeconfigAsTrustgate(await trust.makeDir('kube'), api(), api().adminToken);
  cluster.serving(await startTrustgateServe({ stateDir: await trust.makeDir('state'), caFile: trust.caFile, extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig] }));
  await eventually('the tenant Secrets are held', async () => (await metric('trustgate_policy_secrets_held')) === BIG.length);
}

// The tenant's policy: anything goes, but TENANT_IMAGE's repository names its big Secrets as
// signers and, with `namingOperatorSecret`, the operator's Secret in KEYS as a simple-signing
// key (Portieris' keySecretNamespace, the one field an ImagePolicy may point at another
// namespace).
function tenantPolicy(namingOperatorSecret: boolean): KubeObject {
  const signers: KubeObject[] = BIG.map((name) => ({ name }));
  const simple = { requirements: [{ type: 'signedBy', keySecret: 'release-signer', keySecretNamespace: KEYS }] };
  return imagePolicy(TENANT, 'anything', [
    { name: '*', policy: {} },
    { name: 'registry.example.com/tenant-only/*', policy: { trust: { enabled: true, trustServer: 'https://notary.example.com', signerSecrets: signers }, ...(namingOperatorSecret ? { simple } : {}) } },
  ]);
}

async function setTenantPolicy(namingOperatorSecret: boolean): Promise<void> {
  const before = await metric('trustgate_policy_reloads_total', { outcome: 'reloaded' });
  await updateObject(api(), TENANT_POLICY, (stored) => ({ ...tenantPolicy(namingOperatorSecret), metadata: stored['metadata'] }));
  await eventually('the tenant policy change is in force', async () => (await metric('trustgate_policy_reloads_total', { outcome: 'reloaded' })) > before);
}

// The operator's enforced baseline: every test image signed by the key in KEYS.
function baseline(): KubeObject {
  return {
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'baseline', annotations: { 'trustgate.dev/enforce': 'true' } },
    spec: { repositories: [{ name: TEST_GUN_PATTERN, policy: { trust: { enabled: true, trustServer: cluster.trust().server.url, signerSecrets: [{ name: 'release-signer', namespace: KEYS }] } } }] },
  };
}

// The baseline decides in every namespace: it admits the image the operator signed and
// denies one nobody signed (which the namespaces' own policies would admit).
async function expectBaselineInForce(): Promise<void> {
  for (const namespace of [OTHER, TENANT]) {
    const signed = await decision(namespace, operatorImage);
    expect(signed.message).not.toContain('[POLICY_SECRET_OVER_LIMIT]');
    expect(signed.allowed).toBe(true);
    expect((await decision(namespace, unsignedImage)).allowed).toBe(false);
  }
}

// What serve holds and leaves out of the Secrets the policies name.
async function held(): Promise<{ held: number; leftOut: number }> {
  return { held: await metric('trustgate_policy_secrets_held'), leftOut: await metric('trustgate_policy_secrets_left_out') };
}

describe('serve --policies-from-cluster charging a Secret as the policies in force name it', () => {
  it('leaves an operator Secret out of a full tenant room when the tenant alone names it', async () => {
    await setTenantPolicy(true);
    await eventually('the operator Secret is left out', async () => (await held()).leftOut === 1);
    expect(await held()).toEqual({ held: BIG.length, leftOut: 1 });
    const answer = await decision(TENANT, TENANT_IMAGE);
    expect(answer.allowed).toBe(false);
    expect(answer.message).toContain('[POLICY_SECRET_OVER_LIMIT]');
  });

  it('holds it in its own namespace\'s room once the enforced baseline names it too, so the baseline admits everywhere', async () => {
    expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, baseline()), 201);
    await eventually('the operator Secret is held', async () => (await held()).held === BIG.length + 1);
    expect(await held()).toEqual({ held: BIG.length + 1, leftOut: 0 });
    await expectBaselineInForce();
  });

  it('keeps it held for the baseline once the tenant stops naming it', async () => {
    await setTenantPolicy(false);
    expect(await held()).toEqual({ held: BIG.length + 1, leftOut: 0 });
    await expectBaselineInForce();
  });

  it('charges the tenant again once the baseline no longer names it: left out of its full room', async () => {
    await setTenantPolicy(true);
    expect(await held()).toEqual({ held: BIG.length + 1, leftOut: 0 });
    expectStatus(await api().request('DELETE', `${POLICY_API}/clusterimagepolicies/baseline`), 200);
    await eventually('the operator Secret is left out of the tenant room', async () => (await held()).leftOut === 1);
    expect(await held()).toEqual({ held: BIG.length, leftOut: 1 });
    expect((await decision(TENANT, TENANT_IMAGE)).message).toContain('[POLICY_SECRET_OVER_LIMIT]');
  });

  it('reads it again when the baseline names it anew', async () => {
    expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, baseline()), 201);
    await eventually('the operator Secret is held', async () => (await held()).held === BIG.length + 1);
    expect(await held()).toEqual({ held: BIG.length + 1, leftOut: 0 });
    await expectBaselineInForce();
  });
});
