// Reads what cosign's classic format keeps in an OCI registry (distribution API v2, through
// the Fetch port): the image's manifest, to learn its digest, the signature manifest at tag
// `sha256-<hex>.sig`, and the signature payload blobs. Everything a registry sends is
// hostile until checked: each body is capped while it streams, hashed, and compared with
// the digest it is supposed to have (the body is the truth, a header is only a claim), and
// the number of signature layers is capped, so a registry serving garbage costs bounded work
// and ends in a typed error.
// Token auth follows Docker's scheme; registries are asked anonymously, or with the
// workload's pull-secret credentials for that registry (withCredentials), never with the
// operator's trust-server credentials (a registry's name comes from the image).
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { ImageReference } from '../../image/reference.js';
import type { Fetch, HttpResponse } from '../../ports.js';
import type { RegistryCredentials } from '../../registry/credential-keyring.js';
import { parseBearerChallenge, type TokenAuth, type TokenProvider } from '../../registry/token-auth.js';
import type { Deadline } from './deadline.js';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  sigstoreBundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;

// Every manifest kind an image can be: without a full list a registry converts to schema 1
// (another digest) or answers 404 for OCI content.
const IMAGE_ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex];
const SIGNATURE_ACCEPT = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
const TIMESTAMP_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';
const INDEX_ACCEPT = [MEDIA_TYPES.ociIndex];

export interface RegistryLimits {
  // Largest manifest (image or signature) read.
  readonly maxManifestBytes: number;
  // Largest signature payload blob read.
  readonly maxPayloadBytes: number;
  // Most signature layers looked at for one image.
  readonly maxSignatures: number;
  // Most Sigstore bundle referrers (v3 signatures) listed for one image; other artifacts
  // (SBOMs, attestations) are not counted, the index's bytes are bounded by maxManifestBytes.
  readonly maxReferrers: number;
  // Largest Sigstore bundle blob read.
  readonly maxBundleBytes: number;
  // Per request; the whole verification also has one deadline.
  readonly requestTimeoutMs: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxPayloadBytes: 64 * 1024,
  maxSignatures: 32,
  maxReferrers: 64,
  maxBundleBytes: 256 * 1024,
  requestTimeoutMs: 10_000,
};

export interface RegistryClientOptions {
  readonly fetch: Fetch;
  // An anonymous token client (no credentials configured).
  readonly tokens?: TokenAuth;
  readonly limits?: RegistryLimits;
  // The workload's pull-secret credentials, for one verification (see withCredentials).
  readonly credentials?: RegistryCredentials;
}

// One signature layer as the signature manifest describes it.
export interface SignatureLayer {
  readonly index: number;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  // Base64 text of the annotation, undefined when absent.
  readonly signature: string | undefined;
  // Keyless parts: the PEM certificate and chain, the legacy Rekor bundle and the RFC 3161
  // timestamp (JSON texts).
  readonly certificate?: string;
  readonly chain?: string;
  readonly rekorBundle?: string;
  readonly rfc3161Timestamp?: string;
}

// One referrer of the image that claims to be a Sigstore bundle (cosign v3's format).
export interface BundleReferrer {
  readonly index: number;
  // The artifact manifest's digest.
  readonly digest: string;
}

// A referrer's bundle: the JSON document, not yet verified, and the blob's bytes it was
// parsed from (what the trust cache keeps).
export interface ReferrerBundle {
  readonly bundle: unknown;
  readonly bytes: Uint8Array;
}

export interface RegistryClient {
  // The manifest digest of the image: its pinned digest, checked against the manifest
  // served, or the digest of what its tag serves now.
  resolveDigest(image: ImageReference, deadline: Deadline): Promise<string>;
  // The layers of the signature manifest of `digest`; empty when there is none (404).
  listSignatures(image: ImageReference, digest: string, deadline: Deadline): Promise<readonly SignatureLayer[]>;
  // The payload blob of a layer, checked against the layer's digest and size.
  fetchPayload(image: ImageReference, layer: SignatureLayer, deadline: Deadline): Promise<Uint8Array>;
  // The image's referrers whose artifactType is a Sigstore bundle: from the referrers API, or
  // where the registry has none (404), from the referrers tag `sha256-<hex>`.
  listBundleReferrers(image: ImageReference, digest: string, deadline: Deadline): Promise<readonly BundleReferrer[]>;
  // The subject digest of the manifest `digest` when it is a referrer (has a `subject`).
  readSubject(image: ImageReference, digest: string, deadline: Deadline): Promise<string | undefined>;
  // One referrer's bundle, its manifest checked to be a bundle artifact whose subject is `digest`.
  fetchBundle(image: ImageReference, referrer: BundleReferrer, digest: string, deadline: Deadline): Promise<ReferrerBundle>;
  // The same client for one verification with the workload's credentials.
  withCredentials(credentials: RegistryCredentials): RegistryClient;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const LOOPBACK_RE = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d+)?$/;
