// The cosign trust cache against the real docker-registry, counting the requests that reach it
// at a recording proxy in front: the verify-image function (built as a deployed container
// builds it, with an injected clock) over the embedded SQLite store and over DynamoDB
// (dynalite) reads the registry once within the freshness window, again after it, answers
// stale within max-stale while the registry is down and denies after it; sign-callback's
// handling of a `.sig` push and of a v3 bundle referrer push refreshes the signed image's
// cached signatures (in the store, and in `trustgate serve`'s own memory); `trustgate serve`
// counts cache hits, misses, stale answers and store failures in /metrics; the `trustgate verify` CLI honours a changed key at once and refuses a
// tampered store entry (an attack through its state directory).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { buildSignCallbackDeps, buildVerifyImageDeps } from '../../functions/platform/runtime-deps.js';
import { createSignCallbackHandler } from '../../functions/sign-callback/handler.js';
import { createVerifyImageHandler } from '../../functions/verify-image/handler.js';
import type { Clock } from '../../shared/ports.js';
import { cosignSignaturesKey, cosignTagKey } from '../../shared/trust/cosign/signature-cache.js';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { bundleArtifact, keyBundle, statementFor } from '../support/sigstore-bundles.js';
import { clockFrom } from '../support/clocks.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { cosignPayload, createCosignKey, pushBundleReferrers, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { createTestCa } from './support/test-ca.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { admitPodImage, httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';
import { getFreePort } from './support/free-port.js';
import { eventuallyShowing } from './support/kube-suite.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const SAMPLE_PUSH = new URL('../fixtures/registry/notify-manifest-push-schema2.json', import.meta.url);
const FRESHNESS_S = 30;
const MAX_STALE_S = 900;
const START = Date.parse('2031-06-01T00:00:00Z');

let dir: string;
let registry: DockerRegistry;
// The registry as trustgate sees it: every request recorded, and an outage on demand.
let proxy: TamperProxy;
let dynamo: DynaliteServer;
let releaseKey: CosignKeyPair;
let otherKey: CosignKeyPair;
let releasePolicies: string;
let otherPolicies: string;
let registryDown = false;

// A directory for one test, removed with the suite's.
function scratch(prefix: string): Promise<string> {
  return mkdtemp(join(dir, `${prefix}-`));
}

// The registry host trustgate is given: the proxy's.
function host(): string {
  return new URL(proxy.url).host;
}

// Registry requests about `repository` since the last reset.
function requestsFor(repository: string): number {
  return proxy.requests.filter((path) => path.startsWith(`/v2/${repository}/`)).length;
}

function policyFile(key: CosignKeyPair): string {
  return [
    'apiVersion: portieris.cloud.ibm.com/v1',
    'kind: ClusterImagePolicy',
    'metadata: {name: cosign-cache}',
    'spec:',
    '  repositories:',
    `    - name: "${host()}/*"`,
    '      policy: {sigstore: {authorities: [{key: {secretName: signing-key}}]}}',
    '---',
    cosignKeySecretYaml('signing-key', 'default', key.publicKeyPem),
  ].join('\n');
}

async function push(repository: string): Promise<PushedImage> {
  return pushImage(registry, repository, 'v1');
}

async function cosignSign(repository: string, image: PushedImage, keys: readonly CosignKeyPair[]): Promise<void> {
  const payload = cosignPayload(`${host()}/${repository}`, image.digest);
  await pushCosignSignatures(registry, repository, image.digest, keys.map((key) => signPayload(key, payload)));
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  dir = await makeTempDir('cosign-cache');
  registry = await startDockerRegistry();
  proxy = await startTamperProxy({ upstream: { url: registry.url } });
  dynamo = await startDynalite();
  for (const [name, value] of Object.entries(dynamo.clientEnv)) vi.stubEnv(name, value);
  releaseKey = await createCosignKey(dir, 'release');
  otherKey = await createCosignKey(dir, 'other');
  releasePolicies = join(dir, 'release-policies.yaml');
  otherPolicies = join(dir, 'other-policies.yaml');
  await writeFile(releasePolicies, policyFile(releaseKey));
  await writeFile(otherPolicies, policyFile(otherKey));
}, 60_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await dynamo?.stop();
  await proxy?.stop();
  await registry?.stop();
  if (dir !== undefined) await removeDir(dir);
});

