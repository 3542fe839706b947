// Concurrent cosign verifications of one image share one registry read: against the real
// docker-registry behind a proxy that counts every request, eight verify-image calls started
// together make exactly the requests one verification makes. Against the real
// docker-registry in token mode (a private registry), verifications with other credentials
// never share a read: a workload with a refused pull secret, or none, is denied while one
// with the working pull secret is admitted, all started together.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { buildVerifyImageDeps } from '../../functions/platform/runtime-deps.js';
import { createVerifyImageHandler } from '../../functions/verify-image/handler.js';
import { createMemoryStore } from '../../shared/cache/memory-store.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { parseImageReference } from '../../shared/image/reference.js';
import { silentLogger } from '../../shared/ports.js';
import { createCredentialKeyring } from '../../shared/registry/credential-keyring.js';
import { createAnonymousCosignVerifier } from '../../shared/trust/cosign/cosign-verifier.js';
import { createCosignSignatureCache } from '../../shared/trust/cosign/signature-cache.js';
import type { CosignRequirement, VerifiedImage } from '../../shared/trust/verifier.js';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { clockFrom } from '../support/clocks.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { startPrivateRegistry, type PrivateRegistry } from './support/private-registry.js';
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const START = Date.parse('2031-06-01T00:00:00Z');
const CONCURRENT = 8;

let dir: string;
let registry: DockerRegistry;
// The registry as trustgate sees it: every request recorded.
let proxy: TamperProxy;
let key: CosignKeyPair;
let policies: string;

function host(): string {
  return new URL(proxy.url).host;
}

// Registry requests about `repository` so far.
function requestsFor(repository: string): number {
  return proxy.requests.filter((path) => path.startsWith(`/v2/${repository}/`)).length;
}

// A new repository holding one image signed with `key`.
async function signedImage(prefix: string): Promise<string> {
  const repository = `${prefix}/${randomBytes(3).toString('hex')}`;
  const image = await pushImage(registry, repository, 'v1');
  await pushCosignSignatures(registry, repository, image.digest, [signPayload(key, cosignPayload(`${host()}/${repository}`, image.digest))]);
  return repository;
}

// One verify-image container (its own memory, an embedded SQLite store of its own).
async function container(): Promise<(image: string) => Promise<VerifyImageResponse>> {
  const stateDir = await makeTempDir('coalescing-state');
  const deps = buildVerifyImageDeps({ TRUSTGATE_STATE_DIR: stateDir, TRUSTGATE_POLICIES: policies, TRUSTGATE_FRESHNESS: '30s' }, clockFrom(() => START));
  const handle = createVerifyImageHandler(deps);
  return async (image) => {
    const response = await handle({ image, namespace: 'default' });
    expect(response.statusCode, JSON.stringify(response.body)).toBe(200);
    return response.body as VerifyImageResponse;
  };
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  dir = await makeTempDir('cosign-coalescing');
  registry = await startDockerRegistry();
  proxy = await startTamperProxy({ upstream: { url: registry.url } });
  key = await createCosignKey(dir, 'release');
  policies = join(dir, 'policies.yaml');
  await writeFile(
    policies,
    [
      'apiVersion: portieris.cloud.ibm.com/v1',
      'kind: ClusterImagePolicy',
      'metadata: {name: coalescing}',
      'spec:',
      '  repositories:',
      `    - name: "${host()}/*"`,
      '      policy: {sigstore: {authorities: [{key: {secretName: signing-key}}]}}',
      '---',
      cosignKeySecretYaml('signing-key', 'default', key.publicKeyPem),
    ].join('\n'),
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (dir !== undefined) await removeDir(dir);
});

