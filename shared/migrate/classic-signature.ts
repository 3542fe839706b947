// cosign's classic signature format, written byte for byte as cosign (go-containerregistry)
// writes it, so any cosign verifier reads it: the simple-signing payload as a layer blob, a
// config listing every layer, and an OCI image manifest at tag `sha256-<hex>.sig` whose
// layers each carry a base64 DER signature in `dev.cosignproject.cosign/signature`.
// Go's encoding/json shapes the bytes: struct fields in declaration order, map keys sorted,
// `<`, `>`, `&`, U+2028 and U+2029 escaped. Pure: no I/O.
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../errors.js';
import { isPlainObject } from '../json.js';
import { SIGNATURE_ANNOTATION } from '../trust/cosign/registry-client.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

export interface Descriptor {
  readonly mediaType: string;
  readonly size: number;
  readonly digest: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

// The signed payload of `digest` in repository `dockerReference` ('reg/team/app'), with
// `annotations` in `optional` (as `cosign sign -a key=value` puts them).
export function classicPayload(dockerReference: string, digest: string, annotations: Readonly<Record<string, string>>): Buffer {
  const optional = Object.keys(annotations).length === 0 ? 'null' : goMap(annotations);
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":${goString(dockerReference)}},"image":{"docker-manifest-digest":${goString(digest)}},"type":"cosign container image signature"},"optional":${optional}}`,
  );
}

// One signature layer: the payload blob and its signature.
export function signatureLayer(payload: Uint8Array, signatureBase64: string): Descriptor {
  return { mediaType: SIMPLE_SIGNING, size: payload.length, digest: sha256(payload), annotations: { [SIGNATURE_ANNOTATION]: signatureBase64 } };
}

// cosign's config for a signature image of `layers` (v1.ConfigFile field order; one
// zero-time history entry per layer; the payloads are uncompressed, so diff IDs are digests).
export function classicConfig(layers: readonly Descriptor[]): Buffer {
  const history = layers.map(() => '{"created":"0001-01-01T00:00:00Z"}').join(',');
  const diffIds = layers.map((layer) => goString(layer.digest)).join(',');
  return Buffer.from(`{"architecture":"","created":"0001-01-01T00:00:00Z","history":[${history}],"os":"","rootfs":{"type":"layers","diff_ids":[${diffIds}]},"config":{}}`);
}

// The signature manifest over `config` and `layers` (v1.Manifest field order).
export function classicManifest(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  return Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${goDescriptor(config)},"layers":[${layers.map(goDescriptor).join(',')}]}`);
}

// The layers of an existing signature manifest, kept as they are so appending preserves
// every earlier signature. Layers without the fields a descriptor needs are refused: they
// could not be written back as they were.
export function existingSignatureLayers(manifest: unknown, maxLayers: number): Descriptor[] {
  if (!isPlainObject(manifest) || !Array.isArray(manifest['layers'])) throw invalid('the existing signature manifest has no "layers" array');
  const layers = manifest['layers'] as unknown[];
  if (layers.length >= maxLayers) {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `the existing signature manifest holds ${layers.length} signatures: no more than ${maxLayers} are kept`);
  }
  return layers.map((layer, index) => {
    if (!isPlainObject(layer)) throw invalid(`existing signature layer ${index + 1} is not an object`);
    const { mediaType, size, digest, annotations } = layer;
    if (typeof mediaType !== 'string' || typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw invalid(`existing signature layer ${index + 1} is not a descriptor`);
    }
    const kept: Record<string, string> = {};
    if (isPlainObject(annotations)) {
      for (const [key, value] of Object.entries(annotations)) if (typeof value === 'string') kept[key] = value;
    }
    return { mediaType, size, digest, ...(Object.keys(kept).length === 0 ? {} : { annotations: kept }) };
  });
}

function goDescriptor(descriptor: Descriptor): string {
  const annotations = descriptor.annotations === undefined || Object.keys(descriptor.annotations).length === 0 ? '' : `,"annotations":${goMap(descriptor.annotations)}`;
  return `{"mediaType":${goString(descriptor.mediaType)},"size":${descriptor.size},"digest":${goString(descriptor.digest)}${annotations}}`;
}

// A map[string]string as Go marshals it: keys sorted by bytes.
export function goMap(map: Readonly<Record<string, string>>): string {
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((key) => `${goString(key)}:${goString(map[key] ?? '')}`).join(',')}}`;
}

// A string as Go's encoding/json writes it: short escapes only for \n, \r, \t, quote and
// backslash; other control characters and the HTML-sensitive `<`, `>`, `&`, U+2028, U+2029
// as \u00XX.
export function goString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || char === '<' || char === '>' || char === '&' || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function invalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, message);
}
