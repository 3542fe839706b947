// Sigstore signatures in the real docker-registry beyond classic key signatures: cosign v3
// bundles (made by @sigstore/sign with the test's key) pushed as OCI artifacts and found through
// the referrers tag (distribution 2.8 has no referrers API), and keyless classic signatures from
// a test Fulcio CA and Rekor key, checked against a trusted root a Secret names. Each case is
// answered through `trustgate verify` and through serve's /admit (pinning the digest).
import { sign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { bundleArtifact, keyBundle, statementFor, type Artifact } from '../support/sigstore-bundles.js';
import { cosignPayload, createCosignKey, pushBundleReferrers, pushCosignSignatures, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { createSigstoreLab, type SigstoreLab } from './support/sigstore-lab.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const ISSUER = 'https://token.actions.test.invalid';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

let dir: string;
let ca: TestCa;
let registry: DockerRegistry;
let serve: ServeProcess;
let lab: SigstoreLab;
let releaseKey: CosignKeyPair;
let otherKey: CosignKeyPair;
let policiesDir: string;
const images = new Map<string, PushedImage>();
// Keyless classic signatures carrying cosign's RFC 3161 timestamp annotation.
const TIMESTAMPED: ReadonlyArray<readonly [string, TimestampKind]> = [
  ['keyless/timestamped', 'trusted'],
  ['keyless/rogue-tsa', 'rogue'],
  ['keyless/timestamp-of-other-bytes', 'of-other-bytes'],
  ['keyless/malformed-timestamp', 'malformed'],
];

const reference = (repository: string): string => `${registry.host}/${repository}`;
const subjectOf = (image: PushedImage) => ({ digest: image.digest, size: image.size, mediaType: DOCKER_MANIFEST });

async function push(repository: string): Promise<PushedImage> {
  const image = await pushImage(registry, repository, 'v1');
  images.set(repository, image);
  return image;
}

async function v3Signed(image: PushedImage, key: CosignKeyPair = releaseKey, predicate?: string): Promise<Artifact> {
  return bundleArtifact(await keyBundle(key.privateKey, key.publicKeyPem, statementFor(image.digest, predicate)), subjectOf(image));
}

// cosign's RFC 3161 timestamp annotation on a keyless signature: from the root's TSA, from a
// TSA the root does not name, a genuine timestamp of other bytes, or not a timestamp at all.
type TimestampKind = 'trusted' | 'rogue' | 'of-other-bytes' | 'malformed';

async function timestampAnnotation(signature: Buffer, kind: TimestampKind): Promise<string> {
  switch (kind) {
    case 'trusted':
      return lab.timestampAnnotation(signature);
    case 'rogue':
      return lab.timestampAnnotation(signature, 'rogue');
    case 'of-other-bytes':
      return lab.timestampAnnotation(Buffer.from('another signature'));
    case 'malformed':
      return JSON.stringify({ SignedRFC3161Timestamp: Buffer.from('not a timestamp').toString('base64') });
  }
}

// A keyless classic signature of `repository`'s image by a certificate for `subject`.
async function keylessSign(repository: string, subject = IDENTITY, digest = images.get(repository)?.digest ?? '', timestamp?: TimestampKind): Promise<void> {
  const { certificatePem, privateKey } = await lab.issue(subject, ISSUER);
  const payload = cosignPayload(reference(repository), digest);
  const signature = sign('sha256', payload, privateKey).toString('base64');
  const annotations: Record<string, string> = { 'dev.sigstore.cosign/certificate': certificatePem, 'dev.sigstore.cosign/chain': lab.caPem, 'dev.sigstore.cosign/bundle': lab.rekorBundle(payload, signature, certificatePem) };
  if (timestamp !== undefined) annotations['dev.sigstore.cosign/rfc3161timestamp'] = await timestampAnnotation(Buffer.from(signature, 'base64'), timestamp);
  await pushCosignSignatures(registry, repository, images.get(repository)?.digest ?? '', [{ payload, signature, annotations }]);
}

function indent(text: string, spaces: number): string {
  return text.trim().split('\n').map((line) => `${' '.repeat(spaces)}${line}`).join('\n');
}

function policies(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: sigstore-lab}
spec:
  repositories:
    - name: "${registry.host}/v3/*"
      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}
    - name: "${registry.host}/keyless/*"
      policy:
        sigstore:
          authorities:
            - keyless:
                trustRootSecretName: lab-root
                identities: [{issuer: "${ISSUER}", subjectRegExp: 'https://github\\.com/acme/.+'}]
---
${cosignKeySecretYaml('release-key', 'default', releaseKey.publicKeyPem)}
---
apiVersion: v1
kind: Secret
metadata: {name: lab-root, namespace: default}
stringData:
  trusted_root.json: |
${indent(JSON.stringify(lab.trustedRoot), 4)}
`;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  dir = await makeTempDir('sigstore-lab');
  ca = await createTestCa();
  registry = await startDockerRegistry();
  await mkdir(join(dir, 'keys'));
  await mkdir(join(dir, 'lab'));
  releaseKey = await createCosignKey(join(dir, 'keys'), 'release');
  otherKey = await createCosignKey(join(dir, 'keys'), 'other');
  lab = await createSigstoreLab(join(dir, 'lab'));
  await writeFile(join(dir, 'lab-root.json'), JSON.stringify(lab.trustedRoot));
  await writeFile(join(dir, 'not-a-root.json'), JSON.stringify({ mediaType: 'application/json' }));

  for (const repository of ['v3/signed', 'v3/unsigned', 'v3/wrong-key', 'v3/attestation', 'v3/copied', 'v3/tampered', 'keyless/signed', 'keyless/wrong-identity', 'keyless/copied', ...TIMESTAMPED.map(([repository]) => repository)]) await push(repository);
  const get = (repository: string): PushedImage => images.get(repository) ?? { digest: '', size: 0 };
  const signedArtifact = await v3Signed(get('v3/signed'));
  await pushBundleReferrers(registry, 'v3/signed', get('v3/signed').digest, [signedArtifact]);
  await pushBundleReferrers(registry, 'v3/wrong-key', get('v3/wrong-key').digest, [await v3Signed(get('v3/wrong-key'), otherKey)]);
  await pushBundleReferrers(registry, 'v3/attestation', get('v3/attestation').digest, [await v3Signed(get('v3/attestation'), releaseKey, 'https://slsa.dev/provenance/v1')]);
  // v3/signed's genuine bundle, its statement naming v3/signed, in an artifact whose subject is v3/copied.
  const copied = bundleArtifact(await keyBundle(releaseKey.privateKey, releaseKey.publicKeyPem, statementFor(get('v3/signed').digest)), subjectOf(get('v3/copied')));
  await pushBundleReferrers(registry, 'v3/copied', get('v3/copied').digest, [copied]);
  // A statement changed after signing: it now names v3/tampered, the signature is over the old one.
  const genuine = (await keyBundle(releaseKey.privateKey, releaseKey.publicKeyPem, statementFor(get('v3/signed').digest))) as { dsseEnvelope: { payload: string } };
  genuine.dsseEnvelope.payload = statementFor(get('v3/tampered').digest).toString('base64');
  await pushBundleReferrers(registry, 'v3/tampered', get('v3/tampered').digest, [bundleArtifact(genuine, subjectOf(get('v3/tampered')))]);

  await keylessSign('keyless/signed');
  await keylessSign('keyless/wrong-identity', 'https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main');
  await keylessSign('keyless/copied', IDENTITY, get('keyless/signed').digest);
  for (const [repository, kind] of TIMESTAMPED) await keylessSign(repository, IDENTITY, get(repository).digest, kind);

  policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'sigstore.yaml'), policies());
  await mkdir(join(dir, 'state'));
  serve = await startTrustgateServe({ policiesDir, stateDir: join(dir, 'state'), caFile: ca.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await registry?.stop();
  await ca?.remove();
  if (dir !== undefined) await removeDir(dir);
});

async function verifyWithPolicies(repository: string): Promise<TrustgateRun> {
  const stateDir = await makeTempDir('state');
  try {
    return await runTrustgate(['verify', `${reference(repository)}:v1`, '--policies', policiesDir, '--json'], { stateDir });
  } finally {
    await removeDir(stateDir);
  }
}

interface AdmitAnswer {
  response: { allowed: boolean; status?: { message: string }; patch?: string };
}

async function admit(repository: string): Promise<AdmitAnswer> {
  const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${reference(repository)}:v1` }] }));
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(reviewFor('Pod', object)) });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as AdmitAnswer;
}

