// `trustgate serve --policies-from-cluster` against a real kube-apiserver (and etcd): the
// CRDs from infra/crds/ and the RBAC of infra/kubernetes/rbac.yaml are applied, serve reads
// the API as the trustgate service account (the admin impersonates it, so the ClusterRole is
// what is tested) through a proxy the test controls, and is registered as the cluster's
// mutating webhook. Policies and signer Secrets are created, edited and deleted through the
// API server, and every decision is observed through the API server's own admission.
// Images are signed with the real notary client on the real notary-server.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiProxy, type KubeApiProxy } from './support/kube-api-proxy.js';
import { expectStatus, installTrustgate, POLICY_API, writeKubeconfigAsTrustgate, yamlObjects } from './support/kube-cluster-setup.js';
import type { KubeAnswer, KubeObject } from './support/kube-apiserver.js';
import { admitDecision, NAMESPACE_LABEL, podObject, registerWebhook, servedCluster, signerImagePolicy, signerSecret, updateObject, WEBHOOK_NAME } from './support/kube-suite.js';
import { uniqueGun } from './support/scenarios.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { httpsRequest, startTrustgateServe } from './support/trustgate-serve.js';

const SUFFIX = randomBytes(3).toString('hex');
const TEAM = `team-${SUFFIX}`;
const OTHER = `other-${SUFFIX}`;

const cluster = servedCluster();
const { api, eventually, metric } = cluster;
let proxy: KubeApiProxy | undefined;
let kubeconfig: string;
let app: string;
let alice: { gun: string; publicKeyPem: string };

beforeAll(setUp, 120_000);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  app = uniqueGun('cluster-app');
  const aliceGun = uniqueGun('cluster-alice');
  await trust.scenarios.signedInTargets(app, 'v1');
  const signed = await trust.scenarios.signedByDelegationOnly(aliceGun, 'v1', 'targets/alice');
  alice = { gun: aliceGun, publicKeyPem: signed.signer.key.publicKeyPem };

  await installTrustgate(api(), ['trustgate-system', { name: TEAM, labels: { [NAMESPACE_LABEL]: 'true' } }, { name: OTHER, labels: { [NAMESPACE_LABEL]: 'true' } }]);
  expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, yamlObjects(signedTestRegistryPolicy(trust.server.url))[0]), 201);

  proxy = await startKubeApiProxy({ url: api().url, caPem: api().caPem });
  kubeconfig = await writeKubeconfigAsTrustgate(await trust.makeDir('kube'), proxy, api().adminToken);
  const serve = cluster.serving(await startTrustgateServe({ stateDir: await trust.makeDir('state'), caFile: trust.caFile, extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig] }));
  await registerWebhook(api(), { name: `trustgate-${SUFFIX}`, webhook: WEBHOOK_NAME, url: `${serve.url}/admit`, caPem: serve.caPem });
  await eventually('the webhook is in effect', async () => deniedByWebhook(await createPod(OTHER, `${app}:unsigned`)));
}

afterAll(async () => {
  await cluster.stop();
  await proxy?.close();
});

const update = (path: string, change: (stored: KubeObject) => KubeObject): Promise<void> => updateObject(api(), path, change);

// A server-side dry-run create of a Pod running `image`: the API server calls the webhook.
function createPod(namespace: string, image: string): Promise<KubeAnswer> {
  const name = `pod-${randomBytes(4).toString('hex')}`;
  return api().request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, podObject(namespace, name, image));
}

function deniedByWebhook(answer: KubeAnswer, code?: string): boolean {
  const message = typeof answer.body['message'] === 'string' ? answer.body['message'] : '';
  return answer.status === 403 && message.includes(`admission webhook "${WEBHOOK_NAME}" denied the request`) && (code === undefined || message.includes(`[${code}]`));
}

async function admitted(namespace: string, image: string): Promise<boolean> {
  const answer = await createPod(namespace, image);
  if (answer.status === 201) return true;
  if (!deniedByWebhook(answer)) throw new Error(`unexpected answer ${answer.status}: ${answer.text}`);
  return false;
}

async function expectAdmitted(namespace: string, image: string): Promise<void> {
  const answer = await createPod(namespace, image);
  expect(answer.status, answer.text).toBe(201);
}

