// sign-callback as a cluster runs it: the real docker-registry posts its push notifications
// (with the bearer token) to `trustgate serve`'s POST /functions/sign-callback over HTTPS,
// serve records the pushed image unsigned in the SQLite store of its state directory; the
// image is then signed with the real notary client on the real notary-server, and serve's
// own changefeed loop re-checks it to signed. A cosign signature pushed to the registry
// (tag `sha256-<hex>.sig`) re-checks the signed image and records it signed for its digest;
// a forged signature event changes nothing the registry does not back. A wrong token is
// refused, a redelivered event is a no-op.
//
// TLS: distribution 2.8 has no CA setting for notification endpoints (they use Go's default
// transport), so serve runs with a certificate signed by the test CA and the registry process
// gets that CA as SSL_CERT_FILE.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import type { SignStatus } from '../../shared/callback/sign-callback.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { getFreePort } from './support/free-port.js';
import { readCallbackStatus } from './support/state-dir.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const TOKEN = 'callback-token-for-tests';
const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json';
const SAMPLE_PUSH = new URL('../fixtures/registry/notify-manifest-push-schema2.json', import.meta.url);

let env: TrustEnvironment;
let registry: DockerRegistry;
let serve: ServeProcess;
let stateDir: string;
let releaseKey: CosignKeyPair;
let otherKey: CosignKeyPair;

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  env = await startTrustEnvironment();
  const ca = env.server.ca;
  if (ca === undefined) throw new Error('the notary-server runs without TLS');
  // The registry needs serve's URL and serve needs the registry's host: serve's port is
  // chosen first. Until serve listens the registry only queues (nothing is pushed yet).
  const servePort = await getFreePort();
  registry = await startDockerRegistry({ url: `https://127.0.0.1:${servePort}/functions/sign-callback`, token: TOKEN, caFile: ca.caFile });
  const keysDir = await env.makeDir('keys');
  releaseKey = await createCosignKey(keysDir, 'release');
  otherKey = await createCosignKey(keysDir, 'other');
  const policiesDir = await env.makeDir('policies');
  await writeFile(
    join(policiesDir, 'lab-registry.yaml'),
    [
      'apiVersion: portieris.cloud.ibm.com/v1',
      'kind: ClusterImagePolicy',
      'metadata: {name: lab-registry}',
      'spec:',
      '  repositories:',
      `    - name: "${registry.host}/*"`,
      `      policy: {trust: {enabled: true, trustServer: "${env.server.url}"}}`,
      `    - name: "${registry.host}/cosign/*"`,
      '      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}',
      '---',
      cosignKeySecretYaml('release-key', 'default', releaseKey.publicKeyPem),
    ].join('\n'),
  );
  stateDir = await env.makeDir('state');
  serve = await startTrustgateServe({
    policiesDir,
    stateDir,
    caFile: env.caFile,
    port: servePort,
    tls: { certFile: ca.serverCertFile, keyFile: ca.serverKeyFile, caFile: ca.caFile },
    env: { TRUSTGATE_CALLBACK_TOKEN: TOKEN },
    extraArgs: ['--registry-host', registry.host, '--changefeed-server', env.server.url, '--changefeed-interval', '1'],
  });
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  await serve?.stop();
  await env?.stop();
});

