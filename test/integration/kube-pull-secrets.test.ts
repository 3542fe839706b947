// `trustgate serve --pull-secrets-from-cluster` against a real kube-apiserver: the webhook
// reads a Pod's imagePullSecrets (and its service account's) from the API as the
// `trustgate` ServiceAccount, with only the RBAC shipped in
// infra/kubernetes/pull-secrets-rbac.yaml, and uses them for a private registry (the real
// docker-registry in token mode) where that pull secret holds the only working credential.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from './support/kube-apiserver.js';
import { expectStatus, installTrustgate } from './support/kube-cluster-setup.js';
import { NAMESPACE_LABEL, podObject, pullSecret, registerWebhook, startTogether, started, waitUntilWebhookIsEffective, WEBHOOK_NAME } from './support/kube-suite.js';
import { privateRegistryPolicy, startPrivateRegistry, type PrivateRegistry } from './support/private-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const NAMESPACE = `pull-secrets-${randomBytes(4).toString('hex')}`;

let kube: KubeApiServer | undefined;
let registry: PrivateRegistry | undefined;
let serve: ServeProcess | undefined;
let scratch: string | undefined;

beforeAll(async () => {
  await startTogether(startKubeApiServer().then((value) => (kube = value)), startPrivateRegistry().then((value) => (registry = value)));
  const api = kubeApi();
  const images = privateRegistry();
  scratch = await makeTempDir('kube-pull-secrets');
  const policiesDir = join(scratch, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'policies.yaml'), `${privateRegistryPolicy(images, [NAMESPACE]).join('\n---\n')}\n`);

  // Only the RBAC shipped for pull secrets: what it grants is what serve may read.
  await installTrustgate(api, ['trustgate-system', { name: NAMESPACE, labels: { [NAMESPACE_LABEL]: 'true' } }], { crds: false, rbac: ['pull-secrets-rbac.yaml'] });
  for (const [name, password] of [['regcred', images.password], ['wrongcred', images.wrongPassword]] as const) {
    expectStatus(await api.request('POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, pullSecret(NAMESPACE, name, images.dockerConfigJson(password))), 201);
  }
  expectStatus(
    await api.request('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: NAMESPACE }, imagePullSecrets: [{ name: 'regcred' }] }),
    201,
  );

  serve = await startTrustgateServe({
    policiesDir,
    stateDir: await makeTempDir('kube-pull-secrets-state'),
    caFile: images.ca.caFile,
    env: images.realmHostsEnv,
    extraArgs: ['--pull-secrets-from-cluster', '--kubeconfig', api.webhookKubeconfig],
  });
  await registerWebhook(api, { name: `trustgate-${NAMESPACE}`, webhook: WEBHOOK_NAME, url: `${serve.url}/admit`, caPem: serve.caPem });
  // A Pod without the pull secret is admitted until the webhook is in effect, then denied by it.
  await waitUntilWebhookIsEffective(api, NAMESPACE, pod('probe'), (answer) => answer.status !== 201, () => serve?.output() ?? '');
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

const kubeApi = (): KubeApiServer => started(kube, 'the API server');
const privateRegistry = (): PrivateRegistry => started(registry, 'the registry');

function pod(name: string, spec: KubeObject = {}): KubeObject {
  return podObject(NAMESPACE, name, privateRegistry().image, spec);
}
