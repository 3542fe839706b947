// Where simple signing signatures are read from, through the Fetch port:
// - a lookaside store (`simple.storeURL`): `<store>/<repository>@sha256=<hex>/signature-N`
//   for N = 1, 2, ... until the first 404, as containers/image writes and reads it, with
//   basic-auth credentials when the policy names a store Secret, following the store's
//   redirects within bounds (lookaside-get.ts);
// - the registry's signature extension (OpenShift, Quay, IBM Cloud Container Registry),
//   used when the registry's `/v2/` answer carries `X-Registry-Supports-Signatures: 1`:
//   `GET /extensions/v2/<name>/signatures/<digest>` answering
//   `{"signatures": [{"schemaVersion": 2, "type": "atomic", "name", "content": <base64>}]}`
//   (containers/image's field name; `version` is read too, as some documents spell it).
// Every answer is hostile: each signature is capped in bytes, the number read is capped,
// and a signature that is too large or malformed is skipped with its reason (the others
// may still verify). A store that cannot be read at all (unreachable, an error status, the
// deadline) is SIMPLE_STORE_UNAVAILABLE, and one redirecting where it may not be followed
// SIMPLE_STORE_REDIRECT_REFUSED: the image is denied with that reason, never allowed for
// lack of an answer.
// Registry requests are anonymous today (token flow through the process's anonymous token
// client); `RegistryAccess.credentials` is the seam for per-request pull credentials.
import type { RegistryCredentials } from '../../registry/credential-keyring.js';
import { ErrorCode, TrustgateError, toTrustgateError } from '../../errors.js';
import type { ImageReference } from '../../image/reference.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { Fetch, HttpResponse } from '../../ports.js';
import { parseBearerChallenge, type TokenAuth } from '../../registry/token-auth.js';
import type { Deadline } from '../cosign/deadline.js';
import { registryBaseUrl } from '../cosign/registry-client.js';
import { decodeBase64 } from '../notary/base64.js';
import { describeAnswerSource, lookasideGet, type LookasideAnswer } from './lookaside-get.js';
import type { StoreCredentials } from '../verifier.js';

export interface SignatureSourceLimits {
  // Most signatures read from one source for one image.
  readonly maxSignatures: number;
  // Largest signature read (its bytes, before any decompression).
  readonly maxSignatureBytes: number;
  // Per request; the verification as a whole has one deadline too.
  readonly requestTimeoutMs: number;
}

export const DEFAULT_SIGNATURE_SOURCE_LIMITS: SignatureSourceLimits = {
  maxSignatures: 16,
  maxSignatureBytes: 64 * 1024,
  requestTimeoutMs: 10_000,
};

// One signature as read, or why it could not be used; `where` names it in reasons.
export type SignatureCandidate =
  | { readonly where: string; readonly bytes: Uint8Array }
  | { readonly where: string; readonly error: TrustgateError };

// How registry requests authenticate: the anonymous token client, and (later) the
// workload's pull credentials for this request.
export interface RegistryAccess {
  readonly tokens?: TokenAuth;
  // The workload's pull-secret credentials for this verification, if any: sent only to the
  // token realm the registry names for itself (the token client's rule).
  readonly credentials?: RegistryCredentials;
}

export const SUPPORTS_SIGNATURES_HEADER = 'x-registry-supports-signatures';

// The lookaside store's signatures of `digest`, in order, at most `maxSignatures`.
export async function readLookasideSignatures(
  fetch: Fetch,
  store: string,
  credentials: StoreCredentials | undefined,
  image: ImageReference,
  digest: string,
  limits: SignatureSourceLimits,
  deadline: Deadline,
): Promise<readonly SignatureCandidate[]> {
  const base = `${store.replace(/\/+$/, '')}/${image.repository}@${digest.replace(':', '=')}`;
  const authorization = credentials === undefined ? undefined : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
  const candidates: SignatureCandidate[] = [];
  for (let index = 1; index <= limits.maxSignatures; index += 1) {
    const url = `${base}/signature-${index}`;
    const where = `lookaside signature-${index}`;
    let answer: LookasideAnswer;
    try {
      answer = await lookasideGet(fetch, { url, authorization, maxBytes: limits.maxSignatureBytes, timeoutMs: limits.requestTimeoutMs }, deadline);
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED) throw error;
      if (error.code !== ErrorCode.TRUST_METADATA_TOO_LARGE) throw storeUnavailable(`lookaside store ${describeUrl(url)}: ${error.message}`, error);
      candidates.push({ where, error: tooLarge(where, limits) });
      continue;
    }
    const { response } = answer;
    if (response.status === 404) return candidates;
    if (response.status !== 200) {
      // A credentials hint only where the store itself answered (sent its credentials if the
      // policy names any): not a bucket's 403 (an expired presigned URL), nor the store's
      // origin reached back through another origin, neither of which was sent credentials.
      const why = answer.fromStore && (response.status === 401 || response.status === 403) ? ' (credentials missing or rejected)' : '';
      const who = answer.redirects === 0 ? `lookaside store answered ${describeUrl(url)}` : `lookaside store ${describeUrl(url)} redirected to ${describeAnswerSource(answer)}, which answered`;
      throw storeUnavailable(`${who} with status ${response.status}${why}: expected 200 or 404`);
    }
    candidates.push({ where, bytes: response.body });
  }
  return candidates;
}

