// `trustgate serve` as a real cluster calls it: a real kube-apiserver (with its own etcd)
// holds a MutatingWebhookConfiguration pointing at serve's /admit and a
// ValidatingWebhookConfiguration pointing at its /validate, and every assertion is made
// through the API server's REST API: what it refuses, and what it stores after
// applying serve's JSON patch. Images are signed with the real notary client on the real
// notary-server.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { getTestCertificates } from '../support/tls-certs.js';
import type { KubeAnswer, KubeObject } from './support/kube-apiserver.js';
import { createNamespaces, expectStatus } from './support/kube-cluster-setup.js';
import { deniedBy, NAMESPACE_LABEL, podObject, registerWebhook, servedCluster, waitUntilWebhookIsEffective, WEBHOOK_NAME, type WebhookRegistration } from './support/kube-suite.js';
import { uniqueGun, type TargetDigest } from './support/scenarios.js';
import { signedTestRegistryPolicy, trustedTestGuns } from './support/trust-policies.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const VALIDATING_WEBHOOK_NAME = 'validate.trustgate.test';
// Pods labelled so also pass a mutating webhook that runs after trustgate's (configurations
// are called in name order) and swaps the first container's image for the one named in the
// annotation: what a compromised or careless later webhook could do.
const SWAP_LABEL = 'trustgate.test/swap';
const SWAP_ANNOTATION = 'trustgate.test/swap-to';
const NAMESPACE = `trustgate-it-${randomBytes(4).toString('hex')}`;
// Namespaces whose ImagePolicy requires trust for the test images in warn and in audit mode.
const WARN_NAMESPACE = `${NAMESPACE}-warn`;
const AUDIT_NAMESPACE = `${NAMESPACE}-audit`;
// A namespace whose ImagePolicy first admits the test images unchecked, then (once a pod
// runs there) requires trust: a workload whose image stopped verifying after admission.
const LEGACY_NAMESPACE = `${NAMESPACE}-legacy`;
let policiesDir = '';

const cluster = servedCluster();
const { api } = cluster;
let swapper: LocalServer | undefined;
let app: { gun: string; target: TargetDigest };

// The API server and the trust environment start in parallel; both are kept for afterAll
// even when the other fails. A set-up failure fails the file (and counts in the closing line).
beforeAll(setUp, 120_000);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  const gun = uniqueGun('kube-app');
  app = { gun, target: await trust.scenarios.signedInTargets(gun, 'v1') };

  policiesDir = await trust.makeDir('policies');
  await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(trust.server.url));
  await writeFile(join(policiesDir, 'rollout.yaml'), `${rolloutPolicy(WARN_NAMESPACE, 'warn', trust.server.url)}---\n${rolloutPolicy(AUDIT_NAMESPACE, 'audit', trust.server.url)}`);
  await writeFile(join(policiesDir, 'legacy.yaml'), legacyPolicy('    - name: "registry.test:5000/it/*"\n      policy: {}\n'));
  const serve = cluster.serving(await startTrustgateServe({ policiesDir, stateDir: await trust.makeDir('state'), caFile: trust.caFile }));

  await createNamespaces(api(), [NAMESPACE, WARN_NAMESPACE, AUDIT_NAMESPACE, LEGACY_NAMESPACE].map((name) => ({ name, labels: { [NAMESPACE_LABEL]: 'true' } })));
  await registerWebhook(api(), serveWebhook(serve, 'mutating'));
  const certificates = await getTestCertificates();
  swapper = await startLocalServer(swapImage, certificates);
  await registerWebhook(api(), {
    // Sorts after trustgate's configuration, so it is called after trustgate's patch.
    name: `zz-swapper-${NAMESPACE}`,
    webhook: 'swap.later-webhook.test',
    url: `${swapper.url}/swap`,
    caPem: certificates.caPem,
    objectSelector: { matchLabels: { [SWAP_LABEL]: 'true' } },
  });
  await registerWebhook(api(), serveWebhook(serve, 'validating'));
  // An unsigned pod is admitted until the mutating webhook is in effect, then denied by it.
  await waitUntilWebhookIsEffective(api(), NAMESPACE, pod('probe', imageOf('unsigned')), (answer) => deniedBy(answer, WEBHOOK_NAME), cluster.log);
  // As for the mutating webhook: a pod swapped to an unsigned image is admitted until the
  // validating webhook is in effect, then denied by it.
  await waitUntilWebhookIsEffective(api(), NAMESPACE, swappedPod('probe', imageOf('unsigned')), (answer) => deniedBy(answer, VALIDATING_WEBHOOK_NAME), cluster.log);
}

