// The signature material of one image digest: exactly what the registry answered for it while
// a verification looked (the classic signature layers with their annotations and payload
// bytes, the Sigstore-bundle referrers and each bundle's raw JSON bytes), or the typed error
// a part answered with (a payload that does not hash to its layer, a referrer for another
// subject). A verification reads it through a SignatureSource: online, from the registry,
// recording every answer; offline, from a recording kept in the trust cache. The material is
// never a verdict: every signature in it is checked again, under the policy of the moment,
// each time it is used, so a new key or identity in a policy takes effect at once.
// Security: material read back from the store is outside input (authenticated, but decoded as
// if hostile): a record of any other shape, or a payload that no longer hashes to its layer
// digest, is not used (the registry is asked again).
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { ImageReference } from '../../image/reference.js';
import type { Deadline } from './deadline.js';
import { sha256, type BundleReferrer, type RegistryClient, type SignatureLayer } from './registry-client.js';

// One recorded answer: the value, or the error that made the part count for nothing.
export type Fetched<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TrustgateError };

export interface SignatureMaterial {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  layers?: Fetched<readonly SignatureLayer[]>;
  // By layer index.
  readonly payloads: Map<number, Fetched<Uint8Array>>;
  referrers?: Fetched<readonly BundleReferrer[]>;
  // By referrer index: the bundle blob's bytes (a JSON document, not yet verified).
  readonly bundles: Map<number, Fetched<Uint8Array>>;
}

// Where a verification reads one digest's signatures from.
export interface SignatureSource {
  listSignatures(): Promise<readonly SignatureLayer[]>;
  fetchPayload(layer: SignatureLayer): Promise<Uint8Array>;
  listBundleReferrers(): Promise<readonly BundleReferrer[]>;
  // The bundle document, parsed but not verified.
  fetchBundle(referrer: BundleReferrer): Promise<unknown>;
}

// Thrown by the offline source for a part the recording does not hold; the verifier then
// asks the registry. Never leaves the cosign verifier.
export class NotRecordedError extends Error {
  override readonly name = 'NotRecordedError';
}

export function emptyMaterial(image: ImageReference, digest: string): SignatureMaterial {
  return { registry: image.registry, repository: image.repository, digest, payloads: new Map(), bundles: new Map() };
}

// Errors that describe the material (kept): everything but the registry being unreachable
// or slow, the caller giving up, and bugs, which say nothing about the image.
export function isRecordable(error: unknown): error is TrustgateError {
  return isTrustgateError(error) && error.code !== ErrorCode.REGISTRY_UNAVAILABLE && error.code !== ErrorCode.INTERNAL;
}

// Records the outcome of `read` into `store`, and answers it.
async function recorded<T>(read: () => Promise<T>, store: (outcome: Fetched<T>) => void): Promise<T> {
  try {
    const value = await read();
    store({ ok: true, value });
    return value;
  } catch (error) {
    if (isRecordable(error)) store({ ok: false, error });
    throw error;
  }
}

// The registry, for one image digest within one deadline, recording into `material`.
export function recordingSource(registry: RegistryClient, image: ImageReference, material: SignatureMaterial, deadline: Deadline): SignatureSource {
  const digest = material.digest;
  return {
    listSignatures: () => recorded(() => registry.listSignatures(image, digest, deadline), (outcome) => (material.layers = outcome)),
    fetchPayload: (layer) => recorded(() => registry.fetchPayload(image, layer, deadline), (outcome) => material.payloads.set(layer.index, outcome)),
    listBundleReferrers: () => recorded(() => registry.listBundleReferrers(image, digest, deadline), (outcome) => (material.referrers = outcome)),
    fetchBundle: async (referrer) => {
      const bytes = await recorded(
        async () => (await registry.fetchBundle(image, referrer, digest, deadline)).bytes,
        (outcome) => material.bundles.set(referrer.index, outcome),
      );
      return parseBundle(bytes, referrer);
    },
  };
}

// A recording, without the network: each part as recorded, NotRecordedError for a part the
// recording never looked at.
export function offlineSource(material: SignatureMaterial): SignatureSource {
  const replay = <T>(outcome: Fetched<T> | undefined): Promise<T> => {
    if (outcome === undefined) return Promise.reject(new NotRecordedError('not recorded'));
    return outcome.ok ? Promise.resolve(outcome.value) : Promise.reject(new TrustgateError(outcome.error.code, outcome.error.message));
  };
  return {
    listSignatures: () => replay(material.layers),
    fetchPayload: (layer) => {
      const payload = material.payloads.get(layer.index);
      // Checked again: the recording is only ever used for what it says it holds.
      if (payload?.ok === true && (sha256(payload.value) !== layer.digest || payload.value.length !== layer.size)) return replay(undefined);
      return replay(payload);
    },
    listBundleReferrers: () => replay(material.referrers),
    fetchBundle: async (referrer) => parseBundle(await replay(material.bundles.get(referrer.index)), referrer),
  };
}

function parseBundle(bytes: Uint8Array, referrer: BundleReferrer): unknown {
  return parseJsonBytes(bytes, ErrorCode.COSIGN_BUNDLE_INVALID, `referrer ${referrer.index} bundle`);
}

// --- Encoding (the store's value) ------------------------------------------------------------

const FORMAT = 1;
const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
// More entries than a registry client ever records (its own limits are far lower).
const MAX_PARTS = 256;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function encodeFetched<T>(outcome: Fetched<T>, encode: (value: T) => Json): Json {
  return outcome.ok ? { ok: encode(outcome.value) } : { error: { code: outcome.error.code, message: outcome.error.message.slice(0, 2_000) } };
}