const ALLOWED = ['v3/signed', 'keyless/signed', 'keyless/timestamped'];
const DENIED: ReadonlyArray<readonly [string, string, string]> = [
  ['v3/unsigned', 'an unsigned image', 'COSIGN_SIGNATURE_MISSING'],
  ['v3/wrong-key', 'a v3 bundle made with another key', 'COSIGN_SIGNATURE_INVALID'],
  ['v3/attestation', 'an attestation in place of a signature', 'COSIGN_PAYLOAD_INVALID'],
  ['v3/copied', 'a v3 bundle of another image', 'COSIGN_DIGEST_MISMATCH'],
  ['v3/tampered', 'a v3 statement changed after signing', 'COSIGN_SIGNATURE_INVALID'],
  ['keyless/wrong-identity', 'a keyless signature by another identity', 'COSIGN_IDENTITY_MISMATCH'],
  ['keyless/copied', 'a keyless signature of another image', 'COSIGN_DIGEST_MISMATCH'],
  ['keyless/rogue-tsa', 'a keyless signature timestamped by a TSA the root does not name', 'COSIGN_TLOG_INVALID'],
  ['keyless/timestamp-of-other-bytes', 'a keyless signature with a genuine timestamp of other bytes', 'COSIGN_TLOG_INVALID'],
  ['keyless/malformed-timestamp', 'a keyless signature whose timestamp annotation is not a timestamp', 'COSIGN_BUNDLE_INVALID'],
];

