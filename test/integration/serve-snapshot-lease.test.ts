// One writer per cluster id: two `trustgate serve --policies-from-cluster --publish-cluster-id`
// processes against a real kube-apiserver (RBAC of infra/kubernetes/rbac.yaml, serve acting as
// trustgate's service account) share one state store. Only the holder of the cluster id's
// Lease publishes; when it stops it releases the Lease, and the other takes it over and publishes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestCertificates } from '../support/tls-certs.js';
import { installTrustgate, POLICY_API, writeKubeconfigAsTrustgate } from './support/kube-cluster-setup.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-apiserver.js';
import { clusterImagePolicy, eventuallyShowing, started } from './support/kube-suite.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const CLUSTER_ID = 'lease-test';
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/trustgate-system/leases/trustgate-policy-snapshot-${CLUSTER_ID}`;
const STATE_KEY = 'cd'.repeat(32);

let kube: KubeApiServer | undefined;
let dir: string;
let kubeconfig: string;
let caFile: string;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  kube = await startKubeApiServer();
  dir = await makeTempDir('lease');
  await installTrustgate(api(), ['trustgate-system']);
  await createPolicy('first');
  kubeconfig = await writeKubeconfigAsTrustgate(dir, api(), api().adminToken);
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, (await getTestCertificates()).caPem);
}, 120_000);

afterAll(async () => {
  for (const serve of serves) await serve.stop();
  await kube?.stop();
  if (dir !== undefined) await removeDir(dir);
});

describe('serve --policies-from-cluster --publish-cluster-id', () => {
  it('publishes from the Lease holder only, and the other replica takes over once the holder released it', async () => {
    const a = await startReplica('replica-a');
    await eventually('replica-a holds the Lease and publishes', async () => a.output().includes('policy snapshot published') && (await holder())?.startsWith('replica-a_') === true);
    const b = await startReplica('replica-b');
    await eventually('replica-b sees replica-a holding the Lease', () => Promise.resolve(/policy snapshot lease held by another replica.*replica-a_/.test(b.output())));

    // A change both replicas enforce is published by the holder alone.
    await createPolicy('second');
    await eventually('replica-a publishes the change', () => Promise.resolve(count(a.output(), 'policy snapshot published') >= 2));

    await a.stop();
    // replica-a gave the Lease up before it exited: no longer its holder, without waiting out
    // the Lease's 15 seconds.
    expect(await holder()).not.toMatch(/^replica-a_/);
    expect(a.output()).toContain('policy snapshot lease released');
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
  const policy = clusterImagePolicy(name, [{ name: `reg.example.com/${name}/*`, policy: {} }]);
  expect((await api().request('POST', `${POLICY_API}/clusterimagepolicies`, policy)).status).toBe(201);
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

const api = (): KubeApiServer => started(kube, 'kube-apiserver');
// Only keeps a broken build from hanging: the Lease expires 15 s after its holder stopped.
const eventually = eventuallyShowing(() => serves.map((serve) => serve.output()).join('\n---\n'), { withinMs: 40_000, everyMs: 200 });
