// sign-callback against the real docker-registry and the real notary-server: the registry
// posts its push notification (with the bearer token) to the sign-callback handler served
// over HTTP, the pushed image is recorded unsigned; the image is then signed with the real
// notary client and a changefeed poll re-checks it to signed. A wrong token is refused and
// a redelivered event is a no-op.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignCallbackHandler, type CallbackHandler } from '../../functions/sign-callback/handler.js';
import { buildSignCallbackDeps } from '../../functions/platform/runtime-deps.js';
import { readSignStatus, type SignStatus } from '../../shared/callback/sign-callback.js';
import { startCallbackServer, type CallbackServer } from './support/callback-server.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { NotaryCli } from './support/notary-cli.js';
import { startNotaryServer, type NotaryServer } from './support/notary-server.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';

const TOKEN = 'callback-token-for-tests';

let notary: NotaryServer;
let publisher: NotaryCli;
let registry: DockerRegistry;
let callback: CallbackServer;
let scratch: string;
let deps: ReturnType<typeof buildSignCallbackDeps>;
let handle: CallbackHandler | undefined;
const received: unknown[] = [];

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  notary = await startNotaryServer({ tls: false });
  publisher = await NotaryCli.create(notary);
  scratch = await makeTempDir('sign-callback');
  // The handler needs the registry's host, the registry needs the handler's URL: the server
  // starts first and hands requests to the handler once it exists.
  callback = await startCallbackServer(async (invocation) => {
    received.push(invocation.body);
    if (handle === undefined) return { statusCode: 503, body: {} };
    return handle(invocation);
  });
  registry = await startDockerRegistry({ url: callback.url, token: TOKEN });
  const policies = join(scratch, 'policies.yaml');
  await writeFile(
    policies,
    [
      'apiVersion: portieris.cloud.ibm.com/v1',
      'kind: ClusterImagePolicy',
      'metadata: {name: lab-registry}',
      'spec:',
      '  repositories:',
      `    - name: "${registry.host}/*"`,
      `      policy: {trust: {enabled: true, trustServer: "${notary.url}"}}`,
    ].join('\n'),
  );
  deps = buildSignCallbackDeps({
    TRUSTGATE_REGISTRY_HOST: registry.host,
    TRUSTGATE_POLICIES: policies,
    TRUSTGATE_STATE_DIR: join(scratch, 'state'),
    TRUSTGATE_CALLBACK_TRUST_SERVER: notary.url,
  });
  handle = createSignCallbackHandler(deps, TOKEN);
});

afterAll(async () => {
  await registry?.stop();
  await callback?.stop();
  await publisher?.remove();
  await notary?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

async function waitForStatus(gun: string, tag: string, want: (status: SignStatus | undefined) => boolean): Promise<SignStatus | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await readSignStatus(deps.store, gun, tag);
    if (want(status) || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function post(body: unknown, token: string): Promise<Response> {
  return fetch(callback.url, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

describe('sign-callback with the real docker-registry', () => {
  describe('when an image is pushed, then signed in Notary', () => {
    it('records it unsigned on push and signed after the changefeed poll', async () => {
      const repository = 'lab/app';
      const gun = `${registry.host}/${repository}`;
      const pushed = await pushImage(registry, repository, 'v1');
      const unsigned = await waitForStatus(gun, 'v1', (status) => status !== undefined);
      expect(unsigned).toMatchObject({ status: 'unsigned', digest: pushed.digest, tag: 'v1' });

      await publisher.init(gun);
      await publisher.addHash(gun, 'v1', pushed.size, pushed.digest.slice('sha256:'.length));
      await publisher.publish(gun);
      const handler = handle;
      if (handler === undefined) throw new Error('handler not built');
      const poll = await handler({ body: { poll: true }, headers: {}, trusted: true });
      expect(poll.statusCode).toBe(200);
      const signed = await readSignStatus(deps.store, gun, 'v1');
      expect(signed).toMatchObject({ status: 'signed', digest: pushed.digest, tag: 'v1' });
    });
  });

  describe('when the registry redelivers an event it already sent', () => {
    it('acknowledges it as a duplicate and changes nothing', async () => {
      const gun = `${registry.host}/lab/redelivered`;
      await pushImage(registry, 'lab/redelivered', 'v1');
      const first = await waitForStatus(gun, 'v1', (status) => status !== undefined);
      const envelope = received.find((body) => JSON.stringify(body).includes('lab/redelivered') && JSON.stringify(body).includes('"push"') && JSON.stringify(body).includes('manifest.v2'));
      expect(envelope).toBeDefined();
      const again = await post(envelope, TOKEN);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ outcomes: [{ outcome: 'duplicate' }] });
      expect(await readSignStatus(deps.store, gun, 'v1')).toStrictEqual(first);
    });
  });

  describe('when a caller presents the wrong token', () => {
    it('answers 401 and records nothing', async () => {
      const envelope = { events: [{ id: 'forged-1', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'a'.repeat(64)}`, repository: 'lab/forged', tag: 'v1' } }] };
      expect((await post(envelope, 'wrong-token')).status).toBe(401);
      expect((await fetch(callback.url, { method: 'POST', body: JSON.stringify(envelope) })).status).toBe(401);
      expect(await readSignStatus(deps.store, `${registry.host}/lab/forged`, 'v1')).toBeUndefined();
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
      const response = await post(envelope, TOKEN);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { problems: Array<{ path: string }> } };
      expect(body.error.problems.map((p) => p.path).sort()).toStrictEqual(['events[1].target.digest', 'events[1].target.repository']);
      expect(await readSignStatus(deps.store, `${registry.host}/lab/half`, 'v1')).toBeUndefined();
    });
  });
});
