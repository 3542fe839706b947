// One GET of a lookaside store, following the store's redirects as containers/image (Go's
// net/http client) does: stores behind S3 presigned URLs or a CDN answer a signature's URL
// with a 301/302/303/307/308 to where the bytes are.
// Security: the store is hostile, and so is every URL it redirects to.
// - At most MAX_STORE_REDIRECTS redirects are followed: a loop or an endless chain is refused.
// - A redirect goes to http or https only, and never from https to plain http (a downgrade
//   would let whoever is on the network path answer in place of the store): refused with
//   SIMPLE_STORE_REDIRECT_REFUSED, and nothing is requested there.
// - A redirect never aims our GETs at this machine or its link (an IP literal in loopback,
//   link-local or unspecified, in any spelling, or the name localhost) unless the store URL's
//   own host is in that class (internal-host.ts): refused with SIMPLE_STORE_REDIRECT_REFUSED
//   before anything is requested there. A DNS name that resolves to such an address is not
//   recognised.
// - The store credentials (`storeSecret`) are sent only to the origin (scheme, host, port) of
//   the policy's store URL, and only while the chain has stayed on it: a CDN, a bucket or
//   whatever host the store names never receives them, nor does the store's origin at a path
//   and query another origin chose by redirecting back to it.
// - The chain is one request for the bounds: the bytes of every answer in it (redirect
//   bodies included) count against one byte bound, and its hops share one time bound (the
//   per-request timeout) under the verification's deadline.
// - A redirect URL's path and query (a presigned URL's signature, or whatever internal path
//   the store named) never appear in a message: a hop after a redirect is named by its
//   origin only, so a denial does not report what a chosen path answered.
import { ErrorCode, TrustgateError, toTrustgateError } from '../../errors.js';
import type { Fetch, HttpResponse } from '../../ports.js';
import type { Deadline } from '../cosign/deadline.js';
import { internalHostClass } from './internal-host.js';

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

// The final answer of a chain, and who gave it.
export interface LookasideAnswer {
  readonly response: HttpResponse;
  // The URL that answered: the store URL itself when nothing redirected.
  readonly url: string;
  readonly redirects: number;
  // True when the store's origin answered a chain that never left it: the store itself
  // answered, sent its credentials if the policy names any.
  readonly fromStore: boolean;
}

// The final answer (not a redirect) to a GET of `request.url`, after following redirects.
// Fetch errors keep the port's codes (a hop after a redirect named by its origin only); a
// redirect that may not be followed is SIMPLE_STORE_REDIRECT_REFUSED; the chain outliving its
// time bound is SIMPLE_STORE_UNAVAILABLE.
export async function lookasideGet(fetch: Fetch, request: LookasideGet, deadline: Deadline): Promise<LookasideAnswer> {
  const store = new URL(request.url);
  // Elapsed time is read off the deadline's own monotonic timer: no second clock.
  const startedWith = deadline.remainingMs();
  let current = request.url;
  let bytesRead = 0;
  // Once a hop leaves the store's origin, the credentials stay behind for the whole chain.
  let leftStoreOrigin = false;
  for (let redirects = 0; ; redirects += 1) {
    deadline.check();
    const chainLeft = request.timeoutMs - (startedWith - deadline.remainingMs());
    if (chainLeft <= 0) {
      throw new TrustgateError(ErrorCode.SIMPLE_STORE_UNAVAILABLE, `${describeUrl(request.url)} and its redirects did not complete within the ${request.timeoutMs} ms timeout`);
    }
    leftStoreOrigin ||= new URL(current).origin !== store.origin;
    const credentialsSent = request.authorization !== undefined && !leftStoreOrigin;
    let response: HttpResponse;
    try {
      response = await fetch({
        url: current,
        method: 'GET',
        headers: { accept: '*/*', ...(credentialsSent ? { authorization: request.authorization } : {}) },
        timeoutMs: Math.max(1, Math.min(chainLeft, deadline.remainingMs())),
        maxBytes: request.maxBytes - bytesRead,
        ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
      });
    } catch (thrown) {
      if (redirects === 0) throw thrown;
      throw redirectHopFailed(toTrustgateError(thrown), current, redirects);
    }
    if (!isRedirect(response.status)) return { response, url: current, redirects, fromStore: !leftStoreOrigin };
    bytesRead += response.body.length;
    if (redirects === MAX_STORE_REDIRECTS) {
      throw refused(`lookaside store redirected ${describeUrl(request.url)} more than ${MAX_STORE_REDIRECTS} times`);
    }
    current = redirectTarget(response, current, redirects === 0 ? describeUrl(current) : describeOrigin(current), store);
  }
}

// A short name of where a chain's answer came from, for messages: the store URL when nothing
// redirected, else the origin of the hop that answered and how many redirects led there.
export function describeAnswerSource(answer: LookasideAnswer): string {
  return answer.redirects === 0 ? describeUrl(answer.url) : `${describeOrigin(answer.url)} (after ${answer.redirects} redirect${answer.redirects === 1 ? '' : 's'})`;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

// The redirect's Location resolved against the URL that answered it, when it may be followed:
// http(s), no userinfo, not plain http after https, and not an internal host (unless the
// store itself is one of its class). `from` names the answering URL in messages.
function redirectTarget(response: HttpResponse, current: string, from: string, store: URL): string {
  const location = response.header('location');
  let target: URL;
  try {
    if (location === undefined || location.trim() === '') throw new Error('no Location');
    target = new URL(location, current);
  } catch {
    throw refused(`lookaside store redirect from ${from} has no usable Location`);
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw refused(`lookaside store redirect from ${from} goes to a ${target.protocol} URL: only http and https are followed`);
  }
  if (new URL(current).protocol === 'https:' && target.protocol === 'http:') {
    throw refused(`lookaside store redirect from ${from} goes from https to plain http (${describeOrigin(target.href)}): a downgrade is never followed`);
  }
  if (target.username !== '' || target.password !== '') {
    throw refused(`lookaside store redirect from ${from} goes to a URL that embeds credentials`);
  }
  const targetClass = internalHostClass(target.hostname);
  if (targetClass !== undefined && targetClass !== internalHostClass(store.hostname)) {
    throw refused(`lookaside store redirect from ${from} goes to a ${targetClass} host (${describeOrigin(target.href)}): followed only when the store URL's own host is ${targetClass}`);
  }
  target.hash = '';
  return target.href;
}

// A hop after a redirect that failed (unreachable, timed out, too large): the same code, its
// message with every URL of that hop cut to the hop's origin, so the chosen path and query
// are not echoed, nor what became of them beyond the failure's kind.
function redirectHopFailed(error: TrustgateError, hop: string, redirects: number): TrustgateError {
  const origin = describeOrigin(hop);
  const anyUrlOfTheHop = new RegExp(`${escapeRegExp(new URL(hop).origin)}\\S*?(?=:?(?:\\s|$))`, 'g');
  const message = error.message.replace(anyUrlOfTheHop, origin);
  // The cause is Node's error (an address and port at most), not ours that quoted the path.
  return new TrustgateError(error.code, `redirect ${redirects} to ${origin}: ${message}`, error.cause === undefined ? {} : { cause: error.cause });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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

// A URL's scheme, host and port only.
function describeOrigin(url: string): string {
  const parsed = new URL(url);
  const shown = `${parsed.protocol}//${parsed.host}`;
  return shown.length > 300 ? `${shown.slice(0, 300)}...` : shown;
}

function refused(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED, message);
}
