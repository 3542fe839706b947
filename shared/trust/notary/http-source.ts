// The MetadataSource port over a Notary server's HTTP API (through the Fetch port):
//   GET {server}/v2/{gun}/_trust/tuf/{role}.json              latest
//   GET {server}/v2/{gun}/_trust/tuf/{role}.{sha256hex}.json  by checksum
//   GET {server}/v2/{gun}/_trust/tuf/{version}.{role}.json    by version
// with Docker token authentication when the server asks for it. The bytes returned are
// still untrusted: the client workflow checks hashes and signatures.
import { ErrorCode, TrustgateError } from '../../errors.js';
import type { Fetch, HttpResponse } from '../../ports.js';
import { parseBearerChallenge, type TokenProvider } from '../../registry/token-auth.js';
import type { RoleName } from './model.js';
import type { MetadataSelector, MetadataSource } from './source.js';

export interface NotaryHttpSourceOptions {
  // e.g. https://notary.docker.io or https://127.0.0.1:4443 (trailing slash tolerated)
  readonly serverUrl: string;
  // Globally unique name: may contain '/' and 'host:port', e.g. 127.0.0.1:5000/team/app.
  readonly gun: string;
  readonly fetch: Fetch;
  // Per request, default 10 s.
  readonly timeoutMs?: number;
  // Shared across sources so tokens (and the challenges that lead to them) are reused.
  readonly tokens?: TokenProvider;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const TOP_LEVEL_ROLE_RE = /^(?:root|targets|snapshot|timestamp)$/;
const DELEGATION_SEGMENT_RE = /^[A-Za-z0-9_.-]+$/;
const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

// Validates the server URL and GUN once, up front, so every request URL is built from
// known-good parts.
export function createNotaryHttpSource(options: NotaryHttpSourceOptions): MetadataSource {
  const repositoryUrl = `${normaliseServerUrl(options.serverUrl)}/v2/${encodeGun(options.gun)}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    async fetchMetadata(role: RoleName, selector: MetadataSelector, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
      const url = `${repositoryUrl}/_trust/tuf/${toFileName(role, selector)}`;
      const response = await getWithTokenAuth(url, repositoryUrl, { ...options, timeoutMs, ...(signal === undefined ? {} : { signal }) }, maxBytes);
      if (response.status === 200) return response.body;
      if (response.status === 404) return undefined;
      if (response.status === 401 || response.status === 403) {
        throw new TrustgateError(
          ErrorCode.TRUST_SERVER_UNAVAILABLE,
          `notary server is not authorised to serve ${url}: expected status 200, got ${response.status}`,
        );
      }
      throw new TrustgateError(
        ErrorCode.TRUST_SERVER_UNAVAILABLE,
        `notary server failed for ${url}: expected status 200 or 404, got ${response.status}`,
      );
    },
  };
}

// One GET with token auth. When the server answered this repository with a challenge
// before, a cached token is sent up front (saves the 401 round trip). A 401 with a Bearer
// challenge gets a fresh token and exactly one retry; whatever the retry answers is final,
// so a server that keeps refusing cannot make us loop.
export async function getWithTokenAuth(
  url: string,
  repositoryUrl: string,
  options: Pick<NotaryHttpSourceOptions, 'fetch' | 'tokens'> & { readonly timeoutMs: number; readonly signal?: AbortSignal },
  maxBytes: number,
): Promise<HttpResponse> {
  const send = (token: string | undefined): Promise<HttpResponse> =>
    options.fetch({
      url,
      method: 'GET',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      timeoutMs: options.timeoutMs,
      maxBytes,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  const tokens = options.tokens;
  const known = tokens?.challengeFor(repositoryUrl);
  // A remembered challenge whose token cannot be had now (its realm refused, its service
  // down) is not the end: the request goes without a token, and the server's answer says
  // what it wants today.
  const upfront = known === undefined || tokens === undefined ? undefined : await tokens.getToken(known).catch(() => undefined);
  const first = await send(upfront);
  if (first.status !== 401 || tokens === undefined) return first;
  const challenge = parseBearerChallenge(first.header('www-authenticate') ?? '');
  if (challenge === undefined) return first;
  if (known !== undefined) tokens.invalidate(known);
  tokens.rememberChallenge(repositoryUrl, challenge);
  return send(await tokens.getToken(challenge));
}

// Accepts http: and https: server URLs without credentials, query or fragment, and drops
// trailing slashes so paths join cleanly.
function normaliseServerUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'notary server URL is not a valid absolute URL', { cause: error });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `notary server URL scheme is not supported: expected https: or http:, got ${url.protocol}`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `notary server URL for ${url.host} must be plain: expected no credentials, query or fragment`,
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

// Each GUN segment is percent-encoded so nothing in it can change the URL's structure
// ('?', '#', '%', spaces), while '/' between segments and ':' of host:port stay literal,
// as notary-server routes them. Empty, '.' and '..' segments are refused: a dot segment
// would be resolved away and fetch another repository's metadata.
function encodeGun(gun: string): string {
  const segments = gun.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `notary GUN is not a repository name: expected non-empty path segments without dots, got "${gun.slice(0, 256)}"`,
    );
  }
  return segments.map((segment) => encodeURIComponent(segment).replaceAll('%3A', ':')).join('/');
}

// Role names reach us from signed-but-hostile delegation metadata, so they are checked
// before they become a path: a top-level role, or targets/<segment>[/<segment>...] with
// no dot segments (which could walk out of the repository's _trust/tuf/ directory).
function encodeRole(role: RoleName): string {
  const segments = role.split('/');
  const valid = TOP_LEVEL_ROLE_RE.test(role)
    ? true
    : segments[0] === 'targets' &&
      segments.length > 1 &&
      segments.slice(1).every((segment) => DELEGATION_SEGMENT_RE.test(segment) && segment !== '.' && segment !== '..');
  if (!valid) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_INVALID,
      `role name is not a Notary role: expected root, targets, snapshot, timestamp or targets/<name>, got another name`,
    );
  }
  return role;
}

function toFileName(role: RoleName, selector: MetadataSelector): string {
  const path = encodeRole(role);
  switch (selector.kind) {
    case 'latest':
      return `${path}.json`;
    case 'checksum':
      if (!SHA256_HEX_RE.test(selector.sha256Hex)) {
        throw new TrustgateError(
          ErrorCode.TRUST_METADATA_INVALID,
          `checksum for ${role} is not a sha256: expected 64 lower-case hex characters, got "${selector.sha256Hex.slice(0, 80)}"`,
        );
      }
      return `${path}.${selector.sha256Hex}.json`;
    case 'version':
      if (!Number.isSafeInteger(selector.version) || selector.version < 1) {
        throw new TrustgateError(
          ErrorCode.TRUST_METADATA_INVALID,
          `version for ${role} is not valid: expected a positive integer, got ${selector.version}`,
        );
      }
      return `${selector.version}.${path}.json`;
  }
}
