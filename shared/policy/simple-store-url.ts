// What a simple signing policy's lookaside store URL may be: checked when the policy document
// is read (lint, every policy source) and again when the requirement is built
// (shared/trust/simple/store-url.ts).
const LOOPBACK_RE = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

// What is wrong with a store URL (undefined: nothing), said of the field: not http(s), or
// credentials that would cross the network in clear text (plain http is accepted only on
// loopback when a store Secret is named).
export function storeUrlProblem(store: string, withCredentials: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    return 'is not a URL: expected https://...';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `uses ${url.protocol}: expected https:// or http://`;
  if (url.username !== '' || url.password !== '') return 'holds credentials: name a store Secret instead';
  if (url.search !== '' || url.hash !== '') return 'has a query or fragment: expected the store\'s base URL';
  if (withCredentials && url.protocol === 'http:' && !LOOPBACK_RE.test(url.hostname)) return 'is plain http: store credentials are sent only over https';
  return undefined;
}