// True when the registry announces the signature extension on its `/v2/` answer (200, or
// the 401 that starts the token flow).
export async function registrySupportsSignatures(fetch: Fetch, image: ImageReference, limits: SignatureSourceLimits, deadline: Deadline): Promise<boolean> {
  const url = `${registryBaseUrl(image.registry)}/v2/`;
  let response: HttpResponse;
  try {
    response = await storeGet(fetch, url, undefined, 64 * 1024, limits, deadline);
  } catch (thrown) {
    throw storeUnavailable(`registry ${image.registry}: ${toTrustgateError(thrown).message}`, thrown);
  }
  return response.header(SUPPORTS_SIGNATURES_HEADER)?.trim() === '1';
}

// The signatures the registry's extension API holds for `digest`, at most `maxSignatures`.
// Entries of another version or type are not signatures this verifier reads (skipped, as
// containers/image does).
export async function readRegistrySignatures(
  fetch: Fetch,
  access: RegistryAccess,
  image: ImageReference,
  digest: string,
  limits: SignatureSourceLimits,
  deadline: Deadline,
): Promise<readonly SignatureCandidate[]> {
  const base = registryBaseUrl(image.registry);
  const url = `${base}/extensions/v2/${image.repository}/signatures/${digest}`;
  // base64 grows 4/3, and each entry carries a little JSON around its content.
  const maxBytes = limits.maxSignatures * (Math.ceil(limits.maxSignatureBytes / 3) * 4 + 1024) + 1024;
  let response: HttpResponse;
  try {
    response = await registryGet(fetch, access, base, image, url, maxBytes, limits, deadline);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    const what = error.code === ErrorCode.TRUST_METADATA_TOO_LARGE ? `answer is larger than the ${maxBytes} bytes read` : error.message;
    throw storeUnavailable(`registry signature extension ${describeUrl(url)}: ${what}`, error);
  }
  if (response.status === 404) return [];
  if (response.status !== 200) {
    const why = response.status === 401 || response.status === 403 ? ' (not authorised)' : '';
    throw storeUnavailable(`registry signature extension answered ${describeUrl(url)} with status ${response.status}${why}: expected 200`);
  }
  const document = parseJsonBytes(response.body, ErrorCode.SIMPLE_STORE_UNAVAILABLE, `registry signature extension answer ${describeUrl(url)}`);
  const list = isPlainObject(document) ? document['signatures'] : undefined;
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw storeUnavailable(`registry signature extension answer ${describeUrl(url)} has no "signatures" list`);
  const candidates: SignatureCandidate[] = [];
  for (const [offset, entry] of (list as unknown[]).entries()) {
    if (candidates.length === limits.maxSignatures) break;
    const where = `registry signature ${offset + 1}`;
    if (!isPlainObject(entry) || (entry['schemaVersion'] ?? entry['version']) !== 2 || entry['type'] !== 'atomic') continue;
    const content = entry['content'];
    const bytes = typeof content === 'string' ? decodeBase64(content) : undefined;
    if (bytes === undefined) {
      candidates.push({ where, error: new TrustgateError(ErrorCode.SIMPLE_SIGNATURE_INVALID, `${where} has no base64 "content"`) });
    } else if (bytes.length > limits.maxSignatureBytes) {
      candidates.push({ where, error: tooLarge(where, limits) });
    } else {
      candidates.push({ where, bytes });
    }
  }
  return candidates;
}

function storeGet(fetch: Fetch, url: string, authorization: string | undefined, maxBytes: number, limits: SignatureSourceLimits, deadline: Deadline): Promise<HttpResponse> {
  deadline.check();
  return fetch({
    url,
    method: 'GET',
    headers: { accept: '*/*', ...(authorization === undefined ? {} : { authorization }) },
    timeoutMs: Math.max(1, Math.min(limits.requestTimeoutMs, deadline.remainingMs())),
    maxBytes,
    ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
  });
}

// A registry GET with Docker token auth: a 401 with a Bearer challenge gets a token from
// the realm (the token client decides which realm may be asked, with what) and one retry.
async function registryGet(
  fetch: Fetch,
  access: RegistryAccess,
  base: string,
  image: ImageReference,
  url: string,
  maxBytes: number,
  limits: SignatureSourceLimits,
  deadline: Deadline,
): Promise<HttpResponse> {
  const tokens = access.tokens?.forRegistry(base, access.credentials?.forRepository(image.registry, image.repository));
  const resource = `${base}/v2/${image.repository}`;
  const known = tokens?.challengeFor(resource);
  const upfront = known === undefined || tokens === undefined ? undefined : await tokens.getToken(known).catch(() => undefined);
  const send = (token: string | undefined): Promise<HttpResponse> => storeGet(fetch, url, token === undefined ? undefined : `Bearer ${token}`, maxBytes, limits, deadline);
  const response = await send(upfront);
  if (response.status !== 401 || tokens === undefined) return response;
  const challenge = parseBearerChallenge(response.header('www-authenticate') ?? '');
  if (challenge === undefined) return response;
  if (known !== undefined) tokens.invalidate(known);
  tokens.rememberChallenge(resource, challenge);
  return send(await tokens.getToken(challenge));
}

function describeUrl(url: string): string {
  return url.length > 300 ? `${url.slice(0, 300)}...` : url;
}

function tooLarge(where: string, limits: SignatureSourceLimits): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_SIGNATURE_INVALID, `${where} is larger than the ${limits.maxSignatureBytes} bytes read`);
}

function storeUnavailable(message: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_STORE_UNAVAILABLE, message, cause === undefined ? {} : { cause });
}
