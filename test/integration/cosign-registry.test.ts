// cosign signatures in the real docker-registry: images pushed the way docker does, classic
// signatures written byte-exact as cosign writes them, verified through `trustgate verify
// --cosign-key`, `trustgate verify --policies` and `trustgate serve`'s /admit, beside Notary
// (the real notary-server) with `verification.mode` all and any.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

let env: TrustEnvironment;
let registry: DockerRegistry;
let serve: ServeProcess;
let releaseKey: CosignKeyPair;
let otherKey: CosignKeyPair;
let policiesDir: string;
// The registry as seen through a network attacker who rewrites its answers.
let proxy: TamperProxy;

// The platform manifest of cosign/platform-signed, the only one of its manifests signed.
let platformOnly = '';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

// Repository -> the image pushed at tag v1.
const images = new Map<string, PushedImage>();

function reference(repository: string): string {
  return `${registry.host}/${repository}`;
}

async function push(repository: string): Promise<PushedImage> {
  const image = await pushImage(registry, repository, 'v1');
  images.set(repository, image);
  return image;
}

// Pushes an OCI index over one amd64 image at tag v1 of `repository`, records the index as
// the repository's image, and answers the platform manifest's digest.
async function pushIndexOverOnePlatform(repository: string): Promise<string> {
  const platform = await pushImage(registry, repository, 'amd64');
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: platform.size, digest: platform.digest, platform: { architecture: 'amd64', os: 'linux' } }],
    }),
  );
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/v1`, { method: 'PUT', headers: { 'content-type': OCI_INDEX }, body: index });
  if (put.status !== 201) throw new Error(`index PUT: expected 201, got ${put.status}`);
  images.set(repository, { digest: sha256(index), size: index.length });
  return platform.digest;
}

async function cosignSign(repository: string, key: CosignKeyPair = releaseKey): Promise<void> {
  const digest = images.get(repository)?.digest ?? '';
  await pushCosignSignatures(registry, repository, digest, [signPayload(key, cosignPayload(reference(repository), digest))]);
}

async function notarySign(repository: string): Promise<void> {
  const image = images.get(repository);
  if (image === undefined) throw new Error(`${repository} was not pushed`);
  const gun = reference(repository);
  await env.scenarios.cli.init(gun);
  await env.scenarios.cli.addHash(gun, 'v1', image.size, image.digest.slice('sha256:'.length));
  await env.scenarios.cli.publish(gun);
}

function policies(trustServer: string, keyPem: string): string {
  const host = registry.host;
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign-lab}
spec:
  repositories:
    - name: "${host}/cosign/*"
      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}
    - name: "${host}/any/*"
      policy:
        trust: {enabled: true, trustServer: "${trustServer}"}
        sigstore: {authorities: [{key: {secretName: release-key}}]}
        verification: {mode: any}
    - name: "${host}/all/*"
      policy:
        trust: {enabled: true, trustServer: "${trustServer}"}
        sigstore: {authorities: [{key: {secretName: release-key}}]}
---
apiVersion: v1
kind: Secret
metadata: {name: release-key, namespace: default}
stringData:
  cosign.pub: |
${keyPem.trim().split('\n').map((line) => `    ${line}`).join('\n')}
`;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  const keysDir = await env.makeDir('keys');
  releaseKey = await createCosignKey(keysDir, 'release');
  otherKey = await createCosignKey(keysDir, 'other');

  for (const repository of ['cosign/signed', 'cosign/unsigned', 'cosign/wrong-key', 'cosign/copied', 'cosign/tampered', 'any/notary-only', 'any/cosign-only', 'any/unsigned', 'all/both', 'all/cosign-only']) {
    await push(repository);
  }
  for (const repository of ['cosign/signed', 'any/cosign-only', 'all/both', 'all/cosign-only']) await cosignSign(repository);
  // More signature layers than a verification looks at, all genuine.
  const many = await push('cosign/many');
  const manySignature = signPayload(releaseKey, cosignPayload(reference('cosign/many'), many.digest));
  await pushCosignSignatures(registry, 'cosign/many', many.digest, Array.from({ length: 33 }, () => manySignature));
  proxy = await startTamperProxy({ upstream: { url: registry.url } });
  // A multi-arch image: an OCI index over one platform image, signed at the index digest.
  await pushIndexOverOnePlatform('cosign/multi-arch');
  await cosignSign('cosign/multi-arch');
  // A multi-arch image whose platform manifest alone is signed (its own digest claimed).
  platformOnly = await pushIndexOverOnePlatform('cosign/platform-signed');
  await pushCosignSignatures(registry, 'cosign/platform-signed', platformOnly, [signPayload(releaseKey, cosignPayload(reference('cosign/platform-signed'), platformOnly))]);
  await cosignSign('cosign/wrong-key', otherKey);
  for (const repository of ['any/notary-only', 'all/both']) await notarySign(repository);

  // A genuine signature of cosign/signed, copied under cosign/copied's signature tag.
  const signedDigest = images.get('cosign/signed')?.digest ?? '';
  const copiedDigest = images.get('cosign/copied')?.digest ?? '';
  await pushCosignSignatures(registry, 'cosign/copied', copiedDigest, [signPayload(releaseKey, cosignPayload(reference('cosign/signed'), signedDigest))]);
  // A payload changed after signing: the claim now names this image, the signature is the old one's.
  const tamperedDigest = images.get('cosign/tampered')?.digest ?? '';
  const genuine = signPayload(releaseKey, cosignPayload(reference('cosign/tampered'), signedDigest));
  await pushCosignSignatures(registry, 'cosign/tampered', tamperedDigest, [{ payload: cosignPayload(reference('cosign/tampered'), tamperedDigest), signature: genuine.signature }]);

  policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'cosign.yaml'), policies(env.server.url, releaseKey.publicKeyPem));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await serve?.stop();
  await registry?.stop();
  await env?.stop();
});

