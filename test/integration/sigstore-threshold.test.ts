// A cosign threshold counts distinct signers, each for one authority, against the real
// docker-registry and a private Sigstore lab: one release workflow satisfying two overlapping
// keyless authorities (its exact subject, and a pattern for every acme workflow) is one signer
// and does not meet `threshold: 2`, however many times it signs; two workflows do. The same
// key passed twice to `--cosign-key` under two file names is refused. `--cosign-key` with
// `--certificate-identity` requires both signatures, a key one and a keyless one.
import { sign } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type ClassicSignature, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { createSigstoreLab, type SigstoreLab } from './support/sigstore-lab.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

const ISSUER = 'https://token.actions.test.invalid';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const CI = 'https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main';

let dir: string;
let registry: DockerRegistry;
let lab: SigstoreLab;
let releaseKey: CosignKeyPair;
const images = new Map<string, PushedImage>();

// A keyless classic signature of `repository`'s image by a fresh certificate for `subject`
// (each with its own ephemeral key, as Fulcio issues them).
async function keylessSignature(repository: string, subject: string): Promise<ClassicSignature> {
  const { certificatePem, privateKey } = await lab.issue(subject, ISSUER);
  const payload = cosignPayload(`${registry.host}/${repository}`, images.get(repository)?.digest ?? '');
  const signature = sign('sha256', payload, privateKey).toString('base64');
  return {
    payload,
    signature,
    annotations: { 'dev.sigstore.cosign/certificate': certificatePem, 'dev.sigstore.cosign/chain': lab.caPem, 'dev.sigstore.cosign/bundle': lab.rekorBundle(payload, signature, certificatePem) },
  };
}

async function signKeyless(repository: string, subjects: readonly string[]): Promise<void> {
  const signatures: ClassicSignature[] = [];
  for (const subject of subjects) signatures.push(await keylessSignature(repository, subject));
  await pushCosignSignatures(registry, repository, images.get(repository)?.digest ?? '', signatures);
}

function keylessAuthority(identity: string): string {
  return `            - keyless:
                trustRootSecretName: lab-root
                identities: [{issuer: "${ISSUER}", ${identity}}]`;
}

// `overlap/*`: the release workflow exactly, and any acme workflow. `patterns/*`: any acme
// workflow, and any workflow of acme/app (both identities below match both). Threshold 2.
function policies(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: two-signers}
spec:
  repositories:
    - name: "${registry.host}/overlap/*"
      policy:
        sigstore:
          threshold: 2
          authorities:
${keylessAuthority(`subject: "${RELEASE}"`)}
${keylessAuthority(`subjectRegExp: 'https://github\\.com/acme/.+'`)}
    - name: "${registry.host}/patterns/*"
      policy:
        sigstore:
          threshold: 2
          authorities:
${keylessAuthority(`subjectRegExp: 'https://github\\.com/acme/.+'`)}
${keylessAuthority(`subjectRegExp: 'https://github\\.com/acme/app/.+'`)}
---
apiVersion: v1
kind: Secret
metadata: {name: lab-root, namespace: default}
stringData:
  trusted_root.json: '${JSON.stringify(lab.trustedRoot)}'
