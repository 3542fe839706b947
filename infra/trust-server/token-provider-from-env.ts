// The token client every process uses for trust-server (Docker token) auth, configured from
// the environment:
// - TRUSTGATE_TRUST_USERNAME and TRUSTGATE_TRUST_PASSWORD, both or neither: the Basic
//   credentials for the token service. They are never flags, so they do not show in
//   process listings.
// - TRUSTGATE_TRUST_REALM_HOSTS: host names (comma- or space-separated) whose token realm
//   may receive those credentials besides each trust server's own host, e.g. a separate
//   auth host. Ports and paths are not part of an entry.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, Fetch } from '../../shared/ports.js';
import { createTokenAuth, type TokenAuth } from '../../shared/registry/token-auth.js';

export function createTokenProviderFromEnv(fetch: Fetch, env: Readonly<Record<string, string | undefined>>, clock: Clock): TokenAuth {
  const username = env['TRUSTGATE_TRUST_USERNAME'] || undefined;
  const password = env['TRUSTGATE_TRUST_PASSWORD'] || undefined;
  if ((username === undefined) !== (password === undefined)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'TRUSTGATE_TRUST_USERNAME and TRUSTGATE_TRUST_PASSWORD must be set together');
  }
  return createTokenAuth({
    fetch,
    timeoutMs: 10_000,
    now: () => clock.now().getTime(),
    realmHosts: decodeRealmHosts(env['TRUSTGATE_TRUST_REALM_HOSTS'] ?? ''),
    ...(username !== undefined && password !== undefined ? { credentials: { username, password } } : {}),
  });
}

// Each entry as URL.hostname spells it (lower case, IPv6 in brackets), so it compares equal
// to the realm's host however the operator or the server wrote it.
export function decodeRealmHosts(text: string): string[] {
  const hosts: string[] = [];
  for (const entry of text.split(/[\s,]+/)) {
    if (entry === '') continue;
    let url: URL | undefined;
    try {
      url = new URL(`https://${entry}`);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.host !== url.hostname || `${url.hostname}` === '' || url.pathname !== '/' || url.search !== '' || url.username !== '' || /[/?#@]/.test(entry)) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_TRUST_REALM_HOSTS expects host names without port or path, got ${JSON.stringify(entry.slice(0, 100))}`);
    }
    hosts.push(url.hostname);
  }
  return hosts;
}