beforeEach(() => {
  proxy.reset();
  registryDown = false;
  // The outage: the registry answers 503 to everything while it is "down".
  proxy.onResponse(() => (registryDown ? { status: 503, body: Buffer.from('down') } : undefined));
});

// The store settings of a function: a state directory, or a fresh DynamoDB table.
interface StoreEnv {
  readonly env: Readonly<Record<string, string>>;
}

async function sqliteStore(): Promise<StoreEnv> {
  return { env: { TRUSTGATE_STATE_DIR: await scratch('state') } };
}

async function dynamoStore(): Promise<StoreEnv> {
  const table = `cosign-cache-${randomBytes(4).toString('hex')}`;
  await createTrustgateTable(dynamo.client(), table);
  return { env: { TRUSTGATE_DYNAMODB_TABLE: table, TRUSTGATE_DYNAMODB_ENDPOINT: dynamo.endpoint, TRUSTGATE_STATE_KEY: randomBytes(32).toString('hex'), ...dynamo.clientEnv } };
}

function functionEnv(store: StoreEnv, policies = releasePolicies): Record<string, string> {
  return { ...store.env, TRUSTGATE_POLICIES: policies, TRUSTGATE_FRESHNESS: `${FRESHNESS_S}s`, TRUSTGATE_MAX_STALE: `${MAX_STALE_S}s` };
}

// One verify-image container: its own memo, the store it is configured with, `clock`.
function verifyImageContainer(store: StoreEnv, clock: Clock, policies = releasePolicies): (image: string) => Promise<VerifyImageResponse> {
  const handle = createVerifyImageHandler(buildVerifyImageDeps(functionEnv(store, policies), clock));
  return async (image) => {
    const response = await handle({ image, namespace: 'default' });
    expect(response.statusCode, JSON.stringify(response.body)).toBe(200);
    return response.body as VerifyImageResponse;
  };
}

