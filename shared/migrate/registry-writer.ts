// Reads and writes what a carry-over needs in an OCI registry (distribution API v2, through
// the Fetch port): manifests by digest or tag, blob uploads, manifest pushes, and the
// referrers API. Everything the registry sends is hostile: bodies are capped while they
// stream, a manifest asked for by digest must hash to it, and every request has a timeout
// under one per-image budget.
// Credentials: Docker token auth (the realm named by a 401 gets the operator's credentials
// only over https, and only when it is the registry's own host or on the operator's
// allow-list: see registry/token-auth.ts), or Basic auth answered to a `Basic` challenge,
// sent only over https or to a loopback registry. An upload Location pointing at another
// origin is refused: the registry's credentials never leave it.
import { ErrorCode, TrustgateError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import type { Fetch, HttpResponse } from '../ports.js';
import { parseBearerChallenge, type TokenAuth, type TokenCredentials, type TokenProvider } from '../registry/token-auth.js';
import { registryBaseUrl } from '../trust/cosign/registry-client.js';
import { sha256 } from './classic-signature.js';

export interface RegistryWriterLimits {
  readonly maxManifestBytes: number;
  readonly maxBlobBytes: number;
  readonly requestTimeoutMs: number;
}

export const DEFAULT_WRITER_LIMITS: RegistryWriterLimits = { maxManifestBytes: 4 * 1024 * 1024, maxBlobBytes: 256 * 1024, requestTimeoutMs: 15_000 };

export interface RegistryWriterOptions {
  readonly fetch: Fetch;
  // Token client; its credentials (if any) are the push credentials.
  readonly tokens: TokenAuth;
  // The same credentials for registries that answer with a Basic challenge.
  readonly credentials?: TokenCredentials;
  readonly limits?: RegistryWriterLimits;
}

export interface FetchedManifest {
  readonly body: Uint8Array;
  readonly digest: string;
  readonly mediaType: string | undefined;
}

export interface RegistryWriter {
  // The manifest at `reference` (a tag or digest), undefined on 404.
  getManifest(image: ImageReference, reference: string, accept: readonly string[], signal: AbortSignal): Promise<FetchedManifest | undefined>;
  // The referrers API's index for `digest`, or undefined where the registry has no such API.
  getReferrers(image: ImageReference, digest: string, signal: AbortSignal): Promise<Uint8Array | undefined>;
  // A blob's bytes, checked against its digest.
  getBlob(image: ImageReference, digest: string, size: number, signal: AbortSignal): Promise<Uint8Array>;
  // Uploads a blob unless the repository has it already.
  pushBlob(image: ImageReference, bytes: Uint8Array, signal: AbortSignal): Promise<void>;
  // Puts a manifest at a tag or digest.
  putManifest(image: ImageReference, reference: string, mediaType: string, bytes: Uint8Array, signal: AbortSignal): Promise<void>;
}

const LOOPBACK_RE = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d+)?$/;

interface Send {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  readonly url: string;
  readonly accept?: readonly string[];
  readonly contentType?: string;
  readonly body?: Uint8Array;
  readonly maxBytes: number;
}

export function createRegistryWriter(options: RegistryWriterOptions): RegistryWriter {
  const limits = options.limits ?? DEFAULT_WRITER_LIMITS;

  const open = (image: ImageReference) => {
    const base = registryBaseUrl(image.registry);
    const repositoryUrl = `${base}/v2/${image.repository}`;
    const tokens = options.tokens.forServer(base, 'operator');
    const basicAllowed = base.startsWith('https://') || LOOPBACK_RE.test(image.registry);
    return { base, repositoryUrl, send: (request: Send, signal: AbortSignal) => sendWithAuth(options, tokens, basicAllowed, repositoryUrl, request, limits, signal) };
  };

  return {
    async getManifest(image, reference, accept, signal) {
      const repo = open(image);
      const url = `${repo.repositoryUrl}/manifests/${reference}`;
      const response = await repo.send({ method: 'GET', url, accept, maxBytes: limits.maxManifestBytes }, signal);
      if (response.status === 404) return undefined;
      expectStatus(response, [200], url);
      const digest = sha256(response.body);
      if (reference.startsWith('sha256:') && reference !== digest) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `registry served ${image.repository}@${reference} with a body hashing to ${digest}`);
      }
      return { body: response.body, digest, mediaType: response.header('content-type')?.split(';')[0]?.trim() };
    },

    async getReferrers(image, digest, signal) {
      const repo = open(image);
      const url = `${repo.base}/v2/${image.repository}/referrers/${digest}`;
      const response = await repo.send({ method: 'GET', url, accept: ['application/vnd.oci.image.index.v1+json'], maxBytes: limits.maxManifestBytes }, signal);
      if (response.status === 404) return undefined;
      expectStatus(response, [200], url);
      return response.body;
    },

    async getBlob(image, digest, size, signal) {
      if (size > limits.maxBlobBytes) throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `blob ${digest} is ${size} bytes, more than the ${limits.maxBlobBytes} read`);
      const repo = open(image);
      const url = `${repo.repositoryUrl}/blobs/${digest}`;
      const response = await repo.send({ method: 'GET', url, accept: ['*/*'], maxBytes: limits.maxBlobBytes }, signal);
      expectStatus(response, [200], url);
      if (sha256(response.body) !== digest || response.body.length !== size) {
        throw new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, `blob ${digest} from ${url} does not hash to its digest`);
      }
      return response.body;
    },

    async pushBlob(image, bytes, signal) {
      const repo = open(image);
      const digest = sha256(bytes);
      const head = await repo.send({ method: 'HEAD', url: `${repo.repositoryUrl}/blobs/${digest}`, maxBytes: 0 }, signal);
      if (head.status === 200) return;
      const startUrl = `${repo.repositoryUrl}/blobs/uploads/`;
      const started = await repo.send({ method: 'POST', url: startUrl, maxBytes: 64 * 1024 }, signal);
      expectStatus(started, [202], startUrl);
      const target = uploadTarget(started, startUrl);
      target.searchParams.set('digest', digest);
      const put = await repo.send({ method: 'PUT', url: target.href, contentType: 'application/octet-stream', body: bytes, maxBytes: 64 * 1024 }, signal);
      expectStatus(put, [201], `${repo.repositoryUrl}/blobs/uploads/...`);
    },

    async putManifest(image, reference, mediaType, bytes, signal) {
      const repo = open(image);
      const url = `${repo.repositoryUrl}/manifests/${reference}`;
      const response = await repo.send({ method: 'PUT', url, contentType: mediaType, body: bytes, maxBytes: 64 * 1024 }, signal);
      expectStatus(response, [201], url);
    },
  };
}