// Reads the record serve keeps for a ref until `want` holds or 25 s have passed: the
// registry's notification, serve's re-check against the registry and the trust server, and
// the record's write all run on a machine shared with the rest of the suite.
async function waitForStatus(gun: string, ref: string, want: (status: SignStatus | undefined) => boolean): Promise<SignStatus | undefined> {
  const deadline = Date.now() + 25_000;
  for (;;) {
    const status = await readCallbackStatus(stateDir, gun, ref);
    if (want(status) || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function postCallback(body: unknown, headers: Readonly<Record<string, string>> = { authorization: `Bearer ${TOKEN}` }): Promise<HttpAnswer> {
  return httpsRequest(`${serve.url}/functions/sign-callback`, serve.caPem, {
    method: 'POST',
    headers: { 'content-type': EVENTS_TYPE, ...headers },
    body: JSON.stringify(body),
  });
}

// The tag cosign's classic format keeps the signatures of `digest` under.
function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

// A registry envelope shaped exactly like the captured manifest push, for another image.
async function pushEnvelope(id: string, repository: string, tag: string, image: PushedImage): Promise<unknown> {
  const sample = JSON.parse(await readFile(SAMPLE_PUSH, 'utf8')) as { body: { events: Array<{ target: Record<string, unknown> }> } };
  const [event] = sample.body.events;
  if (event === undefined) throw new Error('the sample holds no event');
  const target = { ...event.target, digest: image.digest, size: image.size, length: image.size, repository, tag, url: `${registry.url}/v2/${repository}/manifests/${image.digest}` };
  return { events: [{ ...event, id, target }] };
}

// The id serve logged for the registry's delivery of this GUN's manifest push.
// The registry's own event id, from serve's decision log. The log line may reach this
// process after the record reaches the store, so wait for it (with a deadline).
async function loggedEventId(gun: string): Promise<string | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const line of serve.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { message?: string; gun?: string; eventId?: string };
      if (entry.message === 'manifest push checked' && entry.gun === gun) return entry.eventId;
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Each test waits on the registry's notifications, several times in a row on a busy machine.
describe('trustgate serve /functions/sign-callback with the real docker-registry', { timeout: 90_000 }, () => {
  describe('when an image is pushed, then signed in Notary', () => {
    it('records it unsigned on push and signed after the changefeed poll', async () => {
      const gun = `${registry.host}/lab/app`;
      const pushed = await pushImage(registry, 'lab/app', 'v1');

      const unsigned = await waitForStatus(gun, 'v1', (status) => status !== undefined);
      expect(unsigned, serve.output()).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: 'v1' });

      await env.publisher.init(gun);
      await env.publisher.addHash(gun, 'v1', pushed.size, pushed.digest.slice('sha256:'.length));
      await env.publisher.publish(gun);

      const signed = await waitForStatus(gun, 'v1', (status) => status?.status === 'signed');
      expect(signed, serve.output()).toMatchObject({ status: 'signed', digest: pushed.digest, tag: 'v1' });
    });

    it('answers a poll of a changefeed with no new changes (notary-server sends records null)', async () => {
      // The second poll starts where the first ended: nothing new.
      for (let poll = 0; poll < 2; poll += 1) {
        const answer = await postCallback({ poll: true });
        expect(answer.status, answer.text).toBe(200);
      }
      expect(serve.output()).not.toContain('changefeed poll failed');
    });
  });

  describe('when a cosign signature is pushed to the registry', () => {
    it('re-checks the signed image and records it signed for its digest and its tag', async () => {
      const gun = `${registry.host}/cosign/app`;
      const pushed = await pushImage(registry, 'cosign/app', 'v1');
      const unsigned = await waitForStatus(gun, 'v1', (status) => status !== undefined);
      expect(unsigned, serve.output()).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: 'v1' });

      await pushCosignSignatures(registry, 'cosign/app', pushed.digest, [signPayload(releaseKey, cosignPayload(gun, pushed.digest))]);

      const signed = await waitForStatus(gun, pushed.digest, (status) => status?.status === 'signed');
      expect(signed, serve.output()).toMatchObject({ status: 'signed', digest: pushed.digest, tag: null });
      expect(await waitForStatus(gun, 'v1', (status) => status?.status === 'signed')).toMatchObject({ status: 'signed', digest: pushed.digest, tag: 'v1' });
      expect(await readCallbackStatus(stateDir, gun, signatureTag(pushed.digest))).toBeUndefined();
    });

    it('records the image unsigned when the signature is not made by the policy\'s key', async () => {
      const gun = `${registry.host}/cosign/wrong-key`;
      const pushed = await pushImage(registry, 'cosign/wrong-key', 'v1');
      await waitForStatus(gun, 'v1', (status) => status !== undefined);

      await pushCosignSignatures(registry, 'cosign/wrong-key', pushed.digest, [signPayload(otherKey, cosignPayload(gun, pushed.digest))]);

      const status = await waitForStatus(gun, pushed.digest, (recorded) => recorded !== undefined);
      expect(status, serve.output()).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: null });
      expect(await readCallbackStatus(stateDir, gun, 'v1')).toMatchObject({ status: 'unsigned', digest: pushed.digest });
    });
  });

  describe('when a caller forges a signature push the registry does not back', () => {
    it('verifies against the registry and records the image unsigned', async () => {
      const gun = `${registry.host}/cosign/forged`;
      const pushed = await pushImage(registry, 'cosign/forged', 'v1');
      await waitForStatus(gun, 'v1', (status) => status !== undefined);
      // The event claims a signature manifest for the image; the registry holds none.
      const envelope = await pushEnvelope('forged-signature-1', 'cosign/forged', signatureTag(pushed.digest), pushed);

      const response = await postCallback(envelope);

      expect(response.status, response.text).toBe(200);
      expect(JSON.parse(response.text)).toStrictEqual({ outcomes: [{ id: 'forged-signature-1', outcome: 'unsigned' }] });
      expect(await readCallbackStatus(stateDir, gun, pushed.digest)).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: null });
      expect(await readCallbackStatus(stateDir, gun, 'v1')).toMatchObject({ status: 'unsigned', digest: pushed.digest });
    });

    it('cannot move a genuine signature to another image by naming that image\'s signature tag', async () => {
      const gun = `${registry.host}/cosign/victim`;
      const signedImage = await pushImage(registry, 'cosign/victim', 'v1');
      await pushCosignSignatures(registry, 'cosign/victim', signedImage.digest, [signPayload(releaseKey, cosignPayload(gun, signedImage.digest))]);
      await waitForStatus(gun, signedImage.digest, (status) => status?.status === 'signed');
      const other = await pushImage(registry, 'cosign/victim', 'v2');
      await waitForStatus(gun, 'v2', (status) => status !== undefined);
      // The event names the signed image's digest, and the other image's signature tag.
      const envelope = await pushEnvelope('forged-signature-2', 'cosign/victim', signatureTag(other.digest), signedImage);

      const response = await postCallback(envelope);

      expect(JSON.parse(response.text)).toStrictEqual({ outcomes: [{ id: 'forged-signature-2', outcome: 'unsigned' }] });
      expect(await readCallbackStatus(stateDir, gun, other.digest)).toMatchObject({ status: 'unsigned', digest: other.digest });
      expect(await readCallbackStatus(stateDir, gun, 'v2')).toMatchObject({ status: 'unsigned', digest: other.digest });
    });
  });

  describe('when the registry redelivers an event it already sent', () => {
    it('acknowledges it as a duplicate and changes nothing', async () => {
      const gun = `${registry.host}/lab/redelivered`;
      const pushed = await pushImage(registry, 'lab/redelivered', 'v1');
      const first = await waitForStatus(gun, 'v1', (status) => status !== undefined);
      expect(first).toMatchObject({ status: 'unsigned', digest: pushed.digest });
      const id = await loggedEventId(gun);
      expect(id, serve.output()).toBeDefined();

      const again = await postCallback(await pushEnvelope(id ?? '', 'lab/redelivered', 'v1', pushed));

      expect(again.status, again.text).toBe(200);
      expect(JSON.parse(again.text)).toStrictEqual({ outcomes: [{ id, outcome: 'duplicate' }] });
      expect(await readCallbackStatus(stateDir, gun, 'v1')).toStrictEqual(first);
    });
  });

  describe('when the same envelope is posted twice', () => {
    it('processes the first and answers the second as a duplicate', async () => {
      const gun = `${registry.host}/lab/twice`;
      const pushed = await pushImage(registry, 'lab/twice', 'v1');
      const envelope = await pushEnvelope('direct-delivery-1', 'lab/twice', 'v2', pushed);

      const first = await postCallback(envelope);
      const recorded = await readCallbackStatus(stateDir, gun, 'v2');
      const second = await postCallback(envelope);

      expect(JSON.parse(first.text)).toStrictEqual({ outcomes: [{ id: 'direct-delivery-1', outcome: 'unsigned' }] });
      expect(recorded).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: 'v2' });
      expect(second.status).toBe(200);
      expect(JSON.parse(second.text)).toStrictEqual({ outcomes: [{ id: 'direct-delivery-1', outcome: 'duplicate' }] });
      expect(await readCallbackStatus(stateDir, gun, 'v2')).toStrictEqual(recorded);
    });
  });

  describe('when a caller presents the wrong token', () => {
    it('answers 401 and records nothing', async () => {
      const image = { digest: `sha256:${'a'.repeat(64)}`, size: 423 };
      const envelope = await pushEnvelope('forged-1', 'lab/forged', 'v1', image);

      const wrong = await postCallback(envelope, { authorization: 'Bearer wrong-token' });
      const missing = await postCallback(envelope, {});

      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(missing.status).toBe(401);
      expect(await readCallbackStatus(stateDir, `${registry.host}/lab/forged`, 'v1')).toBeUndefined();
    });
  });

  describe('when an envelope is malformed', () => {
    it('answers 400 with every bad field and applies nothing', async () => {
      const envelope = {
        events: [
          { id: 'ok-1', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'b'.repeat(64)}`, repository: 'lab/half', tag: 'v1' } },
          { id: 'bad-1', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: 'sha256:short', repository: 'Lab/Bad' } },
        ],
      };

      const response = await postCallback(envelope);

      expect(response.status).toBe(400);
      const body = JSON.parse(response.text) as { error: { problems: Array<{ path: string }> } };
      expect(body.error.problems.map((p) => p.path).sort()).toStrictEqual(['events[1].target.digest', 'events[1].target.repository']);
      expect(await readCallbackStatus(stateDir, `${registry.host}/lab/half`, 'v1')).toBeUndefined();
    });
  });
});