async function verifyWithKey(repository: string, keyFile = releaseKey.publicKeyFile): Promise<TrustgateRun> {
  return runTrustgate(['verify', `${reference(repository)}:v1`, '--cosign-key', keyFile, '--json'], { stateDir: await env.makeDir('state'), caFile: env.caFile });
}

async function verifyWithPolicies(repository: string): Promise<TrustgateRun> {
  return runTrustgate(['verify', `${reference(repository)}:v1`, '--policies', policiesDir, '--json'], { stateDir: await env.makeDir('state'), caFile: env.caFile });
}

interface AdmitAnswer {
  response: { allowed: boolean; status?: { message: string }; patchType?: string; patch?: string };
}

async function admit(repository: string): Promise<AdmitAnswer> {
  const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${reference(repository)}:v1` }] }));
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(reviewFor('Pod', object)) });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as AdmitAnswer;
}

function patchOf(answer: AdmitAnswer): unknown {
  return JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8'));
}

describe('trustgate verify --cosign-key against the real registry', () => {
  it('allows an image signed with the key and answers its manifest digest', async () => {
    const run = await verifyWithKey('cosign/signed');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get('cosign/signed')?.digest, signers: ['cosign:release.pub'], verifiedBy: ['cosign'] });
    expect(run.exitCode).toBe(0);
  });

  it('allows the image pinned by its digest', async () => {
    const digest = images.get('cosign/signed')?.digest ?? '';
    const run = await runTrustgate(['verify', `${reference('cosign/signed')}@${digest}`, '--cosign-key', releaseKey.publicKeyFile, '--json'], { stateDir: await env.makeDir('state') });
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest });
  });

  it('denies a multi-arch image whose platform manifest alone is signed: that signature never trusts the index', async () => {
    const run = await verifyWithKey('cosign/platform-signed');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
  });

  it('allows the signed platform manifest itself, named by its digest', async () => {
    const run = await runTrustgate(['verify', `${reference('cosign/platform-signed')}@${platformOnly}`, '--cosign-key', releaseKey.publicKeyFile, '--json'], { stateDir: await env.makeDir('state'), caFile: env.caFile });
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: platformOnly });
  });

  it('allows a multi-arch image signed at its index digest, and answers that digest', async () => {
    const run = await verifyWithKey('cosign/multi-arch');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get('cosign/multi-arch')?.digest });
  });

  it('denies an unsigned image', async () => {
    const run = await verifyWithKey('cosign/unsigned');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
    expect(run.exitCode).not.toBe(0);
  });

  it('denies an image signed with another key', async () => {
    expect((await verifyWithKey('cosign/wrong-key')).json).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
    expect((await verifyWithKey('cosign/signed', otherKey.publicKeyFile)).json).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
  });

  it('denies a genuine signature copied from another image', async () => {
    expect((await verifyWithKey('cosign/copied')).json).toMatchObject({ allowed: false, codes: ['COSIGN_DIGEST_MISMATCH'] });
  });

  it('denies a payload changed after signing', async () => {
    expect((await verifyWithKey('cosign/tampered')).json).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
  });

  it('denies an image the registry does not have', async () => {
    const run = await runTrustgate(['verify', `${reference('cosign/absent')}:v1`, '--cosign-key', releaseKey.publicKeyFile, '--json'], { stateDir: await env.makeDir('state') });
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['IMAGE_NOT_FOUND'] });
  });
});

describe('trustgate verify --cosign-key against a hostile registry', () => {
  const throughProxy = async (repository: string): Promise<TrustgateRun> => {
    const host = new URL(proxy.url).host;
    return runTrustgate(['verify', `${host}/${repository}:v1`, '--cosign-key', releaseKey.publicKeyFile, '--json'], { stateDir: await env.makeDir('state') });
  };

  it('refuses a manifest whose bytes are not the digest the registry claims', async () => {
    proxy.reset();
    proxy.onResponse((response) => (response.path.endsWith('/manifests/v1') ? { body: Buffer.concat([response.body, Buffer.from(' ')]) } : undefined));
    expect((await throughProxy('cosign/signed')).json).toMatchObject({ allowed: false, codes: ['REGISTRY_DIGEST_MISMATCH'] });
  });

  it('refuses a payload blob swapped for other bytes', async () => {
    proxy.reset();
    proxy.onResponse((response) => (response.path.includes('/blobs/') ? { body: Buffer.from(response.body.toString('utf8').replace('null', '{}')) } : undefined));
    expect((await throughProxy('cosign/signed')).json).toMatchObject({ allowed: false, codes: ['REGISTRY_DIGEST_MISMATCH'] });
  });

  it('stops reading an endless manifest at the size cap', async () => {
    proxy.reset();
    proxy.onResponse((response) => (response.path.endsWith('/manifests/v1') ? { body: Buffer.alloc(5 * 1024 * 1024, 0x20), chunked: true } : undefined));
    expect((await throughProxy('cosign/signed')).json).toMatchObject({ allowed: false, codes: ['REGISTRY_RESPONSE_TOO_LARGE'] });
  });

  it('refuses a signature manifest replaced by garbage (its bytes are not the digest claimed)', async () => {
    proxy.reset();
    proxy.onResponse((response) => (response.path.endsWith('.sig') ? { status: 200, body: Buffer.from('<html>') } : undefined));
    const run = await throughProxy('cosign/signed');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['REGISTRY_DIGEST_MISMATCH'] });
  });

  it('looks at no more than 32 signature layers', async () => {
    expect((await verifyWithKey('cosign/many')).json).toMatchObject({ allowed: false, codes: ['REGISTRY_RESPONSE_TOO_LARGE'] });
  });
});

describe('trustgate verify --policies with sigstore and Notary', () => {
  it('admits with mode any on Notary alone and on cosign alone, naming the kind', async () => {
    expect((await verifyWithPolicies('any/notary-only')).json).toMatchObject({ allowed: true, digest: images.get('any/notary-only')?.digest, verifiedBy: ['notary'] });
    expect((await verifyWithPolicies('any/cosign-only')).json).toMatchObject({ allowed: true, digest: images.get('any/cosign-only')?.digest, verifiedBy: ['cosign'] });
  });

  it('denies with mode any when neither kind passes, giving both reasons', async () => {
    const run = await verifyWithPolicies('any/unsigned');
    expect(run.json, run.stderr).toMatchObject({ allowed: false });
    expect(run.json?.codes).toContain('COSIGN_SIGNATURE_MISSING');
    expect(run.json?.codes).toHaveLength(2);
  });

  it('requires both kinds with mode all', async () => {
    expect((await verifyWithPolicies('all/both')).json).toMatchObject({ allowed: true, digest: images.get('all/both')?.digest, verifiedBy: ['notary', 'cosign'] });
    const cosignOnly = await verifyWithPolicies('all/cosign-only');
    expect(cosignOnly.json, cosignOnly.stderr).toMatchObject({ allowed: false });
    expect(cosignOnly.json?.codes).toHaveLength(1);
  });
});

describe('trustgate serve /admit with sigstore policies', () => {
  it('allows a cosign-signed image and pins it to the signed digest', async () => {
    const answer = await admit('cosign/signed');
    expect(answer.response.allowed, answer.response.status?.message).toBe(true);
    expect(patchOf(answer)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: `${reference('cosign/signed')}@${images.get('cosign/signed')?.digest}` }]);
  });

  it.each(['cosign/unsigned', 'cosign/wrong-key', 'cosign/copied', 'cosign/tampered', 'any/unsigned', 'all/cosign-only'])('denies %s', async (repository) => {
    const answer = await admit(repository);
    expect(answer.response.allowed).toBe(false);
    expect(answer.response).not.toHaveProperty('patch');
  });

  it('allows with mode any on Notary alone and on cosign alone, and pins each', async () => {
    for (const repository of ['any/notary-only', 'any/cosign-only', 'all/both']) {
      const answer = await admit(repository);
      expect(answer.response.allowed, `${repository}: ${answer.response.status?.message}`).toBe(true);
      expect(patchOf(answer)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: `${reference(repository)}@${images.get(repository)?.digest}` }]);
    }
  });

  it('names the admitting kind in the decision log', async () => {
    await admit('any/cosign-only');
    const line = serve.output().split('\n').find((text) => text.includes(reference('any/cosign-only')) && text.includes('verifiedBy'));
    expect(line).toContain('"verifiedBy":["cosign"]');
  });

  it('refuses cosign keys a caller sends to the verify-image function', async () => {
    const body = JSON.stringify({ image: `${reference('cosign/wrong-key')}:v1`, cosign: { keys: [{ name: 'mine', publicKey: otherKey.publicKeyPem }] } });
    const answer = await httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'REQUEST_INVALID', problems: [{ path: 'cosign.keys' }] } });
  });

  it('answers the verify-image function with the kind that admitted', async () => {
    const answer = await httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body: JSON.stringify({ image: `${reference('any/notary-only')}:v1`, namespace: 'default' }) });
    expect(JSON.parse(answer.text)).toMatchObject({ allowed: true, verifiedBy: ['notary'], digest: images.get('any/notary-only')?.digest });
  });
});
