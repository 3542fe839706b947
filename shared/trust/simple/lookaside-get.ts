// One GET of a lookaside store, following the store's redirects as containers/image (Go's
// net/http client) does: stores behind S3 presigned URLs or a CDN answer a signature's URL
// with a 301/302/303/307/308 to where the bytes are.
// Security: the store is hostile, and so is every URL it redirects to.
// - At most MAX_STORE_REDIRECTS redirects are followed: a loop or an endless chain is refused.
// - A redirect goes to http or https only, and never from https to plain http (a downgrade
//   would let whoever is on the network path answer in place of the store): refused with
//   SIMPLE_STORE_REDIRECT_REFUSED, and nothing is requested there.
// - The store credentials (`storeSecret`) are sent only to the origin (scheme, host, port) of
//   the policy's store URL, as Go drops Authorization on a redirect to another host: a CDN, a
//   bucket or whatever host the store names never receives them.
// - The chain is one request for the bounds: the bytes of every answer in it (redirect
//   bodies included) count against one byte bound, and its hops share one time bound (the
//   per-request timeout) under the verification's deadline.
// - A redirect URL's query (a presigned URL's signature) never appears in a message.
import { ErrorCode, TrustgateError } from '../../errors.js';
import type { Fetch, HttpResponse } from '../../ports.js';
import type { Deadline } from '../cosign/deadline.js';

export const MAX_STORE_REDIRECTS = 5;

export interface LookasideGet {
  readonly url: string;
  // `Authorization` for the store URL's origin only.
  readonly authorization: string | undefined;
  // For all the answers of the chain together.
  readonly maxBytes: number;
  // For all the hops of the chain together.
  readonly timeoutMs: number;
}

// The final answer (not a redirect) to a GET of `request.url`, after following redirects.
// Fetch errors pass through (the port's codes); a redirect that may not be followed is
// SIMPLE_STORE_REDIRECT_REFUSED; the chain outliving its time bound is SIMPLE_STORE_UNAVAILABLE.
export async function lookasideGet(fetch: Fetch, request: LookasideGet, deadline: Deadline): Promise<HttpResponse> {
  const storeOrigin = new URL(request.url).origin;
  // Elapsed time is read off the deadline's own monotonic timer: no second clock.
  const startedWith = deadline.remainingMs();
  let current = request.url;
  let bytesRead = 0;
  for (let redirects = 0; ; redirects += 1) {
    deadline.check();
    const chainLeft = request.timeoutMs - (startedWith - deadline.remainingMs());
    if (chainLeft <= 0) {
      throw new TrustgateError(ErrorCode.SIMPLE_STORE_UNAVAILABLE, `${describeUrl(request.url)} and its redirects did not complete within the ${request.timeoutMs} ms timeout`);
    }
    const sameOrigin = new URL(current).origin === storeOrigin;
    const response = await fetch({
      url: current,
      method: 'GET',
      headers: { accept: '*/*', ...(request.authorization === undefined || !sameOrigin ? {} : { authorization: request.authorization }) },
      timeoutMs: Math.max(1, Math.min(chainLeft, deadline.remainingMs())),
      maxBytes: request.maxBytes - bytesRead,
      ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
    });
    if (!isRedirect(response.status)) return response;
    bytesRead += response.body.length;
    if (redirects === MAX_STORE_REDIRECTS) {
      throw refused(`lookaside store redirected ${describeUrl(request.url)} more than ${MAX_STORE_REDIRECTS} times`);
    }
    current = redirectTarget(response, current);
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

// The redirect's Location resolved against the URL that answered it, when it may be followed:
// http(s), no userinfo, and not plain http after https.
function redirectTarget(response: HttpResponse, from: string): string {
  const location = response.header('location');
  let target: URL;
  try {
    if (location === undefined || location.trim() === '') throw new Error('no Location');
    target = new URL(location, from);
  } catch {
    throw refused(`lookaside store redirect from ${describeUrl(from)} has no usable Location`);
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw refused(`lookaside store redirect from ${describeUrl(from)} goes to a ${target.protocol} URL: only http and https are followed`);
  }
  if (new URL(from).protocol === 'https:' && target.protocol === 'http:') {
    throw refused(`lookaside store redirect from ${describeUrl(from)} goes from https to plain http (${describeUrl(target.href)}): a downgrade is never followed`);
  }
  if (target.username !== '' || target.password !== '') {
    throw refused(`lookaside store redirect from ${describeUrl(from)} goes to a URL that embeds credentials`);
  }
  target.hash = '';
  return target.href;
}

// A URL as a message may show it: no userinfo, no query (a presigned URL's signature), bounded.
function describeUrl(url: string): string {
  let shown: string;
  try {
    const parsed = new URL(url);
    shown = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    shown = 'an unparsable URL';
  }
  return shown.length > 300 ? `${shown.slice(0, 300)}...` : shown;
}

function refused(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED, message);
}