// An ImagePolicy requiring trust for the test images in `namespace`, in `mode`.
function rolloutPolicy(namespace: string, mode: string, trustServer: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata:
  name: rollout
  namespace: ${namespace}
  annotations: {trustgate.dev/mode: ${mode}}
spec:
  repositories:
${trustedTestGuns(trustServer)}`;
}

// The ImagePolicy of LEGACY_NAMESPACE with these `spec.repositories` items.
function legacyPolicy(repositories: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: legacy, namespace: ${LEGACY_NAMESPACE}}
spec:
  repositories:
${repositories}`;
}

// The later mutating webhook: allows everything, replacing the first container's image by
// the annotation's value.
function swapImage(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string; object: { metadata?: { annotations?: Record<string, string> } } } };
    const image = review.request.object.metadata?.annotations?.[SWAP_ANNOTATION];
    const patch = image === undefined ? [] : [{ op: 'replace', path: '/spec/containers/0/image', value: image }];
    const answer = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
    };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
}

// A Pod with the signed tag, which the later webhook swaps for `swapTo` after trustgate pinned it.
function swappedPod(name: string, swapTo: string): KubeObject {
  const object = pod(name, imageOf('v1'));
  return { ...object, metadata: { name, namespace: NAMESPACE, labels: { [SWAP_LABEL]: 'true' }, annotations: { [SWAP_ANNOTATION]: swapTo } } };
}

afterAll(async () => {
  await swapper?.close();
  await cluster.stop();
});


// The signed test repository at `tag` (v1 is signed, anything else is not).
function imageOf(tag: string): string {
  return `${app.gun}:${tag}`;
}

// Registers serve's /admit (or /validate) for pods and deployments in the labelled
// namespaces, trusting the CA serve generated, failing closed.
function serveWebhook(webhook: ServeProcess, type: 'mutating' | 'validating'): WebhookRegistration {
  return {
    name: `trustgate-${NAMESPACE}`,
    webhook: type === 'mutating' ? WEBHOOK_NAME : VALIDATING_WEBHOOK_NAME,
    type,
    url: `${webhook.url}/${type === 'mutating' ? 'admit' : 'validate'}`,
    caPem: webhook.caPem,
    resources: [['', 'v1', 'pods'], ['apps', 'v1', 'deployments']],
  };
}

// Asserts the API server refused the object because trustgate denied `image`.
function expectDenied(answer: KubeAnswer, image: string): void {
  expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.text).toBeLessThan(500);
  expect(answer.body).toMatchObject({ kind: 'Status', status: 'Failure' });
  const message = String(answer.body['message']);
  expect(message).toContain(`admission webhook "${WEBHOOK_NAME}" denied the request: `);
  expect(message).toContain(image);
  expect(message).toContain('[TRUST_NO_SIGNED_TARGET]');
}

function pod(name: string, image: string, namespace = NAMESPACE): KubeObject {
  return podObject(namespace, name, image);
}

// serve's decision log lines (JSON) for pods named `name` in `namespace`, once there is one:
// the log is written in batches, so a line may follow the answer by a moment.
async function decisionLines(namespace: string, name: string): Promise<Record<string, unknown>[]> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const lines = loggedDecisions(namespace, name);
    if (lines.length > 0) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return [];
}

function loggedDecisions(namespace: string, name: string): Record<string, unknown>[] {
  return cluster
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"admission decision"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line['namespace'] === namespace && line['name'] === name);
}

