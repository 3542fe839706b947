// The verify-image use case run by a deployed function instead of in-process: the shape
// every platform shares. One POST per image under one deadline, the answer read with a size
// cap and decoded strictly, and every failure on the way (network, timeout, refusal, a
// non-200, an envelope or answer that is not the contract) turned into a denial with
// TRUST_SERVER_UNAVAILABLE. Admission fails closed: nothing here can produce an allow except a
// well-formed allow for the image asked about.
import type { VerifyImageFn } from '../../shared/admission/decide-admission.js';
import { ErrorCode, TrustgateError, toTrustgateError } from '../../shared/errors.js';
import { parseJsonBytes } from '../../shared/json.js';
import type { Fetch, HttpRequest } from '../../shared/ports.js';
import { denial } from '../../shared/verify/verify-image.js';
import { encodeRegistryCredentials } from '../../shared/registry/workload-pull-secrets.js';
import { decodeVerifyImageAnswer } from './verify-image-answer.js';

// The most a verify-image answer may weigh; real ones are a few hundred bytes.
export const MAX_ANSWER_BYTES = 256 * 1024;

export interface RemoteEndpoint {
  // How reasons name the endpoint: scheme, host and path, never a credential or query.
  readonly label: string;
  // The authenticated HTTP request carrying the verify-image JSON request `body`.
  prepare(body: string): HttpRequest | Promise<HttpRequest>;
  // The verify-image response inside the platform's answer (the answer itself, or an
  // envelope around it); throws a TrustgateError when the platform reports a failure.
  unwrap(answer: unknown): unknown;
}

export function createRemoteVerify(fetch: Fetch, endpoint: RemoteEndpoint): VerifyImageFn {
  // The workload's pull-secret credentials travel in the request body, over the channel the
  // endpoint authenticates (https, or http on loopback): the function uses them for this
  // request and keeps nothing. No reason below quotes the body.
  return async (image, namespace, _signal, credentials) => {
    try {
      const body = credentials === undefined || credentials.length === 0 ? { image, namespace } : { image, namespace, registryCredentials: encodeRegistryCredentials(credentials) };
      const request = await endpoint.prepare(JSON.stringify(body));
      const response = await fetch(request);
      if (response.status !== 200) {
        throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `expected HTTP 200, got ${response.status}`);
      }
      let answer: unknown;
      try {
        answer = parseJsonBytes(response.body, ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the answer');
      } catch {
        // The parser's message quotes the text around the error: nothing of the body may
        // reach a reason.
        throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the answer is not valid JSON');
      }
      return decodeVerifyImageAnswer(endpoint.unwrap(answer), image);
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      // A code the fetcher uses for oversized bodies or bad configuration still means the
      // function could not give a usable answer; the reason keeps what happened.
      const reason = error.code === ErrorCode.INTERNAL ? 'internal error' : error.message;
      return denial(image, [new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `remote verify-image at ${endpoint.label} failed: ${reason}`, { cause: error })]);
    }
  };
}

// Accepts only https, and plain http on a loopback address (a local stand-in, or a
// sidecar proxy): credentials and verdicts must not cross a network in the clear. Returns
// the URL without a trailing slash and refuses userinfo, query and fragment.
export function parseFunctionsBase(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${what} is not an absolute URL`);
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${what} must use https (http only on a loopback address), got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${what} must not embed credentials`);
  if (url.search !== '' || url.hash !== '') throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${what} must have no query or fragment`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
