// `trustgate serve --pull-secrets-from-cluster` against a real kube-apiserver: the webhook
// reads a Pod's imagePullSecrets (and its service account's) from the API as the
// `trustgate` ServiceAccount, with only the RBAC shipped in
// infra/kubernetes/pull-secrets-rbac.yaml, and uses them for a private registry (the real
// docker-registry in token mode) where that pull secret holds the only working credential.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startKubeApiServer, type KubeAnswer, type KubeApiServer, type KubeObject } from './support/kube-apiserver.js';
import { privateRegistryPolicy, startPrivateRegistry, type PrivateRegistry } from './support/private-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const NAMESPACE = `pull-secrets-${randomBytes(4).toString('hex')}`;
const NAMESPACE_LABEL = 'trustgate.test/enforce';
const WEBHOOK_EFFECTIVE_TIMEOUT_MS = 15_000;
const RBAC_FILE = new URL('../../infra/kubernetes/pull-secrets-rbac.yaml', import.meta.url);

let kube: KubeApiServer | undefined;
let registry: PrivateRegistry | undefined;
let serve: ServeProcess | undefined;
let scratch: string | undefined;

beforeAll(async () => {
  const started = await Promise.allSettled([startKubeApiServer().then((value) => (kube = value)), startPrivateRegistry().then((value) => (registry = value))]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  const api = kubeApi();
  const images = privateRegistry();
  scratch = await makeTempDir('kube-pull-secrets');
  const policiesDir = join(scratch, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'policies.yaml'), `${privateRegistryPolicy(images, [NAMESPACE]).join('\n---\n')}\n`);

  expectStatus(await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'trustgate-system' } }), 201);
  for (const document of parseAllDocuments(await readFile(RBAC_FILE, 'utf8'))) {
    const object = document.toJS() as KubeObject;
    const path = object['kind'] === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
    expectStatus(await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/${path}`, object), 201);
  }
  expectStatus(await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { [NAMESPACE_LABEL]: 'true' } } }), 201);
  for (const [name, password] of [['regcred', images.password], ['wrongcred', images.wrongPassword]] as const) {
    expectStatus(
      await api.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: NAMESPACE },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from(images.dockerConfigJson(password)).toString('base64') },
      }),
      201,
    );
  }
  expectStatus(
    await api.request('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: NAMESPACE }, imagePullSecrets: [{ name: 'regcred' }] }),
    201,
  );

  serve = await startTrustgateServe({
    policiesDir,
    stateDir: await makeTempDir('kube-pull-secrets-state'),
    caFile: images.ca.caFile,
    extraArgs: ['--pull-secrets-from-cluster', '--kubeconfig', api.webhookKubeconfig],
  });
  expectStatus(await api.request('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', webhookConfiguration(serve)), 201);
  await waitUntilWebhookIsEffective();
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await kube?.stop();
  await registry?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

describe('trustgate serve reading pull secrets from the cluster', () => {
  it('admits a Pod whose imagePullSecrets hold the only working credential, pinned to the signed digest', async () => {
    const answer = await kubeApi().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods`, pod('with-secret', { imagePullSecrets: [{ name: 'regcred' }] }));
    expect(answer.status, answer.text).toBe(201);
    const containers = (answer.body['spec'] as KubeObject)['containers'] as KubeObject[];
    expect(containers[0]?.['image']).toBe(`${privateRegistry().registry.host}/private/app@${privateRegistry().signed.digest}`);
  });

  it('admits a Pod running as a service account whose imagePullSecrets hold it', async () => {
    const answer = await kubeApi().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, pod('as-builder', { serviceAccountName: 'builder' }));
    expect(answer.status, answer.text).toBe(201);
  });

  it('denies the Pod without the pull secret, and the one with a wrong password as REGISTRY_CREDENTIALS_REJECTED, with no secret value anywhere', async () => {
    const without = await kubeApi().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, pod('without-secret'));
    expect(without.status).not.toBe(201);
    const wrong = await kubeApi().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, pod('wrong-secret', { imagePullSecrets: [{ name: 'wrongcred' }] }));
    expect(wrong.status).not.toBe(201);
    expect(wrong.text).toContain('REGISTRY_CREDENTIALS_REJECTED');
    for (const spelling of privateRegistry().secretSpellings) {
      expect(wrong.text).not.toContain(spelling);
      expect((serve as ServeProcess).output()).not.toContain(spelling);
    }
  });
});

function kubeApi(): KubeApiServer {
  if (kube === undefined) throw new Error('the API server did not start');
  return kube;
}

function privateRegistry(): PrivateRegistry {
  if (registry === undefined) throw new Error('the registry did not start');
  return registry;
}

function pod(name: string, spec: KubeObject = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NAMESPACE }, spec: { containers: [{ name: 'app', image: privateRegistry().image }], ...spec } };
}

function webhookConfiguration(webhook: ServeProcess): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: `trustgate-${NAMESPACE}` },
    webhooks: [
      {
        name: 'images.trustgate.test',
        clientConfig: { url: `${webhook.url}/admit`, caBundle: Buffer.from(webhook.caPem).toString('base64') },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: 'true' } },
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
      },
    ],
  };
}

// The API server loads webhook configurations asynchronously: a dry-run pod without the
// pull secret is admitted until the webhook is in effect, then denied by it.
async function waitUntilWebhookIsEffective(): Promise<void> {
  const deadline = Date.now() + WEBHOOK_EFFECTIVE_TIMEOUT_MS;
  let last: KubeAnswer | undefined;
  while (Date.now() < deadline) {
    last = await kubeApi().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, pod('probe'));
    if (last.status !== 201) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`webhook not in effect after ${WEBHOOK_EFFECTIVE_TIMEOUT_MS} ms; last answer ${last?.status}: ${last?.text}\n${serve?.output()}`);
}

function expectStatus(answer: KubeAnswer, status: number): void {
  if (answer.status !== status) throw new Error(`expected ${status}, got ${answer.status}: ${answer.text}`);
}
