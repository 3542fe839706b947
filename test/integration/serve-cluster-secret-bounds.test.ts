// What a tenant can make `trustgate serve --policies-from-cluster` hold, against a real
// kube-apiserver (and etcd) with the shipped RBAC: serve reads the API as the trustgate service
// account and runs with small bounds on the Secrets it holds. Held Secrets and bytes are read
// from serve's own gauges on /metrics; decisions from its /admit. Images are signed with the
// real notary client on the real notary-server. serve publishes the policy snapshot the
// deployed functions follow (sharing its state folder), and verify-image, built from its
// environment, denies for a Secret left out as serve does.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVerifyImageDeps } from '../../functions/platform/runtime-deps.js';
import { createVerifyImageHandler } from '../../functions/verify-image/handler.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import { expectStatus, installTrustgate, POLICY_API, writeKubeconfigAsTrustgate, yamlObjects } from './support/kube-cluster-setup.js';
import type { KubeObject } from './support/kube-apiserver.js';
import { servedCluster, signerImagePolicy, signerSecret, updateObject } from './support/kube-suite.js';
import { uniqueGun } from './support/scenarios.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { startTrustgateServe } from './support/trustgate-serve.js';

const SUFFIX = randomBytes(3).toString('hex');
const TENANT = `tenant-${SUFFIX}`;
const TEAM = `team-${SUFFIX}`;
const NEWCOMERS = ['a', 'b', 'c'].map((letter) => `newcomer-${letter}-${SUFFIX}`);
const LATE = `late-${SUFFIX}`;
// The bounds serve runs with: 4 Secrets, 64 KiB in total (and so per namespace).
const MAX_SECRETS = 4;
const MAX_BYTES = 64 * 1024;
// The cluster id serve publishes its policy snapshot under, and the store's key.
const CLUSTER_ID = `bounds-${SUFFIX}`;
const STATE_KEY = 'ef'.repeat(32);

const cluster = servedCluster();
const { api, eventually, metric, decision } = cluster;
let alice: { gun: string; publicKeyPem: string };
let stateDir: string;

beforeAll(setUp, 120_000);
afterAll(cluster.stop);