const MAX_REDIRECTS = 3;

// The base URL of a registry's API. Registries speak https; plain http only on loopback
// (a registry on this machine), as for trust servers. Docker Hub's API host is not its name.
export function registryBaseUrl(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io';
  return `${LOOPBACK_RE.test(registry) ? 'http' : 'https'}://${registry}`;
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const limits = options.limits ?? DEFAULT_REGISTRY_LIMITS;

  // One repository's view: its base URL, manifest and blob URLs, and its token provider.
  const open = (image: ImageReference) => {
    const base = registryBaseUrl(image.registry);
    const repositoryUrl = `${base}/v2/${image.repository}`;
    const tokens = options.tokens?.forRegistry(base, options.credentials?.forRepository(image.registry, image.repository));
    const get = (url: string, accept: readonly string[], maxBytes: number, deadline: Deadline) =>
      getWithAuth(options.fetch, tokens, repositoryUrl, url, accept, Math.min(limits.requestTimeoutMs, deadline.remainingMs()), maxBytes, deadline);
    return { base, repositoryUrl, get };
  };

  return {
    withCredentials: (credentials) => createRegistryClient({ ...options, credentials }),

    async resolveDigest(image, deadline) {
      const repo = open(image);
      const reference = image.digest ?? image.tag ?? 'latest';
      const url = `${repo.repositoryUrl}/manifests/${reference}`;
      const response = await repo.get(url, IMAGE_ACCEPT, limits.maxManifestBytes, deadline);
      if (response.status === 404) throw new TrustgateError(ErrorCode.IMAGE_NOT_FOUND, `registry ${image.registry} has no manifest ${image.repository}:${reference}`);
      expectOk(response, url);
      const digest = checkManifestDigest(response, url);
      if (image.digest !== undefined && image.digest !== digest) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `registry served a manifest with digest ${digest} for ${image.repository}@${image.digest}`);
      }
      // Only an image manifest or index is an image: a registry answering with anything else
      // (a schema 1 conversion, garbage) gets no digest pinned.
      decodeManifest(response, url, IMAGE_ACCEPT);
      return digest;
    },

    async listSignatures(image, digest, deadline) {
      const repo = open(image);
      const url = `${repo.repositoryUrl}/manifests/${digest.replace(':', '-')}.sig`;
      const response = await repo.get(url, SIGNATURE_ACCEPT, limits.maxManifestBytes, deadline);
      if (response.status === 404) return [];
      expectOk(response, url);
      checkManifestDigest(response, url);
      const manifest = decodeManifest(response, url, SIGNATURE_ACCEPT);
      const layers = manifest['layers'];
      if (!Array.isArray(layers)) throw invalidResponse(`signature manifest ${url} has no "layers" array`);
      if (layers.length > limits.maxSignatures) {
        throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `signature manifest ${url} lists ${layers.length} signatures, more than the ${limits.maxSignatures} looked at`);
      }
      return layers.map((layer: unknown, index) => toSignatureLayer(layer, index + 1, url));
    },

    async fetchPayload(image, layer, deadline) {
      if (layer.size > limits.maxPayloadBytes) {
        throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `signature ${layer.index} payload is ${layer.size} bytes, more than the ${limits.maxPayloadBytes} read`);
      }
      const repo = open(image);
      const url = `${repo.repositoryUrl}/blobs/${layer.digest}`;
      const response = await repo.get(url, [MEDIA_TYPES.simpleSigning, '*/*'], limits.maxPayloadBytes, deadline);
      expectOk(response, url);
      const actual = sha256(response.body);
      if (actual !== layer.digest || response.body.length !== layer.size) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `signature ${layer.index} payload from ${url} hashes to ${actual} (${response.body.length} bytes): expected ${layer.digest} (${layer.size} bytes)`);
      }
      return response.body;
    },

    // Security: the index is bounded in bytes (it is read whole); the bound on entries is on
    // the Sigstore bundles among them, counted after the other artifacts (SBOMs, attestations,
    // scan results, which anyone who may push can add) are set aside, so other artifacts never
    // hide a signature and the bundles fetched stay bounded. The referrers API is asked for
    // bundles only; a registry may ignore the filter, so entries are filtered here as well.
    async listBundleReferrers(image, digest, deadline) {
      const repo = open(image);
      let url = `${repo.repositoryUrl}/referrers/${digest}?artifactType=${encodeURIComponent(MEDIA_TYPES.sigstoreBundle)}`;
      let response = await repo.get(url, INDEX_ACCEPT, limits.maxManifestBytes, deadline);
      // No referrers API (distribution 2.8 answers 404): the referrers tag schema.
      if (response.status === 404 || response.status === 405) {
        url = `${repo.repositoryUrl}/manifests/${digest.replace(':', '-')}`;
        response = await repo.get(url, INDEX_ACCEPT, limits.maxManifestBytes, deadline);
        if (response.status === 404) return [];
        expectOk(response, url);
        checkManifestDigest(response, url);
      } else expectOk(response, url);
      const index = decodeManifest(response, url, INDEX_ACCEPT);
      const manifests = index['manifests'] ?? [];
      if (!Array.isArray(manifests)) throw invalidResponse(`referrers index ${stripQuery(url)} has no "manifests" array`);
      // The first maxReferrers distinct Sigstore bundles in listing order; other artifacts and
      // bundle entries this client cannot fetch (a digest other than sha256) are passed over.
      // Security: whoever may push to the repository may add referrers without any key. Were a
      // listing refused for one unusable entry, or for more bundles than are looked at, such
      // a push would hide the image's valid signature and deny it; passing over what cannot
      // be checked, and checking a bounded number of the rest, only ever looks at less. The
      // bound on work stays (the index's bytes, one pass, at most maxReferrers fetches).
      const referrers: BundleReferrer[] = [];
      const seen = new Set<string>();
      for (const [position, entry] of (manifests as unknown[]).entries()) {
        if (referrers.length === limits.maxReferrers) break;
        if (!isPlainObject(entry) || entry['artifactType'] !== MEDIA_TYPES.sigstoreBundle) continue;
        const entryDigest = entry['digest'];
        if (typeof entryDigest !== 'string' || !DIGEST_RE.test(entryDigest) || seen.has(entryDigest)) continue;
        seen.add(entryDigest);
        referrers.push({ index: position + 1, digest: entryDigest });
      }
      return referrers;
    },

    async readSubject(image, digest, deadline) {
      const repo = open(image);
      const url = `${repo.repositoryUrl}/manifests/${digest}`;
      const response = await repo.get(url, [MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex], limits.maxManifestBytes, deadline);
      if (response.status === 404) return undefined;
      expectOk(response, url);
      if (checkManifestDigest(response, url) !== digest) throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `manifest ${url} does not hash to ${digest}`);
      const manifest = parseJsonBytes(response.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `manifest ${url}`);
      const subject = isPlainObject(manifest) ? manifest['subject'] : undefined;
      const subjectDigest = isPlainObject(subject) ? subject['digest'] : undefined;
      return typeof subjectDigest === 'string' && DIGEST_RE.test(subjectDigest) ? subjectDigest : undefined;
    },

    async fetchBundle(image, referrer, digest, deadline) {
      const repo = open(image);
      const url = `${repo.repositoryUrl}/manifests/${referrer.digest}`;
      const response = await repo.get(url, [MEDIA_TYPES.ociManifest], limits.maxManifestBytes, deadline);
      expectOk(response, url);
      if (checkManifestDigest(response, url) !== referrer.digest) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `referrer ${referrer.index} manifest ${url} does not hash to ${referrer.digest}`);
      }
      const manifest = decodeManifest(response, url, [MEDIA_TYPES.ociManifest]);
      const subject = manifest['subject'];
      if (!isPlainObject(subject) || subject['digest'] !== digest) {
        throw new TrustgateError(ErrorCode.COSIGN_DIGEST_MISMATCH, `referrer ${referrer.index} (${referrer.digest}) has another subject than ${digest}`);
      }
      const layers = manifest['layers'];
      const layer = Array.isArray(layers) && layers.length === 1 ? (layers[0] as unknown) : undefined;
      if (!isPlainObject(layer) || layer['mediaType'] !== MEDIA_TYPES.sigstoreBundle) {
        throw new TrustgateError(ErrorCode.COSIGN_BUNDLE_INVALID, `referrer ${referrer.index} (${referrer.digest}) does not have exactly one ${MEDIA_TYPES.sigstoreBundle} layer`);
      }
      const { digest: blobDigest, size } = layer;
      if (typeof blobDigest !== 'string' || !DIGEST_RE.test(blobDigest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw invalidResponse(`referrer ${referrer.index} (${referrer.digest}): bundle layer has no valid digest and size`);
      }
      if (size > limits.maxBundleBytes) {
        throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `referrer ${referrer.index} bundle is ${size} bytes, more than the ${limits.maxBundleBytes} read`);
      }
      const blobUrl = `${repo.repositoryUrl}/blobs/${blobDigest}`;
      const blob = await repo.get(blobUrl, [MEDIA_TYPES.sigstoreBundle, '*/*'], limits.maxBundleBytes, deadline);
      expectOk(blob, blobUrl);
      if (sha256(blob.body) !== blobDigest || blob.body.length !== size) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `referrer ${referrer.index} bundle from ${blobUrl} does not hash to ${blobDigest} (${size} bytes)`);
      }
      return { bundle: parseJsonBytes(blob.body, ErrorCode.COSIGN_BUNDLE_INVALID, `referrer ${referrer.index} bundle`), bytes: blob.body };
    },
  };
}