describe('trustgate verify --policies with v3 bundles and keyless signatures in the real registry', () => {
  it.each(ALLOWED)('allows %s and answers its digest', async (repository) => {
    const run = await verifyWithPolicies(repository);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get(repository)?.digest, verifiedBy: ['cosign'] });
    expect(run.exitCode).toBe(0);
  });

  it('names the keyless identity that signed', async () => {
    const run = await verifyWithPolicies('keyless/signed');
    expect(run.json?.signers).toEqual([`cosign:keyless/1 (${IDENTITY} from ${ISSUER})`]);
  });

  it.each(DENIED)('denies %s (%s) with %s', async (repository, _what, code) => {
    const run = await verifyWithPolicies(repository);
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: [code] });
    expect(run.exitCode).not.toBe(0);
  });
});

async function verifyKeyless(repository: string, ...extra: string[]): Promise<TrustgateRun> {
  const stateDir = await makeTempDir('state');
  try {
    return await runTrustgate(['verify', `${reference(repository)}:v1`, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, ...extra, '--json'], { stateDir });
  } finally {
    await removeDir(stateDir);
  }
}

describe('trustgate verify --certificate-identity (one-off keyless check)', () => {
  it('denies a test-CA signature against the shipped public-good root', async () => {
    const run = await verifyKeyless('keyless/signed');
    expect(run.json, run.stderr).toMatchObject({ allowed: false });
    expect(run.exitCode).not.toBe(0);
  });

  it('allows it against the private deployment\'s root given with --trusted-root', async () => {
    const run = await verifyKeyless('keyless/signed', '--trusted-root', join(dir, 'lab-root.json'));
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get('keyless/signed')?.digest });
    expect(run.exitCode).toBe(0);
  });

  it('still denies another identity\'s signature under that root', async () => {
    const run = await verifyKeyless('keyless/wrong-identity', '--trusted-root', join(dir, 'lab-root.json'));
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_IDENTITY_MISMATCH'] });
  });

  it('is a usage error when the --trusted-root file is not a trusted root', async () => {
    const run = await verifyKeyless('keyless/signed', '--trusted-root', join(dir, 'not-a-root.json'));
    expect(run.exitCode).toBe(2);
  });

  it('is a usage error to give --trusted-root without a keyless identity', async () => {
    const stateDir = await makeTempDir('state');
    const run = await runTrustgate(['verify', `${reference('keyless/signed')}:v1`, '--cosign-key', releaseKey.publicKeyFile, '--trusted-root', join(dir, 'lab-root.json')], { stateDir });
    await removeDir(stateDir);
    expect(run.exitCode).toBe(2);
  });
});

describe('trustgate serve /admit with v3 bundles and keyless signatures', () => {
  it.each(ALLOWED)('allows %s and pins it to the signed digest', async (repository) => {
    const answer = await admit(repository);
    expect(answer.response.allowed, answer.response.status?.message).toBe(true);
    expect(JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8'))).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${reference(repository)}@${images.get(repository)?.digest}` },
    ]);
  });

  it.each(DENIED)('denies %s (%s)', async (repository, _what, code) => {
    const answer = await admit(repository);
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.message).toContain(code);
    expect(answer.response).not.toHaveProperty('patch');
  });
});
