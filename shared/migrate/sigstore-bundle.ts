// cosign v3's signature format: a Sigstore bundle (v0.3) holding a DSSE envelope over an
// in-toto Statement v1 whose subject is the image digest (predicate type
// `https://sigstore.dev/cosign/sign/v1`), pushed as an OCI artifact whose `subject` is the
// image and found through the referrers API or the referrers tag `sha256-<hex>`.
// The bundle is built by sigstore-js (`@sigstore/sign`, loaded only when a bundle is made)
// with the carry-over key as its Signer and no witnesses: key-only, no transparency log.
// Checking an existing bundle for idempotency is done here with node:crypto over the exact
// envelope bytes, before the statement is parsed.
import { createPublicKey, verify } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import { OCI_MANIFEST, sha256, type Descriptor } from './classic-signature.js';
import { signBytes, type SigningKey } from './signing-key.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONFIG = Buffer.from('{}');
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

// The statement a bundle signs: `digest` of repository `name`, with the annotations.
export function signStatement(name: string, digest: string, annotations: Readonly<Record<string, string>>): Buffer {
  const hex = digest.slice('sha256:'.length);
  return Buffer.from(
    JSON.stringify({
      _type: STATEMENT_TYPE,
      subject: [{ name, digest: { sha256: hex } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: Object.keys(annotations).length === 0 ? {} : { annotations },
    }),
  );
}

// The bundle JSON for `statement`, signed with `key` (sigstore-js builds it).
export async function makeBundle(key: SigningKey, statement: Buffer): Promise<Buffer> {
  const [sign, bundles] = await Promise.all([import('@sigstore/sign').then(commonJsExports), import('@sigstore/bundle').then(commonJsExports)]);
  const { DSSEBundleBuilder } = sign;
  const { bundleToJSON } = bundles;
  const builder = new DSSEBundleBuilder({
    signer: {
      sign: (data: Buffer) => Promise.resolve({ signature: signBytes(key, data), key: { $case: 'publicKey', publicKey: key.publicKeyPem, hint: key.keyId } }),
    },
    witnesses: [],
  });
  const bundle = await builder.create({ data: statement, type: IN_TOTO_PAYLOAD_TYPE });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

// A CommonJS module's exports whether the loader hands them over directly (Node) or as the
// `default` of a namespace (a bundled ESM build).
function commonJsExports<T extends object>(namespace: T): T {
  const fallback = (namespace as { default?: unknown }).default;
  return Object.keys(namespace).length <= 1 && typeof fallback === 'object' && fallback !== null ? (fallback as T) : namespace;
}

// The artifact manifest for a bundle blob, referring to the signed image.
export function bundleManifest(bundle: Descriptor, subject: Descriptor, annotations: Readonly<Record<string, string>>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length },
      layers: [
        {
          mediaType: BUNDLE_MEDIA_TYPE,
          digest: bundle.digest,
          size: bundle.size,
          annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE },
        },
      ],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
}

// One entry of a referrers index.
export interface Referrer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
}

// The referrers listed by an index (the referrers API's answer or the referrers tag), at
// most `max` of them. Entries that are not descriptors are refused: the index is written
// back with them when one is added, and nothing malformed is echoed into the registry.
export function decodeReferrersIndex(index: unknown, max: number): Referrer[] {
  if (!isPlainObject(index) || index['schemaVersion'] !== 2 || !Array.isArray(index['manifests'])) {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, 'the referrers index is not an OCI index with "manifests"');
  }
  const manifests = index['manifests'] as unknown[];
  if (manifests.length > max) {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `the referrers index lists ${manifests.length} artifacts, more than the ${max} looked at`);
  }
  return manifests.map((entry, position) => {
    if (!isPlainObject(entry)) throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, `referrers index entry ${position + 1} is not an object`);
    const { mediaType, digest, size, artifactType } = entry;
    if (typeof mediaType !== 'string' || typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, `referrers index entry ${position + 1} is not a descriptor`);
    }
    return { mediaType, digest, size, ...(typeof artifactType === 'string' ? { artifactType } : {}) };
  });
}

// The referrers tag's index with `added` listed after every existing entry (once).
export function referrersIndex(existing: readonly Referrer[], added: Referrer): Buffer {
  const manifests = existing.some((entry) => entry.digest === added.digest) ? existing : [...existing, added];
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

// The bundle blob of an artifact manifest whose artifact type is a bundle, or undefined.
export function bundleLayerOf(manifest: unknown): Descriptor | undefined {
  if (!isPlainObject(manifest) || manifest['artifactType'] !== BUNDLE_MEDIA_TYPE || !Array.isArray(manifest['layers'])) return undefined;
  const layer = (manifest['layers'] as unknown[])[0];
  if (!isPlainObject(layer) || layer['mediaType'] !== BUNDLE_MEDIA_TYPE) return undefined;
  const { digest, size } = layer;
  if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return { mediaType: BUNDLE_MEDIA_TYPE, digest, size };
}

// True when `bundleBytes` is a DSSE bundle signed by `publicKeyPem` over a cosign sign
// statement whose subject is `digest`. The envelope signature is checked over DSSE's PAE of
// the exact payload bytes first; only then is the statement parsed.
export function isBundleSignedBy(bundleBytes: Uint8Array, publicKeyPem: string, digest: string): boolean {
  let bundle: unknown;
  try {
    bundle = parseJsonBytes(bundleBytes, ErrorCode.COSIGN_PAYLOAD_INVALID, 'bundle');
  } catch {
    return false;
  }
  const envelope = isPlainObject(bundle) ? bundle['dsseEnvelope'] : undefined;
  if (!isPlainObject(envelope) || typeof envelope['payload'] !== 'string' || typeof envelope['payloadType'] !== 'string' || !Array.isArray(envelope['signatures'])) return false;
  const payload = Buffer.from(envelope['payload'], 'base64');
  const type = Buffer.from(envelope['payloadType']);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  const key = createPublicKey(publicKeyPem);
  const signed = (envelope['signatures'] as unknown[]).some((signature) => {
    if (!isPlainObject(signature) || typeof signature['sig'] !== 'string') return false;
    try {
      return verify('sha256', pae, key, Buffer.from(signature['sig'], 'base64'));
    } catch {
      return false;
    }
  });
  if (!signed || envelope['payloadType'] !== IN_TOTO_PAYLOAD_TYPE) return false;
  let statement: unknown;
  try {
    statement = parseJsonBytes(payload, ErrorCode.COSIGN_PAYLOAD_INVALID, 'statement');
  } catch {
    return false;
  }
  if (!isPlainObject(statement) || statement['predicateType'] !== COSIGN_SIGN_PREDICATE || !Array.isArray(statement['subject'])) return false;
  const hex = digest.slice('sha256:'.length);
  return (statement['subject'] as unknown[]).some((subject) => isPlainObject(subject) && isPlainObject(subject['digest']) && subject['digest']['sha256'] === hex);
}

export function describeBlob(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, size: bytes.length, digest: sha256(bytes) };
}