function encodeLayer(layer: SignatureLayer): Json {
  const { index, digest, size, mediaType, signature, certificate, chain, rekorBundle, rfc3161Timestamp } = layer;
  return {
    index,
    digest,
    size,
    mediaType,
    signature: signature ?? null,
    certificate: certificate ?? null,
    chain: chain ?? null,
    rekorBundle: rekorBundle ?? null,
    rfc3161Timestamp: rfc3161Timestamp ?? null,
  };
}

const toBase64 = (bytes: Uint8Array): Json => Buffer.from(bytes).toString('base64');

// The record's bytes: JSON naming the registry, repository and digest it is about.
export function encodeMaterial(material: SignatureMaterial): Uint8Array {
  const parts = (map: Map<number, Fetched<Uint8Array>>): Json => Object.fromEntries([...map].map(([index, outcome]) => [String(index), encodeFetched(outcome, toBase64)]));
  const json: Json = {
    format: FORMAT,
    registry: material.registry,
    repository: material.repository,
    digest: material.digest,
    layers: material.layers === undefined ? null : encodeFetched(material.layers, (layers) => layers.map(encodeLayer)),
    payloads: parts(material.payloads),
    referrers: material.referrers === undefined ? null : encodeFetched(material.referrers, (referrers) => referrers.map(({ index, digest }) => ({ index, digest }))),
    bundles: parts(material.bundles),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

class Malformed extends Error {}

// The material of a stored record, or undefined when it is not a record about exactly
// `image`'s repository and `digest` in this format.
export function decodeMaterial(bytes: Uint8Array, image: ImageReference, digest: string): SignatureMaterial | undefined {
  try {
    const json = parseJsonBytes(bytes, ErrorCode.STATE_STORE_FAILED, 'cached cosign signatures');
    if (!isPlainObject(json) || json['format'] !== FORMAT) return undefined;
    if (json['registry'] !== image.registry || json['repository'] !== image.repository || json['digest'] !== digest) return undefined;
    const material = emptyMaterial(image, digest);
    const layers = decodeOptional(json['layers'], (value) => list(value).map(decodeLayer));
    const referrers = decodeOptional(json['referrers'], (value) => list(value).map(decodeReferrer));
    if (layers !== undefined) material.layers = layers;
    if (referrers !== undefined) material.referrers = referrers;
    decodeParts(json['payloads'], material.payloads);
    decodeParts(json['bundles'], material.bundles);
    return material;
  } catch (error) {
    if (error instanceof Malformed || isTrustgateError(error)) return undefined;
    throw error;
  }
}

function list(value: unknown): unknown[] {
  if (!Array.isArray(value) || value.length > MAX_PARTS) throw new Malformed();
  return value;
}

function decodeOptional<T>(value: unknown, decode: (value: unknown) => T): Fetched<T> | undefined {
  if (value === null) return undefined;
  return decodeFetched(value, decode);
}

function decodeFetched<T>(value: unknown, decode: (value: unknown) => T): Fetched<T> {
  if (!isPlainObject(value)) throw new Malformed();
  if (Object.hasOwn(value, 'ok')) return { ok: true, value: decode(value['ok']) };
  const error = value['error'];
  if (!isPlainObject(error) || typeof error['code'] !== 'string' || !CODES.has(error['code']) || typeof error['message'] !== 'string') throw new Malformed();
  return { ok: false, error: new TrustgateError(error['code'] as ErrorCode, error['message']) };
}

function decodeParts(value: unknown, into: Map<number, Fetched<Uint8Array>>): void {
  if (!isPlainObject(value)) throw new Malformed();
  const entries = Object.entries(value);
  if (entries.length > MAX_PARTS) throw new Malformed();
  for (const [key, part] of entries) {
    const index = Number(key);
    if (!Number.isSafeInteger(index) || index < 1 || String(index) !== key) throw new Malformed();
    into.set(index, decodeFetched(part, (text) => (typeof text === 'string' ? new Uint8Array(Buffer.from(text, 'base64')) : fail())));
  }
}

function decodeLayer(value: unknown): SignatureLayer {
  if (!isPlainObject(value)) throw new Malformed();
  const { index, digest, size, mediaType, signature, certificate, chain, rekorBundle, rfc3161Timestamp } = value;
  if (!isIndex(index) || typeof digest !== 'string' || !DIGEST_RE.test(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || typeof mediaType !== 'string') fail();
  const text = (field: unknown): string | undefined => (field === null ? undefined : typeof field === 'string' ? field : fail());
  const [sig, cert, ch, rekor, timestamp] = [text(signature), text(certificate), text(chain), text(rekorBundle), text(rfc3161Timestamp)];
  return {
    index,
    digest,
    size,
    mediaType,
    signature: sig,
    ...(cert === undefined ? {} : { certificate: cert }),
    ...(ch === undefined ? {} : { chain: ch }),
    ...(rekor === undefined ? {} : { rekorBundle: rekor }),
    ...(timestamp === undefined ? {} : { rfc3161Timestamp: timestamp }),
  };
}

function decodeReferrer(value: unknown): BundleReferrer {
  if (!isPlainObject(value)) throw new Malformed();
  const { index, digest } = value;
  if (!isIndex(index) || typeof digest !== 'string' || !DIGEST_RE.test(digest)) fail();
  return { index, digest };
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function fail(): never {
  throw new Malformed();
}