// One GET with Docker token auth: a cached token is sent up front when the repository asked
// for one before; a 401 with a Bearer challenge gets a fresh token and exactly one retry.
// Redirects (blob storage) are followed a few times, without the token (it is the
// registry's, not the storage host's), and only to https or loopback http.
async function getWithAuth(
  fetch: Fetch,
  tokens: TokenProvider | undefined,
  repositoryUrl: string,
  url: string,
  accept: readonly string[],
  timeoutMs: number,
  maxBytes: number,
  deadline: Deadline,
): Promise<HttpResponse> {
  const send = (target: string, token: string | undefined): Promise<HttpResponse> => {
    deadline.check();
    return fetch({
      url: target,
      method: 'GET',
      headers: { accept: accept.join(', '), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      timeoutMs: Math.max(1, Math.min(timeoutMs, deadline.remainingMs())),
      maxBytes,
      ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
    }).catch((error: unknown) => {
      throw translateFetchError(error, target);
    });
  };
  const known = tokens?.challengeFor(repositoryUrl);
  const upfront = known === undefined || tokens === undefined ? undefined : await tokens.getToken(known).catch(() => undefined);
  let response = await send(url, upfront);
  if (response.status === 401 && tokens !== undefined) {
    const challenge = parseBearerChallenge(response.header('www-authenticate') ?? '');
    if (challenge !== undefined) {
      if (known !== undefined) tokens.invalidate(known);
      tokens.rememberChallenge(repositoryUrl, challenge);
      response = await send(url, await tokens.getToken(challenge));
    }
  }
  let current = url;
  for (let hops = 0; isRedirect(response.status); hops += 1) {
    if (hops >= MAX_REDIRECTS) throw unavailable(`registry redirected ${url} more than ${MAX_REDIRECTS} times`);
    current = redirectTarget(response, current);
    response = await send(current, undefined);
  }
  return response;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

// The Location of a redirect, resolved against the request URL; https, or http between
// loopback hosts, without credentials.
function redirectTarget(response: HttpResponse, from: string): string {
  const location = response.header('location');
  let target: URL;
  try {
    target = new URL(location ?? '', from);
  } catch {
    throw invalidResponse(`registry redirect from ${from} has no usable Location`);
  }
  const origin = new URL(from);
  const loopbackHttp = target.protocol === 'http:' && LOOPBACK_RE.test(target.host) && LOOPBACK_RE.test(origin.host);
  if ((target.protocol !== 'https:' && !loopbackHttp) || location === undefined || target.username !== '' || target.password !== '') {
    throw invalidResponse(`registry redirect from ${from} goes to a URL that is not https`);
  }
  return target.href;
}

// The port's errors, renamed for a registry: an oversized body and an unreachable registry.
function translateFetchError(error: unknown, url: string): TrustgateError {
  if (error instanceof TrustgateError) {
    if (error.code === ErrorCode.TRUST_METADATA_TOO_LARGE) {
      return new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `registry response from ${stripQuery(url)} is larger than allowed`, { cause: error });
    }
    if (error.code === ErrorCode.TRUST_SERVER_UNAVAILABLE) {
      return new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry request failed: ${error.message}`, { cause: error });
    }
    return error;
  }
  return new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry request ${stripQuery(url)} failed`, { cause: error });
}

function expectOk(response: HttpResponse, url: string): void {
  if (response.status === 200) return;
  const why = response.status === 401 || response.status === 403 ? ' (not authorised for anonymous pulls)' : '';
  throw unavailable(`registry answered ${url} with status ${response.status}${why}: expected 200`);
}

// The digest of a manifest is the sha256 of its bytes. A Docker-Content-Digest header that
// names another digest is a registry (or something in between) lying: refused.
function checkManifestDigest(response: HttpResponse, url: string): string {
  const digest = sha256(response.body);
  const claimed = response.header('docker-content-digest');
  if (claimed !== undefined && claimed.trim() !== digest) {
    // The header is the registry's text: named only when it is a digest at all.
    const named = DIGEST_RE.test(claimed.trim()) ? ` ${claimed.trim()}` : ' that is not a sha256 digest';
    throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `registry says ${url} has digest${named}, but its body hashes to ${digest}`);
  }
  return digest;
}

// A manifest of one of the accepted media types (from its body, else its Content-Type).
function decodeManifest(response: HttpResponse, url: string, accepted: readonly string[]): Readonly<Record<string, unknown>> {
  const manifest = parseJsonBytes(response.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `manifest ${url}`);
  if (!isPlainObject(manifest) || manifest['schemaVersion'] !== 2) throw invalidResponse(`manifest ${url} is not a schema 2 manifest`);
  const bodyType = manifest['mediaType'];
  const headerType = response.header('content-type')?.split(';')[0]?.trim();
  const mediaType = typeof bodyType === 'string' ? bodyType : headerType;
  if (mediaType === undefined || !accepted.includes(mediaType)) {
    throw invalidResponse(`manifest ${url} is not of an accepted media type: expected one of ${accepted.join(', ')}`);
  }
  return manifest;
}

function toSignatureLayer(raw: unknown, index: number, url: string): SignatureLayer {
  if (!isPlainObject(raw)) throw invalidResponse(`signature manifest ${url}: layer ${index} is not an object`);
  const { digest, size, mediaType, annotations } = raw;
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) throw invalidResponse(`signature manifest ${url}: layer ${index} has no sha256 digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalidResponse(`signature manifest ${url}: layer ${index} has no valid size`);
  if (typeof mediaType !== 'string') throw invalidResponse(`signature manifest ${url}: layer ${index} has no media type`);
  if (annotations !== undefined && annotations !== null && !isPlainObject(annotations)) {
    throw invalidResponse(`signature manifest ${url}: layer ${index} annotations are not an object`);
  }
  const text = (name: string): string | undefined => {
    const value = isPlainObject(annotations) ? annotations[name] : undefined;
    return typeof value === 'string' ? value : undefined;
  };
  const certificate = text(CERTIFICATE_ANNOTATION);
  const chain = text(CHAIN_ANNOTATION);
  const rekorBundle = text(REKOR_BUNDLE_ANNOTATION);
  const rfc3161Timestamp = text(TIMESTAMP_ANNOTATION);
  return {
    index,
    digest,
    size,
    mediaType,
    signature: text(SIGNATURE_ANNOTATION),
    ...(certificate === undefined ? {} : { certificate }),
    ...(chain === undefined ? {} : { chain }),
    ...(rekorBundle === undefined ? {} : { rekorBundle }),
    ...(rfc3161Timestamp === undefined ? {} : { rfc3161Timestamp }),
  };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function stripQuery(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}

function invalidResponse(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, message);
}

function unavailable(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, message);
}