async function wouldDenyCount(mode: string): Promise<number> {
  const serve = cluster.serve();
  const text = (await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text;
  const line = text.split('\n').find((entry) => entry.startsWith(`trustgate_admission_would_deny_total{mode="${mode}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

function deployment(name: string, image: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

interface WithContainers {
  readonly containers: readonly { readonly image: string }[];
}

function podImages(object: KubeObject): string[] {
  return (object['spec'] as WithContainers).containers.map((container) => container.image);
}

function templateImages(object: KubeObject): string[] {
  const spec = object['spec'] as { template: { spec: WithContainers } };
  return spec.template.spec.containers.map((container) => container.image);
}

function pinned(): string {
  return `${app.gun}@sha256:${app.target.digestHex}`;
}
const podsPath = `/api/v1/namespaces/${NAMESPACE}/pods`;
const deploymentsPath = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`;

describe('trustgate serve behind a real kube-apiserver', () => {
  describe('when a Pod uses a signed tag', () => {
    it('is created and stored with the image pinned to the signed digest', async () => {
      const created = expectStatus(await api().request('POST', podsPath, pod('signed', imageOf('v1'))), 201);
      expect(podImages(created.body)).toEqual([pinned()]);
      const stored = expectStatus(await api().request('GET', `${podsPath}/signed`), 200);
      expect(podImages(stored.body)).toEqual([pinned()]);
    });
  });

  describe('when a Pod uses an unsigned tag', () => {
    it('is refused with the webhook denial naming the image, and not stored', async () => {
      const image = imageOf('unsigned');
      expectDenied(await api().request('POST', podsPath, pod('unsigned', image)), image);
      expectStatus(await api().request('GET', `${podsPath}/unsigned`), 404);
    });
  });

  describe('when a Deployment uses a signed tag', () => {
    it('is stored with its pod template image pinned', async () => {
      const created = expectStatus(await api().request('POST', deploymentsPath, deployment('web', imageOf('v1'))), 201);
      expect(templateImages(created.body)).toEqual([pinned()]);
      const stored = expectStatus(await api().request('GET', `${deploymentsPath}/web`), 200);
      expect(templateImages(stored.body)).toEqual([pinned()]);
    });
  });

  describe('when the stored Deployment is updated to an unsigned tag', () => {
    it('is refused and the stored Deployment keeps the pinned image', async () => {
      const stored = expectStatus(await api().request('GET', `${deploymentsPath}/web`), 200).body;
      const image = imageOf('unsigned');
      const spec = stored['spec'] as { template: { spec: { containers: { image: string }[] } } };
      const container = spec.template.spec.containers[0];
      if (container === undefined) throw new Error('stored Deployment has no container');
      container.image = image;
      expectDenied(await api().request('PUT', `${deploymentsPath}/web`, stored), image);
      expect(templateImages(expectStatus(await api().request('GET', `${deploymentsPath}/web`), 200).body)).toEqual([pinned()]);
    });
  });

  describe('when the request is a server-side dry run', () => {
    it('refuses the unsigned Pod the same way', async () => {
      const image = imageOf('unsigned');
      expectDenied(await api().request('POST', `${podsPath}?dryRun=All`, pod('dry-unsigned', image)), image);
    });

    it('answers the signed Pod with the pinned image without storing it', async () => {
      const answer = expectStatus(await api().request('POST', `${podsPath}?dryRun=All`, pod('dry-signed', imageOf('v1'))), 201);
      expect(podImages(answer.body)).toEqual([pinned()]);
      expectStatus(await api().request('GET', `${podsPath}/dry-signed`), 404);
    });
  });

  describe('when a mutating webhook called after trustgate swaps the pinned image', () => {
    it('is refused by the validating webhook when the swap puts the signed tag back (IMAGE_NOT_PINNED)', async () => {
      const answer = await api().request('POST', podsPath, swappedPod('swapped-tag', imageOf('v1')));
      expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
      const message = String(answer.body['message']);
      expect(message).toContain(`admission webhook "${VALIDATING_WEBHOOK_NAME}" denied the request: `);
      expect(message).toContain(`container "app" image ${imageOf('v1')}: [IMAGE_NOT_PINNED]`);
      expectStatus(await api().request('GET', `${podsPath}/swapped-tag`), 404);
    });

    it('is refused by the validating webhook when the swap brings an unsigned image', async () => {
      const image = imageOf('unsigned');
      const answer = await api().request('POST', podsPath, swappedPod('swapped-unsigned', image));
      expect(String(answer.body['message'])).toContain(`admission webhook "${VALIDATING_WEBHOOK_NAME}" denied the request: `);
      expect(String(answer.body['message'])).toContain(`${image}: [TRUST_NO_SIGNED_TARGET]`);
      expectStatus(await api().request('GET', `${podsPath}/swapped-unsigned`), 404);
    });

    it('is stored when the swap keeps the signed digest', async () => {
      const created = expectStatus(await api().request('POST', podsPath, swappedPod('swapped-same', pinned())), 201);
      expect(podImages(created.body)).toEqual([pinned()]);
    });
  });

  describe('when the namespace does not carry the webhook label', () => {
    it('admits an unsigned Pod unchanged, since the webhook is not called there', async () => {
      const image = imageOf('unsigned');
      const answer = expectStatus(await api().request('POST', '/api/v1/namespaces/default/pods?dryRun=All', { ...pod('elsewhere', image), metadata: { name: 'elsewhere' } }), 201);
      expect(podImages(answer.body)).toEqual([image]);
    });
  });

  describe('when a namespace ImagePolicy is in warn mode', () => {
    it('creates an unsigned Pod unchanged, returns the reason as a warning, logs and counts the would-be denial', async () => {
      const image = imageOf('unsigned');
      const before = await wouldDenyCount('warn');
      const created = expectStatus(await api().request('POST', `/api/v1/namespaces/${WARN_NAMESPACE}/pods`, pod('unsigned', image, WARN_NAMESPACE)), 201);
      expect(podImages(created.body)).toEqual([image]);
      // What kubectl prints as `Warning: ...`, once per pass (mutating and validating).
      expect(created.warnings.length).toBeGreaterThan(0);
      for (const warning of created.warnings) {
        expect(warning).toContain('trustgate warn: [TRUST_NO_SIGNED_TARGET]');
        expect(warning).toContain(image);
      }
      const logged = await decisionLines(WARN_NAMESPACE, 'unsigned');
      expect(logged.length).toBeGreaterThan(0);
      expect(logged[0]).toMatchObject({ outcome: 'allowed', images: [{ image, wouldDeny: [{ mode: 'warn', code: 'TRUST_NO_SIGNED_TARGET' }] }] });
      expect(await wouldDenyCount('warn')).toBeGreaterThan(before);
    });

    it('still pins a signed tag to its verified digest, without warnings', async () => {
      const created = expectStatus(await api().request('POST', `/api/v1/namespaces/${WARN_NAMESPACE}/pods`, pod('signed', imageOf('v1'), WARN_NAMESPACE)), 201);
      expect(podImages(created.body)).toEqual([pinned()]);
      expect(created.warnings).toEqual([]);
    });
  });

  describe('when a namespace ImagePolicy is in audit mode', () => {
    it('creates an unsigned Pod silently, and logs and counts the would-be denial', async () => {
      const image = imageOf('unsigned');
      const before = await wouldDenyCount('audit');
      const created = expectStatus(await api().request('POST', `/api/v1/namespaces/${AUDIT_NAMESPACE}/pods`, pod('unsigned', image, AUDIT_NAMESPACE)), 201);
      expect(podImages(created.body)).toEqual([image]);
      expect(created.warnings).toEqual([]);
      expect((await decisionLines(AUDIT_NAMESPACE, 'unsigned'))[0]).toMatchObject({ outcome: 'allowed', images: [{ image, wouldDeny: [{ mode: 'audit', code: 'TRUST_NO_SIGNED_TARGET' }] }] });
      expect(await wouldDenyCount('audit')).toBeGreaterThan(before);
    });
  });

  describe('when a running Pod\'s image stopped verifying after it was admitted', () => {
    it('can still be relabelled (its image left as it was) and lose its finalizer once deleted, while a new Pod with that image is refused', async () => {
      const path = `/api/v1/namespaces/${LEGACY_NAMESPACE}/pods`;
      const image = imageOf('unsigned');
      const object = pod('held', image, LEGACY_NAMESPACE);
      object['metadata'] = { name: 'held', namespace: LEGACY_NAMESPACE, finalizers: ['trustgate.test/hold'] };
      expect(podImages(expectStatus(await api().request('POST', path, object), 201).body)).toEqual([image]);

      // The operator starts requiring trust there.
      const reloads = (): number => cluster.log().split('\n').filter((line) => line.includes('"policies reloaded"')).length;
      const before = reloads();
      await writeFile(join(policiesDir, 'legacy.yaml'), legacyPolicy(trustedTestGuns(cluster.trust().server.url)));
      cluster.serve().signal('SIGHUP');
      for (let attempt = 0; attempt < 200 && reloads() === before; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(reloads()).toBe(before + 1);
      expectDenied(await api().request('POST', `${path}?dryRun=All`, pod('held-again', image, LEGACY_NAMESPACE)), image);

      const stored = expectStatus(await api().request('GET', `${path}/held`), 200).body;
      stored['metadata'] = { ...(stored['metadata'] as KubeObject), labels: { touched: 'yes' } };
      const relabelled = expectStatus(await api().request('PUT', `${path}/held`, stored), 200).body;
      expect(podImages(relabelled)).toEqual([image]);

      expectStatus(await api().request('DELETE', `${path}/held`), 200);
      const terminating = expectStatus(await api().request('GET', `${path}/held`), 200).body;
      expect((terminating['metadata'] as { deletionTimestamp?: string }).deletionTimestamp).toBeDefined();
      terminating['metadata'] = { ...(terminating['metadata'] as KubeObject), finalizers: [] };
      expect(expectStatus(await api().request('PUT', `${path}/held`, terminating), 200).body).toMatchObject({ kind: 'Pod' });
      // An unscheduled pod without finalizers is deleted at once.
      expectStatus(await api().request('GET', `${path}/held`), 404);
    });
  });
});
