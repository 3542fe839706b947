// Classic cosign signatures written to the real docker-registry byte for byte as cosign
// writes them (no cosign binary is available): the simple-signing payload as a layer blob,
// cosign's empty config, and an OCI image manifest at tag `sha256-<hex>.sig` whose layer
// carries the base64 DER ECDSA signature in `dev.cosignproject.cosign/signature`.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_INDEX, referrersIndex, type Artifact } from '../../support/sigstore-bundles.js';
import { pushBlob, type DockerRegistry } from './docker-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

export interface CosignKeyPair {
  readonly publicKeyPem: string;
  // Where the public key was written (what `--cosign-key` and Secrets use).
  readonly publicKeyFile: string;
  readonly privateKey: KeyObject;
}

export interface ClassicSignature {
  readonly payload: Buffer;
  // Base64 of the DER signature.
  readonly signature: string;
  // More layer annotations (keyless: certificate, chain, Rekor bundle).
  readonly annotations?: Readonly<Record<string, string>>;
}

// A P-256 key pair, as `cosign generate-key-pair` makes by default.
export async function createCosignKey(dir: string, name: string): Promise<CosignKeyPair> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const publicKeyFile = join(dir, `${name}.pub`);
  await writeFile(publicKeyFile, publicKeyPem);
  return { publicKeyPem, publicKeyFile, privateKey };
}

// cosign's payload for `REG/REPO` at `digest`, exactly as it serialises it.
export function cosignPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":"${dockerReference}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
  );
}

export function signPayload(key: CosignKeyPair, payload: Buffer): ClassicSignature {
  return { payload, signature: sign('sha256', payload, key.privateKey).toString('base64') };
}

// Pushes the signature manifest of `digest` in `repository` with one layer per signature.
export async function pushCosignSignatures(registry: DockerRegistry, repository: string, digest: string, signatures: readonly ClassicSignature[]): Promise<void> {
  for (const { payload } of signatures) await pushBlob(registry, repository, payload);
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      config: {},
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: signatures.map(({ payload }) => sha256(payload)) },
    }),
  );
  await pushBlob(registry, repository, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: sha256(config) },
      layers: signatures.map(({ payload, signature, annotations }) => ({
        mediaType: SIMPLE_SIGNING,
        size: payload.length,
        digest: sha256(payload),
        annotations: { 'dev.cosignproject.cosign/signature': signature, ...annotations },
      })),
    }),
  );
  const tag = `${digest.replace(':', '-')}.sig`;
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { ...registry.pushHeaders, 'content-type': OCI_MANIFEST }, body: manifest });
  if (response.status !== 201) throw new Error(`signature manifest PUT: expected 201, got ${response.status}: ${await response.text()}`);
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// Pushes cosign v3 bundle artifacts by digest and the referrers tag `sha256-<hex>` (the OCI
// index listing them) for the image `subject`, as cosign 3 does where a registry has no
// referrers API.
export async function pushBundleReferrers(registry: DockerRegistry, repository: string, subject: string, artifacts: readonly Artifact[]): Promise<void> {
  for (const artifact of artifacts) {
    for (const blob of artifact.blobs) await pushBlob(registry, repository, blob);
    await putManifest(registry, repository, artifact.digest, artifact.manifest, OCI_MANIFEST);
  }
  await putManifest(registry, repository, subject.replace(':', '-'), referrersIndex(artifacts), OCI_INDEX);
}

async function putManifest(registry: DockerRegistry, repository: string, reference: string, body: Buffer, mediaType: string): Promise<void> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { ...registry.pushHeaders, 'content-type': mediaType }, body });
  if (response.status !== 201) throw new Error(`manifest PUT ${reference}: expected 201, got ${response.status}: ${await response.text()}`);
}
