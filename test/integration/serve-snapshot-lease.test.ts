// One writer per cluster id: two `trustgate serve --policies-from-cluster --publish-cluster-id`
// processes against a real kube-apiserver (RBAC of infra/kubernetes/rbac.yaml, serve acting as
// trustgate's service account) share one state store. Only the holder of the cluster id's
// Lease publishes; when it stops, the other takes the Lease over once it expired and publishes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { getTestCertificates } from '../support/tls-certs.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from './support/kube-apiserver.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const INFRA = fileURLToPath(new URL('../../infra/', import.meta.url));
const POLICY_API = '/apis/portieris.cloud.ibm.com/v1';
const CLUSTER_ID = 'lease-test';
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/trustgate-system/leases/trustgate-policy-snapshot-${CLUSTER_ID}`;
const STATE_KEY = 'cd'.repeat(32);
// Only keeps a broken build from hanging: the Lease expires 15 s after its holder stopped.
const EVENTUALLY_MS = 40_000;

let kube: KubeApiServer | undefined;
let dir: string;
let kubeconfig: string;
let caFile: string;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  kube = await startKubeApiServer();
  dir = await makeTempDir('lease');
  for (const file of readdirSync(join(INFRA, 'crds')).filter((name) => name.endsWith('.yaml'))) {
    for (const crd of yamlObjects(readFileSync(join(INFRA, 'crds', file), 'utf8'))) expect((await api().request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status).toBe(201);
  }
  await eventually('the CRDs are served', async () => (await api().request('GET', `${POLICY_API}/clusterimagepolicies`).catch(() => undefined))?.status === 200 && (await api().request('GET', `${POLICY_API}/imagepolicies`).catch(() => undefined))?.status === 200);
  expect((await api().request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'trustgate-system' } })).status).toBe(201);
  for (const object of yamlObjects(readFileSync(join(INFRA, 'kubernetes', 'rbac.yaml'), 'utf8'))) expect((await api().request('POST', rbacPath(object), object)).status).toBe(201);
  await createPolicy('first');
  kubeconfig = join(dir, 'kubeconfig.json');
  await writeFile(kubeconfig, kubeconfigFor(api()), { mode: 0o600 });
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, (await getTestCertificates()).caPem);
}, 120_000);

afterAll(async () => {
  for (const serve of serves) await serve.stop();
  await kube?.stop();
  if (dir !== undefined) await removeDir(dir);
});

describe('serve --policies-from-cluster --publish-cluster-id', () => {
  it('publishes from the Lease holder only, and the other replica takes over once the Lease expired', async () => {
    const a = await startReplica('replica-a');
    await eventually('replica-a holds the Lease and publishes', async () => a.output().includes('policy snapshot published') && (await holder())?.startsWith('replica-a_') === true);
    const b = await startReplica('replica-b');
    await eventually('replica-b sees replica-a holding the Lease', () => Promise.resolve(/policy snapshot lease held by another replica.*replica-a_/.test(b.output())));

    // A change both replicas enforce is published by the holder alone.
    await createPolicy('second');
    await eventually('replica-a publishes the change', () => Promise.resolve(count(a.output(), 'policy snapshot published') >= 2));

    await a.stop();
    // Until then replica-b, enforcing the same policies, did not even try to publish.
    const metrics = await httpsRequest(`${b.url}/metrics`, b.caPem);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('# TYPE trustgate_policy_snapshot_publishes_total counter');
    expect(metrics.text).not.toMatch(/^trustgate_policy_snapshot_publishes_total\{/m);
    await eventually('replica-b takes the Lease over', async () => (await holder())?.startsWith('replica-b_') === true && b.output().includes('policy snapshot lease acquired'));
    const lease = (await api().request('GET', LEASE_PATH)).body as unknown as { spec: { leaseTransitions: number; leaseDurationSeconds: number } };
    expect(lease.spec).toMatchObject({ leaseTransitions: 1, leaseDurationSeconds: 15 });

    await createPolicy('third');
    await eventually('replica-b publishes the next change', () => Promise.resolve(b.output().includes('policy snapshot published')));
    // Before it held the Lease, replica-b published nothing, though it enforced the change
    // replica-a published.
    const output = b.output();
    expect(output.indexOf('policy snapshot published')).toBeGreaterThan(output.indexOf('policy snapshot lease acquired'));
    expect(count(output, 'policy snapshot published')).toBe(1);
  }, 90_000);
});

async function startReplica(podName: string): Promise<ServeProcess> {
  const serve = await startTrustgateServe({
    stateDir: join(dir, 'state'),
    caFile,
    env: { TRUSTGATE_STATE_KEY: STATE_KEY, POD_NAME: podName, POD_NAMESPACE: 'trustgate-system' },
    extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig, '--publish-cluster-id', CLUSTER_ID],
  });
  serves.push(serve);
  return serve;
}

async function holder(): Promise<string | undefined> {
  const answer = await api().request('GET', LEASE_PATH);
  return answer.status === 200 ? (answer.body as unknown as { spec?: { holderIdentity?: string } }).spec?.holderIdentity : undefined;
}

async function createPolicy(name: string): Promise<void> {
  const policy = { apiVersion: 'portieris.cloud.ibm.com/v1', kind: 'ClusterImagePolicy', metadata: { name }, spec: { repositories: [{ name: `reg.example.com/${name}/*`, policy: {} }] } };
  expect((await api().request('POST', `${POLICY_API}/clusterimagepolicies`, policy)).status).toBe(201);
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

function api(): KubeApiServer {
  if (kube === undefined) throw new Error('kube-apiserver did not start');
  return kube;
}

function yamlObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).map((doc) => doc.toJS() as KubeObject);
}

function rbacPath(object: KubeObject): string {
  const namespace = (object['metadata'] as { namespace?: string }).namespace;
  const plural = `${String(object['kind']).toLowerCase()}s`;
  return `/apis/rbac.authorization.k8s.io/v1/${namespace === undefined ? '' : `namespaces/${namespace}/`}${plural}`;
}

// The API server's address and CA; the admin token impersonating trustgate's service account.
function kubeconfigFor(server: KubeApiServer): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(server.caPem).toString('base64') } }],
    users: [{ name: 'trustgate', user: { token: server.adminToken, as: 'system:serviceaccount:trustgate-system:trustgate' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'trustgate' } }],
    'current-context': 'test',
  });
}

async function eventually(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + EVENTUALLY_MS;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting until ${what}:\n${serves.map((serve) => serve.output()).join('\n---\n')}`);
}