describe.each([
  ['the embedded SQLite store', sqliteStore],
  ['DynamoDB (dynalite)', dynamoStore],
])('the verify-image function with cosign signatures cached in %s', (_name, openStore) => {
  it('reads the registry once within the freshness window, in one container and in the next', async () => {
    const repository = `fresh/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const store = await openStore();
    let now = START;
    const clock = clockFrom(() => now);
    const container = verifyImageContainer(store, clock);
    expect(await container(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: image.digest, signers: ['cosign:key/signing-key'] });
    const first = requestsFor(repository);
    expect(first).toBeGreaterThan(0);
    now += FRESHNESS_S * 1000 - 1;
    expect(await container(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: image.digest });
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: image.digest });
    expect(requestsFor(repository)).toBe(first);
    now += 1;
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: image.digest });
    expect(requestsFor(repository)).toBeGreaterThan(first);
  });

  it('answers stale within max-stale while the registry is down, and denies with REGISTRY_UNAVAILABLE after it', async () => {
    const repository = `outage/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const store = await openStore();
    let now = START;
    const clock = clockFrom(() => now);
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true });
    registryDown = true;
    now += (FRESHNESS_S + MAX_STALE_S) * 1000 - 1;
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: image.digest, stale: true });
    now += 1;
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: false, codes: ['REGISTRY_UNAVAILABLE'] });
  });

  it('never answers a moved tag with the image it named before when only the new image\'s signatures cannot be read', async () => {
    const repository = `moved/${randomBytes(3).toString('hex')}`;
    const before = await push(repository);
    await cosignSign(repository, before, [releaseKey]);
    const store = await openStore();
    let now = START;
    const clock = clockFrom(() => now);
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true, digest: before.digest });
    // The tag now names an unsigned image, and every read but the tag's fails.
    const moved = await push(repository);
    proxy.onResponse((response) => (response.path.includes('/manifests/v1') ? undefined : { status: 503, body: Buffer.from('down') }));
    now += FRESHNESS_S * 1000;
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: false, codes: ['REGISTRY_UNAVAILABLE'] });
    expect(moved.digest).not.toBe(before.digest);
  });

  it('honours a policy naming another key at once, from the cached signatures', async () => {
    const repository = `policy/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const store = await openStore();
    const clock = clockFrom(() => START);
    expect(await verifyImageContainer(store, clock)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: true });
    const before = requestsFor(repository);
    expect(await verifyImageContainer(store, clock, otherPolicies)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
    expect(requestsFor(repository)).toBe(before);
  });
});

// A registry notification of a manifest push at `tag` of `repository`, shaped like the
// captured one.
async function pushEvent(id: string, repository: string, tag: string | undefined, digest: string): Promise<unknown> {
  const sample = JSON.parse(await readFile(SAMPLE_PUSH, 'utf8')) as { body: { events: Array<{ target: Record<string, unknown> }> } };
  const [event] = sample.body.events;
  if (event === undefined) throw new Error('the sample holds no event');
  const target: Record<string, unknown> = { ...event.target };
  delete target['tag'];
  return { events: [{ ...event, id, target: { ...target, digest, repository, ...(tag === undefined ? {} : { tag }), url: `${registry.url}/v2/${repository}/manifests/${digest}` } }] };
}

describe('sign-callback and the cached cosign signatures', () => {
  // sign-callback and verify-image over one store, each a container of its own.
  async function deployment(): Promise<{ store: StoreEnv; callback: (body: unknown) => Promise<unknown>; clock: Clock; advance(ms: number): void }> {
    const store = await sqliteStore();
    let now = START;
    const clock = clockFrom(() => now);
    const deps = buildSignCallbackDeps({ ...functionEnv(store, otherPolicies), TRUSTGATE_REGISTRY_HOST: host() }, clock);
    const handle = createSignCallbackHandler(deps, undefined);
    return {
      store,
      clock,
      advance: (ms) => void (now += ms),
      callback: async (body) => {
        const response = await handle({ body, headers: {}, trusted: true });
        expect(response.statusCode, JSON.stringify(response.body)).toBe(200);
        return response.body;
      },
    };
  }

  it('refreshes the signed image on a `.sig` push: the next verification within the window sees the new signature without the registry', async () => {
    const repository = `callback/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const lab = await deployment();
    expect(await verifyImageContainer(lab.store, lab.clock, otherPolicies)(`${host()}/${repository}:v1`)).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
    await cosignSign(repository, image, [releaseKey, otherKey]);
    lab.advance(1_000);
    const signatureTag = `${image.digest.replace(':', '-')}.sig`;
    expect(await lab.callback(await pushEvent(`sig-${repository}`, repository, signatureTag, image.digest))).toEqual({ outcomes: [{ id: `sig-${repository}`, outcome: 'signed' }] });
    lab.advance(1_000);
    const before = requestsFor(repository);
    expect(await verifyImageContainer(lab.store, lab.clock, otherPolicies)(`${host()}/${repository}@${image.digest}`)).toMatchObject({ allowed: true, digest: image.digest });
    expect(requestsFor(repository)).toBe(before);
  });

  it('refreshes the signed image on a v3 bundle referrer push', async () => {
    const repository = `referrer/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    const lab = await deployment();
    expect(await verifyImageContainer(lab.store, lab.clock, otherPolicies)(`${host()}/${repository}@${image.digest}`)).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
    const artifact = bundleArtifact(await keyBundle(otherKey.privateKey, otherKey.publicKeyPem, statementFor(image.digest)), { digest: image.digest, size: image.size, mediaType: DOCKER_MANIFEST });
    await pushBundleReferrers(registry, repository, image.digest, [artifact]);
    lab.advance(1_000);
    expect(await lab.callback(await pushEvent(`ref-${repository}`, repository, undefined, artifact.digest))).toEqual({ outcomes: [{ id: `ref-${repository}`, outcome: 'signed' }] });
    lab.advance(1_000);
    const before = requestsFor(repository);
    expect(await verifyImageContainer(lab.store, lab.clock, otherPolicies)(`${host()}/${repository}@${image.digest}`)).toMatchObject({ allowed: true, digest: image.digest });
    expect(requestsFor(repository)).toBe(before);
  });
});

describe('trustgate serve with its sign-callback endpoint', () => {
  it('admits within the freshness window once a `.sig` push was reported, without reading the registry again', async () => {
    const repository = `serve/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const policiesDir = await scratch('serve-policies');
    await writeFile(join(policiesDir, 'policies.yaml'), policyFile(otherKey));
    const ca = await createTestCa();
    const serve = await startTrustgateServe({
      policiesDir,
      stateDir: await scratch('serve'),
      caFile: ca.caFile,
      env: { TRUSTGATE_CALLBACK_TOKEN: 'callback-token', TRUSTGATE_FRESHNESS: '1h' },
      extraArgs: ['--registry-host', host()],
    });
    try {
      const reference = `${host()}/${repository}@${image.digest}`;
      expect((await admitPodImage(serve, reference, 'default')).response.allowed).toBe(false);
      await cosignSign(repository, image, [releaseKey, otherKey]);
      const cached = await admitPodImage(serve, reference, 'default');
      expect(cached.response.allowed).toBe(false);
      expect(cached.response.status.message).toContain('COSIGN_SIGNATURE_INVALID');
      const event = await pushEvent(`serve-${repository}`, repository, `${image.digest.replace(':', '-')}.sig`, image.digest);
      const answer = await httpsRequest(`${serve.url}/functions/sign-callback`, serve.caPem, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: 'Bearer callback-token' },
        body: JSON.stringify(event),
      });
      expect(JSON.parse(answer.text)).toEqual({ outcomes: [{ id: `serve-${repository}`, outcome: 'signed' }] });
      const before = requestsFor(repository);
      const admitted = await admitPodImage(serve, reference, 'default');
      expect(admitted.response.allowed, admitted.response.status.message).toBe(true);
      expect(requestsFor(repository)).toBe(before);
    } finally {
      await serve.stop();
    }
  });

  it('denies a warm, admitted image at once once a `.sig` push replaced its signatures with ones the policy\'s key did not make', async () => {
    const repository = `serve-warm/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const policiesDir = await scratch('serve-warm-policies');
    await writeFile(join(policiesDir, 'policies.yaml'), policyFile(releaseKey));
    const ca = await createTestCa();
    const serve = await startTrustgateServe({
      policiesDir,
      stateDir: await scratch('serve-warm'),
      caFile: ca.caFile,
      env: { TRUSTGATE_CALLBACK_TOKEN: 'callback-token', TRUSTGATE_FRESHNESS: '1h' },
      extraArgs: ['--registry-host', host()],
    });
    try {
      const reference = `${host()}/${repository}@${image.digest}`;
      // Read (and its verdict kept), then answered from memory.
      for (let round = 0; round < 3; round += 1) expect((await admitPodImage(serve, reference, 'default')).response.allowed).toBe(true);
      await pushCosignSignatures(registry, repository, image.digest, [signPayload(otherKey, cosignPayload(`${host()}/${repository}`, image.digest))]);
      const event = await pushEvent(`serve-warm-${repository}`, repository, `${image.digest.replace(':', '-')}.sig`, image.digest);
      const answer = await httpsRequest(`${serve.url}/functions/sign-callback`, serve.caPem, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: 'Bearer callback-token' },
        body: JSON.stringify(event),
      });
      expect(answer.status, answer.text).toBe(200);
      const before = requestsFor(repository);
      const denied = await admitPodImage(serve, reference, 'default');
      expect(denied.response.allowed).toBe(false);
      expect(denied.response.status.message).toContain('COSIGN_SIGNATURE_INVALID');
      expect(requestsFor(repository)).toBe(before);
    } finally {
      await serve.stop();
    }
  });
});

// The value of one series (name and labels as rendered) on serve's /metrics, 0 when absent.
async function metricValue(serve: ServeProcess, series: string): Promise<number> {
  const answer = await httpsRequest(`${serve.url}/metrics`, serve.caPem);
  expect(answer.status).toBe(200);
  const line = answer.text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('trustgate serve counting its cosign cache in /metrics', () => {
  // serve with cosign policies for the proxied registry, `env` added.
  async function serveWith(env: Readonly<Record<string, string>>, extraArgs: readonly string[] = []): Promise<ServeProcess> {
    const policiesDir = await scratch('metrics-policies');
    await writeFile(join(policiesDir, 'policies.yaml'), policyFile(releaseKey));
    const ca = await createTestCa();
    return startTrustgateServe({ policiesDir, stateDir: await scratch('metrics'), caFile: ca.caFile, env, extraArgs });
  }

  it('counts a registry read as a miss and an answer from the cached signatures as a hit', async () => {
    const repository = `metrics/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const serve = await serveWith({ TRUSTGATE_FRESHNESS: '1h' });
    try {
      const reference = `${host()}/${repository}:v1`;
      expect((await admitPodImage(serve, reference, 'default')).response.allowed).toBe(true);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(1);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="hit"}')).toBe(0);
      const reads = requestsFor(repository);
      expect((await admitPodImage(serve, reference, 'default')).response.allowed).toBe(true);
      expect(requestsFor(repository)).toBe(reads);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="hit"}')).toBe(1);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(1);
      expect(await metricValue(serve, 'trustgate_store_errors_total{operation="read"}')).toBe(0);
      expect(await metricValue(serve, 'trustgate_store_errors_total{operation="write"}')).toBe(0);
    } finally {
      await serve.stop();
    }
  });

  it('counts an answer from the cached signatures while the registry is down as stale', async () => {
    const repository = `metrics-stale/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    // Freshness 0: every admission reads the registry, and the cache answers only in an outage.
    const serve = await serveWith({ TRUSTGATE_FRESHNESS: '0s', TRUSTGATE_MAX_STALE: '1h' });
    try {
      const reference = `${host()}/${repository}:v1`;
      expect((await admitPodImage(serve, reference, 'default')).response.allowed).toBe(true);
      registryDown = true;
      const stale = await admitPodImage(serve, reference, 'default');
      expect(stale.response.allowed, stale.response.status.message).toBe(true);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="stale"}')).toBe(1);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(2);
    } finally {
      await serve.stop();
    }
  });

  it('counts the reads and writes of a store that does not answer as store errors, and still admits from the registry', async () => {
    const repository = `metrics-store/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const nowhere = `http://127.0.0.1:${await getFreePort()}`;
    const serve = await serveWith({ ...dynamo.clientEnv, TRUSTGATE_STATE_KEY: randomBytes(32).toString('hex') }, ['--dynamodb-table', 'trustgate-state', '--dynamodb-endpoint', nowhere]);
    try {
      const answer = await admitPodImage(serve, `${host()}/${repository}:v1`, 'default');
      expect(answer.response.allowed, answer.response.status.message).toBe(true);
      expect(await metricValue(serve, 'trustgate_store_errors_total{operation="read"}')).toBeGreaterThan(0);
      expect(await metricValue(serve, 'trustgate_store_errors_total{operation="write"}')).toBeGreaterThan(0);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(1);
    } finally {
      await serve.stop();
    }
  });
});

