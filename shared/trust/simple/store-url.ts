// The lookaside store URL a policy names, checked when the policy is turned into a
// requirement (before any request).
import { ErrorCode, TrustgateError } from '../../errors.js';

const LOOPBACK_RE = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

// Refuses a store URL that is not http(s), and credentials that would cross the network in
// clear text (plain http is accepted only on loopback when a store Secret is named).
export function checkStoreUrl(store: string, withCredentials: boolean, field: string): void {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} is not a URL: expected https://...`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} uses ${url.protocol}: expected https:// or http://`);
  if (url.username !== '' || url.password !== '') throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} holds credentials: name a store Secret instead`);
  if (url.search !== '' || url.hash !== '') throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} has a query or fragment: expected the store's base URL`);
  if (withCredentials && url.protocol === 'http:' && !LOOPBACK_RE.test(url.hostname)) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} is plain http: store credentials are sent only over https`);
  }
}