`;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  dir = await makeTempDir('sigstore-threshold');
  registry = await startDockerRegistry();
  await mkdir(join(dir, 'lab'));
  await mkdir(join(dir, 'keys'));
  await mkdir(join(dir, 'policies'));
  lab = await createSigstoreLab(join(dir, 'lab'));
  releaseKey = await createCosignKey(join(dir, 'keys'), 'release');
  await copyFile(releaseKey.publicKeyFile, join(dir, 'keys', 'release-copy.pub'));
  for (const repository of ['overlap/release-once', 'overlap/release-twice', 'overlap/release-and-ci', 'patterns/release-and-ci', 'patterns/release-twice', 'keys/signed', 'both/key-only', 'both/keyless-only', 'both/key-and-keyless']) {
    images.set(repository, await pushImage(registry, repository, 'v1'));
  }
  await signKeyless('overlap/release-once', [RELEASE]);
  await signKeyless('overlap/release-twice', [RELEASE, RELEASE]);
  await signKeyless('overlap/release-and-ci', [RELEASE, CI]);
  await signKeyless('patterns/release-and-ci', [RELEASE, CI]);
  await signKeyless('patterns/release-twice', [RELEASE, RELEASE]);
  await pushCosignSignatures(registry, 'keys/signed', images.get('keys/signed')?.digest ?? '', [
    signPayload(releaseKey, cosignPayload(`${registry.host}/keys/signed`, images.get('keys/signed')?.digest ?? '')),
  ]);
  const keySignature = (repository: string) => signPayload(releaseKey, cosignPayload(`${registry.host}/${repository}`, images.get(repository)?.digest ?? ''));
  await pushCosignSignatures(registry, 'both/key-only', images.get('both/key-only')?.digest ?? '', [keySignature('both/key-only')]);
  await signKeyless('both/keyless-only', [RELEASE]);
  await pushCosignSignatures(registry, 'both/key-and-keyless', images.get('both/key-and-keyless')?.digest ?? '', [keySignature('both/key-and-keyless'), await keylessSignature('both/key-and-keyless', RELEASE)]);
  await writeFile(join(dir, 'lab-root.json'), JSON.stringify(lab.trustedRoot));
  await writeFile(join(dir, 'policies', 'two-signers.yaml'), policies());
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (dir !== undefined) await removeDir(dir);
});

function verify(repository: string): Promise<TrustgateRun> {
  return runTrustgate(['verify', `${registry.host}/${repository}:v1`, '--policies', join(dir, 'policies'), '--json'], { stateDir: join(dir, 'state') });
}

describe('trustgate verify --policies with threshold 2 over overlapping keyless authorities', () => {
  it('denies an image signed once by the release workflow, which satisfies both authorities (COSIGN_THRESHOLD_NOT_MET)', async () => {
    const run = await verify('overlap/release-once');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_THRESHOLD_NOT_MET'] });
  });

  it('denies an image signed twice by the same release workflow: one identity is one signer', async () => {
    const run = await verify('overlap/release-twice');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_THRESHOLD_NOT_MET'] });
  });

  it('admits an image signed by the release workflow and another acme workflow, each counted for its own authority', async () => {
    const run = await verify('overlap/release-and-ci');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get('overlap/release-and-ci')?.digest });
    expect(run.json?.signers).toEqual([`cosign:keyless/1 (${RELEASE} from ${ISSUER})`, `cosign:keyless/2 (${CI} from ${ISSUER})`]);
  });

  it('admits two identities that each match both authorities, one counted for each', async () => {
    const run = await verify('patterns/release-and-ci');
    expect(run.json, run.stderr).toMatchObject({ allowed: true });
    expect(run.json?.signers).toHaveLength(2);
    expect(new Set(run.json?.signers.map((signer) => signer.replace(/^cosign:keyless\/\d /, '')))).toEqual(new Set([`(${RELEASE} from ${ISSUER})`, `(${CI} from ${ISSUER})`]));
  });

  it('denies two signatures of one identity matching both authorities', async () => {
    const run = await verify('patterns/release-twice');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_THRESHOLD_NOT_MET'] });
  });
});

describe('trustgate verify --cosign-key with one key under two file names', () => {
  it('is a usage error naming the second key (exit 2, nothing verified): a key counts once', async () => {
    const run = await runTrustgate(
      ['verify', `${registry.host}/keys/signed:v1`, '--cosign-key', releaseKey.publicKeyFile, '--cosign-key', join(dir, 'keys', 'release-copy.pub'), '--json'],
      { stateDir: join(dir, 'state') },
    );
    expect(run.exitCode).toBe(2);
    expect(run.json).toBeUndefined();
    expect(run.stderr).toContain('cosign.keys[1].publicKey');
  });

  it('admits the image with the key given once', async () => {
    const run = await runTrustgate(['verify', `${registry.host}/keys/signed:v1`, '--cosign-key', releaseKey.publicKeyFile, '--json'], { stateDir: join(dir, 'state') });
    expect(run.json, run.stderr).toMatchObject({ allowed: true, signers: ['cosign:release.pub'] });
  });
});

describe('trustgate verify with --cosign-key and --certificate-identity together', () => {
  const verifyBoth = (repository: string): Promise<TrustgateRun> =>
    runTrustgate(
      [
        'verify', `${registry.host}/${repository}:v1`,
        '--cosign-key', releaseKey.publicKeyFile,
        '--certificate-identity', RELEASE, '--certificate-oidc-issuer', ISSUER,
        '--trusted-root', join(dir, 'lab-root.json'),
        '--json',
      ],
      { stateDir: join(dir, 'state') },
    );

  it('denies an image signed with the key alone: the keyless signature the identity flags ask for is missing', async () => {
    const run = await verifyBoth('both/key-only');
    // The key signature carries no certificate for the keyless requirement.
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_CERTIFICATE_INVALID'] });
  });

  it('denies an image signed keyless alone: the key signature is missing', async () => {
    const run = await verifyBoth('both/keyless-only');
    expect(run.json, run.stderr).toMatchObject({ allowed: false });
  });

  it('admits an image with both signatures, naming both signers', async () => {
    const run = await verifyBoth('both/key-and-keyless');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: images.get('both/key-and-keyless')?.digest, verifiedBy: ['cosign'] });
    expect(run.json?.signers).toEqual(['cosign:release.pub', `cosign:keyless (${RELEASE} from ${ISSUER})`]);
  });
});