describe('trustgate serve answering a cosign admission from memory', () => {
  // Policies for the proxied registry, one ImagePolicy per namespace, so one serve asks for
  // the same image under two keys: the release key in `release`, the other in `other`.
  function namespacedPolicies(): string {
    const policy = (namespace: string, key: CosignKeyPair): string =>
      [
        'apiVersion: portieris.cloud.ibm.com/v1',
        'kind: ImagePolicy',
        `metadata: {name: cosign-memo, namespace: ${namespace}}`,
        'spec:',
        '  repositories:',
        `    - name: "${host()}/*"`,
        '      policy: {sigstore: {authorities: [{key: {secretName: signing-key}}]}}',
        '---',
        cosignKeySecretYaml('signing-key', namespace, key.publicKeyPem),
      ].join('\n');
    return `${policy('release', releaseKey)}\n---\n${policy('other', otherKey)}`;
  }

  // The times serve checked cosign signatures (its verifier logs each check that admits),
  // once the decision lines of `decisions` admissions are written.
  async function checksAfter(serve: ServeProcess, decisions: number): Promise<number> {
    const lines = (text: string): string[] => text.split('\n').filter((line) => line.trim() !== '');
    await eventuallyShowing(() => serve.output())(`${decisions} admission decisions logged`, () =>
      Promise.resolve(lines(serve.output()).filter((line) => line.includes('"admission decision"')).length >= decisions),
    );
    return lines(serve.output()).filter((line) => line.includes('"cosign signatures verified"')).length;
  }

  it('answers the second admission of an image from the verdict of the verification that read the registry, without checking again', async () => {
    const repository = `memo/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const policiesDir = await scratch('memo-policies');
    await writeFile(join(policiesDir, 'policies.yaml'), namespacedPolicies());
    const ca = await createTestCa();
    const serve = await startTrustgateServe({ policiesDir, stateDir: await scratch('memo'), caFile: ca.caFile, env: { TRUSTGATE_FRESHNESS: '1h' } });
    try {
      const reference = `${host()}/${repository}:v1`;
      expect((await admitPodImage(serve, reference, 'release')).response.allowed).toBe(true);
      expect(await checksAfter(serve, 1)).toBe(1);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(1);
      const reads = requestsFor(repository);
      for (let round = 0; round < 2; round += 1) {
        const admitted = await admitPodImage(serve, reference, 'release');
        expect(admitted.response.allowed, admitted.response.status.message).toBe(true);
        expect(Buffer.from(admitted.response.patch ?? '', 'base64').toString('utf8')).toContain(image.digest);
      }
      expect(requestsFor(repository)).toBe(reads);
      expect(await checksAfter(serve, 3)).toBe(1);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="hit"}')).toBe(2);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="miss"}')).toBe(1);
    } finally {
      await serve.stop();
    }
  });

  it('does not answer for another key with the verdict a first verification kept under one key', async () => {
    const repository = `memo-key/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const policiesDir = await scratch('memo-key-policies');
    await writeFile(join(policiesDir, 'policies.yaml'), namespacedPolicies());
    const ca = await createTestCa();
    const serve = await startTrustgateServe({ policiesDir, stateDir: await scratch('memo-key'), caFile: ca.caFile, env: { TRUSTGATE_FRESHNESS: '1h' } });
    try {
      const reference = `${host()}/${repository}:v1`;
      expect((await admitPodImage(serve, reference, 'release')).response.allowed).toBe(true);
      const reads = requestsFor(repository);
      const denied = await admitPodImage(serve, reference, 'other');
      expect(denied.response.allowed).toBe(false);
      expect(denied.response.status.message).toContain('COSIGN_SIGNATURE_INVALID');
      // Checked again, under the other key, from the recorded signatures.
      expect(requestsFor(repository)).toBe(reads);
      expect(await metricValue(serve, 'trustgate_cache_requests_total{result="hit"}')).toBe(0);
      expect((await admitPodImage(serve, reference, 'release')).response.allowed).toBe(true);
      expect(await checksAfter(serve, 3)).toBe(1);
    } finally {
      await serve.stop();
    }
  });
});