// The upload URL a registry answered with, resolved against the request; only on the
// registry's own origin, so the credentials sent with the upload stay with the registry.
function uploadTarget(response: HttpResponse, from: string): URL {
  const location = response.header('location');
  let target: URL;
  try {
    target = new URL(location ?? '', from);
  } catch {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, `registry gave no usable upload location for ${from}`);
  }
  if (location === undefined || target.origin !== new URL(from).origin || target.username !== '' || target.password !== '') {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, `registry's upload location for ${from} is on another origin: refused, credentials stay with the registry`);
  }
  return target;
}

// One request with auth: a cached token up front when the repository asked for one before;
// a 401 with a Bearer challenge gets a token and exactly one retry; a 401 with only a Basic
// challenge gets the credentials once (https or loopback only). Redirects are not followed.
async function sendWithAuth(
  options: RegistryWriterOptions,
  tokens: TokenProvider,
  basicAllowed: boolean,
  repositoryUrl: string,
  request: Send,
  limits: RegistryWriterLimits,
  signal: AbortSignal,
): Promise<HttpResponse> {
  const send = (authorization: string | undefined): Promise<HttpResponse> => {
    if (signal.aborted) return Promise.reject(new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry requests for this image took longer than allowed`));
    return options
      .fetch({
        url: request.url,
        method: request.method,
        headers: {
          ...(request.accept === undefined ? {} : { accept: request.accept.join(', ') }),
          ...(request.contentType === undefined ? {} : { 'content-type': request.contentType }),
          ...(authorization === undefined ? {} : { authorization }),
        },
        ...(request.body === undefined ? {} : { body: request.body }),
        timeoutMs: limits.requestTimeoutMs,
        maxBytes: request.maxBytes,
        signal,
      })
      .catch((error: unknown) => {
        throw translate(error, request.url);
      });
  };
  const known = tokens.challengeFor(repositoryUrl);
  const upfront = known === undefined ? undefined : await tokens.getToken(known).catch(() => undefined);
  let response = await send(upfront === undefined ? undefined : `Bearer ${upfront}`);
  if (response.status !== 401) return response;
  const header = response.header('www-authenticate') ?? '';
  const challenge = parseBearerChallenge(header);
  if (challenge !== undefined) {
    if (known !== undefined) tokens.invalidate(known);
    tokens.rememberChallenge(repositoryUrl, challenge);
    response = await send(`Bearer ${await tokens.getToken(challenge).catch((error: unknown) => {
      throw tokenRefused(error, request.url);
    })}`);
  } else if (/^\s*basic\b/i.test(header) && options.credentials !== undefined && basicAllowed) {
    const { username, password } = options.credentials;
    response = await send(`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  }
  return response;
}

// A token service that grants no token (no or wrong credentials) refuses the request, as a
// 401 would; a realm refused by the credential rules keeps its own code.
function tokenRefused(error: unknown, url: string): TrustgateError {
  if (error instanceof TrustgateError && error.code === ErrorCode.TRUST_AUTH_REALM_REFUSED) return error;
  const why = error instanceof TrustgateError ? `: ${error.message}` : '';
  return new TrustgateError(ErrorCode.REGISTRY_PUSH_FAILED, `registry token service gave no token for ${url.split('?')[0] ?? url}${why} (push credentials: --registry-username and TRUSTGATE_REGISTRY_PASSWORD)`, { cause: error });
}

function translate(error: unknown, url: string): TrustgateError {
  const where = url.split('?')[0] ?? url;
  if (error instanceof TrustgateError) {
    if (error.code === ErrorCode.TRUST_METADATA_TOO_LARGE) return new TrustgateError(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE, `registry response from ${where} is larger than allowed`, { cause: error });
    if (error.code === ErrorCode.TRUST_SERVER_UNAVAILABLE) return new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry request ${where} failed: ${error.message}`, { cause: error });
    return error;
  }
  return new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry request ${where} failed`, { cause: error });
}

function expectStatus(response: HttpResponse, expected: readonly number[], url: string): void {
  if (expected.includes(response.status)) return;
  const where = url.split('?')[0] ?? url;
  const why = response.status === 401 || response.status === 403 ? ' (not authorised: give --registry-username and TRUSTGATE_REGISTRY_PASSWORD)' : '';
  throw new TrustgateError(ErrorCode.REGISTRY_PUSH_FAILED, `registry answered ${where} with status ${response.status}${why}: expected ${expected.join(' or ')}`);
}