describe('concurrent verifications of one image in one verify-image container', () => {
  it('make the registry requests of a single verification', async () => {
    const single = await signedImage('single');
    const alone = await container();
    expect(await alone(`${host()}/${single}:v1`)).toMatchObject({ allowed: true });
    const oneRead = requestsFor(single);
    expect(oneRead).toBeGreaterThan(0);

    const shared = await signedImage('shared');
    const verify = await container();
    // Policies read and the signature checker loaded, so the concurrent calls start together.
    expect(await verify(`${host()}/${await signedImage('warm-up')}:v1`)).toMatchObject({ allowed: true });
    const answers = await Promise.all(Array.from({ length: CONCURRENT }, () => verify(`${host()}/${shared}:v1`)));
    for (const answer of answers) expect(answer).toMatchObject({ allowed: true, signers: ['cosign:key/signing-key'] });
    expect(requestsFor(shared)).toBe(oneRead);
  });

  it('of other tags of one repository read each tag', async () => {
    const repository = await signedImage('tags');
    const image = await pushImage(registry, repository, 'v2');
    await pushCosignSignatures(registry, repository, image.digest, [signPayload(key, cosignPayload(`${host()}/${repository}`, image.digest))]);
    const verify = await container();
    expect(await verify(`${host()}/${await signedImage('warm-up')}:v1`)).toMatchObject({ allowed: true });
    const [v1, v2] = await Promise.all([verify(`${host()}/${repository}:v1`), verify(`${host()}/${repository}:v2`)]);
    expect(v1).toMatchObject({ allowed: true });
    expect(v2).toMatchObject({ allowed: true, digest: image.digest });
    expect(v1.digest).not.toBe(v2.digest);
  });
});

describe('concurrent verifications of a private image with different credentials', () => {
  let privateRegistry: PrivateRegistry;
  let privateProxy: TamperProxy;

  beforeAll(async () => {
    privateRegistry = await startPrivateRegistry();
    privateProxy = await startTamperProxy({ upstream: { url: privateRegistry.registry.url } });
  }, 60_000);

  afterAll(async () => {
    await privateProxy?.stop();
    await privateRegistry?.stop();
  });

  it('never let one workload\'s credentials read for another: only the working pull secret admits', async () => {
    const proxyHost = new URL(privateProxy.url).host;
    const fetch = createNodeFetch({ ca: await readFile(privateRegistry.ca.caFile, 'utf8') });
    const cache = createCosignSignatureCache(createMemoryStore({ clock: clockFrom(() => START) }), { retainMs: 60_000 });
    const verifier = createAnonymousCosignVerifier(fetch, silentLogger, () => START, undefined, [new URL(privateRegistry.tokens.realm).host], { store: cache, freshnessMs: 30_000, maxStaleMs: 30_000 });
    const requirement: CosignRequirement = { kind: 'cosign', authorities: [{ name: 'release', publicKeyPem: privateRegistry.key.publicKeyPem }], threshold: 1 };
    const image = parseImageReference(`${proxyHost}/private/app:v1`);
    const credentials = (password: string, name: string) =>
      createCredentialKeyring([{ key: proxyHost, credential: { username: privateRegistry.username, password }, source: `Secret team/${name}` }]);
    const working = credentials(privateRegistry.password, 'regcred');
    const refused = credentials(privateRegistry.wrongPassword, 'wrongcred');
    const outcome = (verified: Promise<VerifiedImage>): Promise<string> => verified.then((answer) => `allowed ${answer.digest}`, (error: { code?: string }) => `denied ${error.code ?? 'bug'}`);
    const at = new Date(START);
    const outcomes = await Promise.all([
      outcome(verifier.verify(image, requirement, at, undefined, refused)),
      outcome(verifier.verify(image, requirement, at)),
      outcome(verifier.verify(image, requirement, at, undefined, working)),
      outcome(verifier.verify(image, requirement, at, undefined, refused)),
      outcome(verifier.verify(image, requirement, at, undefined, working)),
      outcome(verifier.verify(image, requirement, at)),
    ]);
    const admitted = `allowed ${privateRegistry.signed.digest}`;
    expect(outcomes).toEqual([
      'denied REGISTRY_CREDENTIALS_REJECTED',
      expect.stringMatching(/^denied /),
      admitted,
      'denied REGISTRY_CREDENTIALS_REJECTED',
      admitted,
      expect.stringMatching(/^denied /),
    ]);
    // Once admitted, the others are still refused: the material stays with its credentials.
    expect(await outcome(verifier.verify(image, requirement, at, undefined, refused))).toBe('denied REGISTRY_CREDENTIALS_REJECTED');
    expect(await outcome(verifier.verify(image, requirement, at))).toMatch(/^denied /);
  });
});