async function setUp(): Promise<void> {
  await cluster.start();
  const trust = cluster.trust();
  const aliceGun = uniqueGun('bounds-alice');
  const signed = await trust.scenarios.signedByDelegationOnly(aliceGun, 'v1', 'targets/alice');
  alice = { gun: aliceGun, publicKeyPem: signed.signer.key.publicKeyPem };

  await installTrustgate(api(), ['trustgate-system', TENANT, TEAM, LATE, ...NEWCOMERS]);
  expectStatus(await api().request('POST', `${POLICY_API}/clusterimagepolicies`, yamlObjects(signedTestRegistryPolicy(trust.server.url))[0]), 201);
  // The team's policy and signer Secret exist before serve starts.
  expectStatus(await api().request('POST', `/api/v1/namespaces/${TEAM}/secrets`, signerSecret(TEAM, 'alice-signer', alice.publicKeyPem)), 201);
  expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TEAM}/imagepolicies`, imagePolicy(TEAM, 'signed-by-alice', 'alice-signer')), 201);

  const kubeconfig = await writeKubeconfigAsTrustgate(await trust.makeDir('kube'), api(), api().adminToken);
  stateDir = await trust.makeDir('state');
  cluster.serving(await startTrustgateServe({
    stateDir,
    caFile: trust.caFile,
    env: { TRUSTGATE_STATE_KEY: STATE_KEY, POD_NAMESPACE: 'trustgate-system' },
    extraArgs: [
      '--policies-from-cluster',
      '--kubeconfig',
      kubeconfig,
      '--policy-secrets-max',
      String(MAX_SECRETS),
      '--policy-secrets-max-bytes',
      String(MAX_BYTES),
      '--publish-cluster-id',
      CLUSTER_ID,
    ],
  }));
}

let verifyImage: ReturnType<typeof createVerifyImageHandler> | undefined;

// The codes of verify-image's answer for `image` in `namespace`, from one function container
// following serve's policy snapshot in the shared state folder (asking the store every time).
async function functionCodes(namespace: string, image: string): Promise<readonly string[]> {
  const env = { TRUSTGATE_STATE_DIR: stateDir, TRUSTGATE_STATE_KEY: STATE_KEY, TRUSTGATE_POLICY_CLUSTER_ID: CLUSTER_ID, TRUSTGATE_POLICY_REFRESH: '0' };
  verifyImage ??= createVerifyImageHandler(buildVerifyImageDeps(env, systemClock));
  const answer = await verifyImage({ image, namespace });
  return (answer.body as { codes?: readonly string[] }).codes ?? [];
}

const update = (path: string, change: (stored: KubeObject) => KubeObject): Promise<void> => updateObject(api(), path, change);

// An ImagePolicy requiring the test images be signed by the key in `signerSecretName`.
function imagePolicy(namespace: string, name: string, signerSecretName: string): KubeObject {
  return signerImagePolicy(namespace, name, cluster.trust().server.url, signerSecretName);
}

const otherKeyPem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('serve --policies-from-cluster bounds what it holds of the Secrets', () => {
  describe('when a tenant creates many large Secrets that no policy names', () => {
    it('holds none of them: only the Secret a policy names is watched and held', async () => {
      await eventually('the team policy admits what alice signed', async () => (await decision(TEAM, `${alice.gun}:v1`)).allowed);
      for (let index = 0; index < 24; index += 1) {
        expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, `junk-${index}`, alice.publicKeyPem, 256 * 1024)), 201);
      }
      // A change to the named Secret after the junk: once it is seen, so would be the junk.
      const path = `/api/v1/namespaces/${TEAM}/secrets/alice-signer`;
      await update(path, (stored) => ({ ...stored, data: undefined, stringData: { name: 'alice', publicKey: otherKeyPem() } }));
      await eventually('the edited signer Secret denies', async () => !(await decision(TEAM, `${alice.gun}:v1`)).allowed);
      expect(await metric('trustgate_policy_secret_watches')).toBe(1);
      expect(await metric('trustgate_policy_secrets_held')).toBe(1);
      expect(await metric('trustgate_policy_secret_bytes_held')).toBeLessThan(8 * 1024);
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);
      await update(path, (stored) => ({ ...stored, data: undefined, stringData: { name: 'alice', publicKey: alice.publicKeyPem } }));
      await eventually('the restored signer Secret admits', async () => (await decision(TEAM, `${alice.gun}:v1`)).allowed);
    });
  });

  describe('when a policy names a Secret larger than the bounds allow', () => {
    it('denies what needs it with POLICY_SECRET_OVER_LIMIT, keeps other namespaces deciding, and holds it once it fits', async () => {
      expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, 'big-signer', alice.publicKeyPem, MAX_BYTES)), 201);
      expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${TENANT}/imagepolicies`, imagePolicy(TENANT, 'big', 'big-signer')), 201);
      await eventually('the tenant policy denies for the Secret not held', async () => (await decision(TENANT, `${alice.gun}:v1`)).message.includes('[POLICY_SECRET_OVER_LIMIT]'));
      expect((await decision(TENANT, `${alice.gun}:v1`)).allowed).toBe(false);
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(1);
      expect(await metric('trustgate_policy_secret_bytes_held')).toBeLessThanOrEqual(MAX_BYTES);
      expect(cluster.log()).toContain('POLICY_SECRET_OVER_LIMIT');
      expect((await decision(TEAM, `${alice.gun}:v1`)).allowed).toBe(true);
      // The published snapshot names the Secret left out: the functions deny for it alike.
      await eventually('verify-image denies for the Secret not held', async () => (await functionCodes(TENANT, `${alice.gun}:v1`)).includes('POLICY_SECRET_OVER_LIMIT'));
      expect(await functionCodes(TENANT, `${alice.gun}:v1`)).not.toContain('POLICY_SECRET_MISSING');

      await update(`/api/v1/namespaces/${TENANT}/secrets/big-signer`, (stored) => ({ ...stored, data: undefined, stringData: { name: 'alice', publicKey: alice.publicKeyPem, padding: 'x'.repeat(40 * 1024) } }));
      await eventually('the shrunk Secret is held and admits', async () => (await decision(TENANT, `${alice.gun}:v1`)).allowed);
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);
      expect(await metric('trustgate_policy_secrets_held')).toBe(2);
    });
  });

  describe('when the bytes held would exceed the bound', () => {
    it('leaves out the Secret that does not fit, and reads it once a held Secret is deleted', async () => {
      expectStatus(await api().request('POST', `/api/v1/namespaces/${LATE}/secrets`, signerSecret(LATE, 'signer', alice.publicKeyPem, 30 * 1024)), 201);
      expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${LATE}/imagepolicies`, imagePolicy(LATE, 'signed', 'signer')), 201);
      await eventually('the late namespace denies for its Secret left out', async () => (await decision(LATE, `${alice.gun}:v1`)).message.includes('[POLICY_SECRET_OVER_LIMIT]'));
      expect(await metric('trustgate_policy_secret_bytes_held')).toBeLessThanOrEqual(MAX_BYTES);
      expect((await decision(TENANT, `${alice.gun}:v1`)).allowed).toBe(true);

      expectStatus(await api().request('DELETE', `/api/v1/namespaces/${TENANT}/secrets/big-signer`), 200);
      await eventually('the late namespace admits once room is freed', async () => (await decision(LATE, `${alice.gun}:v1`)).allowed);
      expect((await decision(TENANT, `${alice.gun}:v1`)).message).toContain('[POLICY_SECRET_MISSING]');
      await eventually('verify-image says the deleted Secret is missing', async () => (await functionCodes(TENANT, `${alice.gun}:v1`)).includes('POLICY_SECRET_MISSING'));
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);

      // Back to two Secrets held (the team's and the tenant's) for what follows.
      expectStatus(await api().request('DELETE', `${POLICY_API}/namespaces/${LATE}/imagepolicies/signed`), 200);
      expectStatus(await api().request('POST', `/api/v1/namespaces/${TENANT}/secrets`, signerSecret(TENANT, 'big-signer', alice.publicKeyPem)), 201);
      await eventually('the tenant admits again', async () => (await decision(TENANT, `${alice.gun}:v1`)).allowed);
      expect(await metric('trustgate_policy_secrets_held')).toBe(2);
    });
  });

  describe('when policies name more Secrets than the bounds allow', () => {
    it('keeps what already works, denies where a Secret is left out, and holds it once room is freed', async () => {
      const newcomers = NEWCOMERS;
      for (const namespace of newcomers) {
        expectStatus(await api().request('POST', `/api/v1/namespaces/${namespace}/secrets`, signerSecret(namespace, 'signer', alice.publicKeyPem)), 201);
        expectStatus(await api().request('POST', `${POLICY_API}/namespaces/${namespace}/imagepolicies`, imagePolicy(namespace, 'signed', 'signer')), 201);
      }
      // Two Secrets were held; room for two of the three newcomers'.
      const overLimit = async (): Promise<string[]> => {
        const decisions = await Promise.all(newcomers.map(async (namespace) => ({ namespace, ...(await decision(namespace, `${alice.gun}:v1`)) })));
        return decisions.filter((one) => one.message.includes('[POLICY_SECRET_OVER_LIMIT]')).map((one) => one.namespace);
      };
      await eventually('one newcomer is denied for its Secret left out', async () => (await overLimit()).length === 1);
      const [leftOut] = await overLimit();
      for (const namespace of newcomers.filter((one) => one !== leftOut)) expect((await decision(namespace, `${alice.gun}:v1`)).allowed).toBe(true);
      expect((await decision(TEAM, `${alice.gun}:v1`)).allowed).toBe(true);
      expect((await decision(TENANT, `${alice.gun}:v1`)).allowed).toBe(true);
      expect(await metric('trustgate_policy_secrets_held')).toBe(MAX_SECRETS);
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(1);
      // The tenant's policy goes away: its room is freed and the Secret left out is read.
      expectStatus(await api().request('DELETE', `${POLICY_API}/namespaces/${TENANT}/imagepolicies/big`), 200);
      await eventually('every newcomer admits', async () => (await Promise.all(newcomers.map((namespace) => decision(namespace, `${alice.gun}:v1`)))).every((one) => one.allowed));
      expect(await metric('trustgate_policy_secrets_held')).toBe(MAX_SECRETS);
      expect(await metric('trustgate_policy_secrets_left_out')).toBe(0);
    });
  });
});
