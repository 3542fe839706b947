// cosign v3 signatures for tests: a DSSE bundle made by @sigstore/sign with the test's own key
// Signer (no Fulcio, no Rekor), over an in-toto Statement naming the image digest, and the OCI
// artifact manifest cosign 3 pushes it in (artifactType and layer of the bundle media type,
// the empty config, `subject` = the image), plus the referrers index listing such artifacts.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const EMPTY_CONFIG = Buffer.from('{}');
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// The in-toto Statement a cosign v3 signature (or, with another predicate, an attestation) signs.
export function statementFor(digest: string, predicateType = COSIGN_SIGN_PREDICATE, name = 'image'): Buffer {
  return Buffer.from(
    JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }], predicateType, predicate: {} }),
  );
}

// A key-only v0.3 bundle (JSON) over `statement`.
export async function keyBundle(privateKey: KeyObject, publicKeyPem: string, statement: Buffer): Promise<unknown> {
  const signer: Signer = {
    sign: (data) => Promise.resolve({ signature: sign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: publicKeyPem } }),
  };
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: statement, type: 'application/vnd.in-toto+json' });
  return bundleToJSON(bundle);
}

export interface Artifact {
  readonly manifest: Buffer;
  readonly digest: string;
  // Blobs to store: the empty config and the bundle layer.
  readonly blobs: readonly Buffer[];
}

// The OCI manifest cosign 3 pushes for a bundle of the image `subject`.
export function bundleArtifact(bundle: unknown, subject: { digest: string; size: number; mediaType: string }): Artifact {
  const layer = Buffer.from(JSON.stringify(bundle));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(EMPTY_CONFIG), size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: sha256(layer), size: layer.length }],
      subject,
    }),
  );
  return { manifest, digest: sha256(manifest), blobs: [EMPTY_CONFIG, layer] };
}

// The referrers index (API answer or fallback tag) listing `artifacts`.
export function referrersIndex(artifacts: readonly Artifact[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: artifacts.map((artifact) => ({ mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: artifact.digest, size: artifact.manifest.length })),
    }),
  );
}