describe('trustgate verify --cosign-key with its state directory', () => {
  function verify(stateDir: string, image: string, key: CosignKeyPair): Promise<TrustgateRun> {
    return runTrustgate(['verify', image, '--cosign-key', key.publicKeyFile, '--freshness', '1h', '--json'], { stateDir });
  }

  it('denies under a new key without the registry, though the old key\'s answer is cached', async () => {
    const repository = `cli/${randomBytes(3).toString('hex')}`;
    const image = await push(repository);
    await cosignSign(repository, image, [releaseKey]);
    const stateDir = await scratch('cli');
    const allowed = await verify(stateDir, `${host()}/${repository}:v1`, releaseKey);
    expect(allowed.json, allowed.stderr).toMatchObject({ allowed: true, digest: image.digest });
    const before = requestsFor(repository);
    const again = await verify(stateDir, `${host()}/${repository}:v1`, releaseKey);
    expect(again.json, again.stderr).toMatchObject({ allowed: true, digest: image.digest });
    const denied = await verify(stateDir, `${host()}/${repository}:v1`, otherKey);
    expect(denied.json, denied.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
    expect(requestsFor(repository)).toBe(before);
  });

  describe('when a writer of the state directory plants another image\'s entry', () => {
    it('refuses it: the unsigned image is denied, from the registry, and never answered from the planted entry while the registry is down', async () => {
      const signed = `cli-signed/${randomBytes(3).toString('hex')}`;
      const unsigned = `cli-unsigned/${randomBytes(3).toString('hex')}`;
      const signedImage = await push(signed);
      const unsignedImage = await push(unsigned);
      await cosignSign(signed, signedImage, [releaseKey]);
      const stateDir = await scratch('attack');
      expect((await verify(stateDir, `${host()}/${signed}:v1`, releaseKey)).json).toMatchObject({ allowed: true });
      expect((await verify(stateDir, `${host()}/${unsigned}:v1`, releaseKey)).json).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
      // The signed image's genuine entries (MAC included), copied under the unsigned image's keys.
      const db = new Database(join(stateDir, 'trustgate.db'));
      try {
        const copy = db.prepare('INSERT INTO kv (k, v, ver, exp) SELECT ?, v, ver, exp FROM kv WHERE k = ? ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = excluded.ver, exp = excluded.exp');
        copy.run(cosignSignaturesKey(host(), unsigned, unsignedImage.digest), cosignSignaturesKey(host(), signed, signedImage.digest));
        copy.run(cosignTagKey(host(), unsigned, 'v1'), cosignTagKey(host(), signed, 'v1'));
      } finally {
        db.close();
      }
      const before = requestsFor(unsigned);
      const denied = await verify(stateDir, `${host()}/${unsigned}:v1`, releaseKey);
      expect(denied.json, denied.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
      expect(requestsFor(unsigned)).toBeGreaterThan(before);

      const db2 = new Database(join(stateDir, 'trustgate.db'));
      try {
        db2.prepare('INSERT INTO kv (k, v, ver, exp) SELECT ?, v, ver, exp FROM kv WHERE k = ? ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = excluded.ver, exp = excluded.exp').run(
          cosignSignaturesKey(host(), unsigned, unsignedImage.digest),
          cosignSignaturesKey(host(), signed, signedImage.digest),
        );
      } finally {
        db2.close();
      }
      registryDown = true;
      const outage = await verify(stateDir, `${host()}/${unsigned}@${unsignedImage.digest}`, releaseKey);
      expect(outage.json, outage.stderr).toMatchObject({ allowed: false, codes: ['REGISTRY_UNAVAILABLE'] });
    });

    it('refuses an altered entry and reads the registry again', async () => {
      const repository = `cli-altered/${randomBytes(3).toString('hex')}`;
      const image = await push(repository);
      await cosignSign(repository, image, [releaseKey]);
      const stateDir = await scratch('altered');
      expect((await verify(stateDir, `${host()}/${repository}:v1`, releaseKey)).json).toMatchObject({ allowed: true });
      const db = new Database(join(stateDir, 'trustgate.db'));
      try {
        const key = cosignSignaturesKey(host(), repository, image.digest);
        const row = db.prepare<{ v: Buffer }>('SELECT v FROM kv WHERE k = ?').get(key);
        if (row === undefined) throw new Error('nothing cached for the image');
        const altered = Buffer.from(row.v);
        altered.writeUInt8(altered.readUInt8(altered.length - 5) ^ 1, altered.length - 5);
        db.prepare('UPDATE kv SET v = ? WHERE k = ?').run(altered, key);
      } finally {
        db.close();
      }
      const before = requestsFor(repository);
      const again = await verify(stateDir, `${host()}/${repository}:v1`, releaseKey);
      expect(again.json, again.stderr).toMatchObject({ allowed: true, digest: image.digest });
      expect(requestsFor(repository)).toBeGreaterThan(before);
    });
  });
});