async function expectDenied(namespace: string, image: string, code: string): Promise<void> {
  const answer = await createPod(namespace, image);
  expect(deniedByWebhook(answer, code), answer.text).toBe(true);
}

// An ImagePolicy requiring the test images be signed by the key in `signerSecretName`.
function imagePolicy(namespace: string, name: string, signerSecretName: string, annotations: Record<string, string> = {}): KubeObject {
  return signerImagePolicy(namespace, name, cluster.trust().server.url, signerSecretName, annotations);
}

const otherKeyPem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function eventsAbout(namespace: string, name: string): Promise<KubeObject[]> {
  const answer = expectStatus(await api().request('GET', `/api/v1/namespaces/${namespace}/events`), 200);
  return (answer.body['items'] as KubeObject[]).filter((event) => (event['involvedObject'] as { name?: string }).name === name);
}

describe('serve --policies-from-cluster behind a real kube-apiserver', () => {
  describe('with the ClusterImagePolicy created before serve started', () => {
    it('admits the signed Pod and refuses the unsigned one', async () => {
      await expectAdmitted(TEAM, `${app}:v1`);
      await expectDenied(TEAM, `${app}:unsigned`, 'TRUST_NO_SIGNED_TARGET');
    });
  });

  describe('when a namespace gets an ImagePolicy naming a signer Secret', () => {
    it('decides that namespace by it, and only that one', async () => {
      const team = `/api/v1/namespaces/${TEAM}`;
      expectStatus(await api().request('POST', `${team}/secrets`, signerSecret(TEAM, 'alice-signer', alice.publicKeyPem)), 201);
      expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TEAM}/imagepolicies`, imagePolicy(TEAM, 'signed-by-alice', 'alice-signer')), 201);
      await eventually('the ImagePolicy admits the image only alice signed', () => admitted(TEAM, `${alice.gun}:v1`));
      await expectDenied(TEAM, `${app}:v1`, 'TRUST_SIGNER_MISSING');
      // The other namespace still falls back to the ClusterImagePolicy.
      await expectAdmitted(OTHER, `${app}:v1`);
      await expectDenied(OTHER, `${alice.gun}:v1`, 'TRUST_NO_SIGNED_TARGET');
    });
  });

  describe('when the signer Secret is edited to hold another key', () => {
    it('denies what alice signed, and admits it again once the key is put back', async () => {
      const path = `/api/v1/namespaces/${TEAM}/secrets/alice-signer`;
      await update(path, (stored) => ({ ...stored, data: undefined, stringData: { name: 'alice', publicKey: otherKeyPem() } }));
      await eventually('the edited Secret denies', async () => !(await admitted(TEAM, `${alice.gun}:v1`)));
      await update(path, (stored) => ({ ...stored, data: undefined, stringData: { name: 'alice', publicKey: alice.publicKeyPem } }));
      await eventually('the restored Secret admits', () => admitted(TEAM, `${alice.gun}:v1`));
    });
  });

  describe('when the ImagePolicy is edited into an invalid one', () => {
    it('reports it as an Event and a metric, and its previous version keeps deciding', async () => {
      const path = `${POLICY_API}/namespaces/${TEAM}/imagepolicies/signed-by-alice`;
      const before = await metric('trustgate_policy_objects_invalid_total', { kind: 'ImagePolicy' });
      await update(path, (stored) => ({ ...stored, metadata: { ...(stored['metadata'] as KubeObject), annotations: { 'trustgate.dev/root-key-ids': 'not-a-key-id' } } }));
      await eventually('an Event on the ImagePolicy', async () => (await eventsAbout(TEAM, 'signed-by-alice')).length > 0);
      const [event] = await eventsAbout(TEAM, 'signed-by-alice');
      expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidPolicy', involvedObject: { kind: 'ImagePolicy', namespace: TEAM, name: 'signed-by-alice' } });
      expect(String(event?.['message'])).toContain('previous valid version stays in force');
      expect(await metric('trustgate_policy_objects_invalid_total', { kind: 'ImagePolicy' })).toBe(before + 1);
      await expectAdmitted(TEAM, `${alice.gun}:v1`);
      await expectDenied(TEAM, `${app}:v1`, 'TRUST_SIGNER_MISSING');
    });
  });

  describe('when a namespace gets an ImagePolicy that was never valid', () => {
    it('denies every image there with POLICY_INVALID instead of falling back to the ClusterImagePolicy, until it is deleted', async () => {
      const path = `${POLICY_API}/namespaces/${OTHER}/imagepolicies`;
      expectStatus(await api().request('POST', path, imagePolicy(OTHER, 'broken', 'alice-signer', { 'trustgate.dev/root-key-ids': 'nope' })), 201);
      await eventually('the broken ImagePolicy denies', async () => deniedByWebhook(await createPod(OTHER, `${app}:v1`), 'POLICY_INVALID'));
      // The rest stays in force.
      await expectAdmitted(TEAM, `${alice.gun}:v1`);
      expect((await eventsAbout(OTHER, 'broken'))[0]?.['reason']).toBe('InvalidPolicy');
      expectStatus(await api().request('DELETE', `${path}/broken`), 200);
      await eventually('the namespace falls back to the ClusterImagePolicy', () => admitted(OTHER, `${app}:v1`));
    });
  });

  describe('when the watch connections are cut and refused for a while', () => {
    it('keeps deciding with the last good set, then resumes from the last resourceVersion and sees what changed meanwhile', async () => {
      const server = proxy as KubeApiProxy;
      const listsBefore = await metric('trustgate_policy_watch_lists_total', { resource: 'ImagePolicy' });
      server.refuse(true);
      server.cut();
      await eventually('a failed watch is counted', async () => (await metric('trustgate_policy_watch_errors_total', { resource: 'ImagePolicy' })) > 0);
      await expectAdmitted(TEAM, `${alice.gun}:v1`);
      expect(await metric('trustgate_policy_stale_reads_total', { outcome: 'served' })).toBeGreaterThan(0);
      expectStatus(await api().request('DELETE', `${POLICY_API}/namespaces/${TEAM}/imagepolicies/signed-by-alice`), 200);
      server.refuse(false);
      await eventually('the deletion made while cut off applies', async () => !(await admitted(TEAM, `${alice.gun}:v1`)));
      await expectAdmitted(TEAM, `${app}:v1`);
      expect(await metric('trustgate_policy_watch_lists_total', { resource: 'ImagePolicy' })).toBe(listsBefore);
    });
  });

  describe('when a watch is answered 410 Gone', () => {
    it('lists again and keeps following changes', async () => {
      const server = proxy as KubeApiProxy;
      server.expireNextWatch();
      server.cut();
      await eventually('a list after expiry is counted', async () => {
        const counts = await Promise.all(['ImagePolicy', 'ClusterImagePolicy', 'Secret'].map((resource) => metric('trustgate_policy_watch_lists_total', { resource, reason: 'expired' })));
        return counts.some((count) => count > 0);
      });
      expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TEAM}/imagepolicies`, imagePolicy(TEAM, 'signed-by-alice', 'alice-signer')), 201);
      await eventually('the ImagePolicy created after the re-list applies', () => admitted(TEAM, `${alice.gun}:v1`));
    });
  });

  describe('when the API server cannot be read for longer than --policies-max-stale', () => {
    it('denies with POLICY_SOURCE_UNAVAILABLE and reports not ready, until a read succeeds again', async () => {
      const server = proxy as KubeApiProxy;
      const trust = cluster.trust();
      const strict = await startTrustgateServe({ stateDir: await trust.makeDir('strict'), caFile: trust.caFile, extraArgs: ['--policies-from-cluster', '--kubeconfig', kubeconfig, '--policies-max-stale', '1s'] });
      try {
        const decision = (): Promise<{ allowed: boolean; message: string }> => admitDecision(strict, OTHER, `${app}:v1`);
        const ready = async (): Promise<number> => (await httpsRequest(`${strict.url}/readyz`, strict.caPem)).status;
        expect((await decision()).allowed).toBe(true);
        server.refuse(true);
        server.cut();
        await eventually('serve refuses to decide with policies that are too old', async () => (await decision()).message.includes('[POLICY_SOURCE_UNAVAILABLE]'));
        expect((await decision()).allowed).toBe(false);
        expect(await ready()).toBe(503);
        server.refuse(false);
        await eventually('serve decides again once the API server answers', async () => (await decision()).allowed);
        expect(await ready()).toBe(200);
      } finally {
        server.refuse(false);
        await strict.stop();
      }
    });
  });
});
