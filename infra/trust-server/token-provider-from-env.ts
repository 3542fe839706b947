// The token client every process uses for trust-server (Docker token) auth, configured from
// the environment:
// - TRUSTGATE_TRUST_USERNAME and TRUSTGATE_TRUST_PASSWORD, both or neither: the Basic
//   credentials for the token service. They are never flags, so they do not show in
//   process listings.
//   They go to the trust servers the operator names (a ClusterImagePolicy's trustServer,
//   --trust-server, the changefeed server), never to one a request or an ImagePolicy names.
// - TRUSTGATE_TRUST_CREDENTIALS_SERVERS: trust servers (URLs or hosts, comma- or
//   space-separated) that receive them also when a policy leaves the server to the
//   registry's well-known default (notary.docker.io, quay.io). Unlisted, a default server is
//   asked anonymously: which registry an image names is not the operator's choice.
// - TRUSTGATE_TRUST_REALM_HOSTS: hosts (comma- or space-separated, `host` meaning port 443
//   or `host:port`) whose token realm may receive those credentials besides each trust
//   server's own host and port, e.g. a separate auth host. Paths are not part of an entry.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, Fetch } from '../../shared/ports.js';
import { createTokenAuth, type TokenAuth } from '../../shared/registry/token-auth.js';
import { normaliseTrustServerUrl } from '../../shared/trust/notary/trust-servers.js';

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
    credentialServers: decodeCredentialServers(env['TRUSTGATE_TRUST_CREDENTIALS_SERVERS'] ?? ''),
    ...(username !== undefined && password !== undefined ? { credentials: { username, password } } : {}),
  });
}

// Each entry's origin as the trust server's normalised URL gives it (`notary.docker.io`,
// `https://notary.docker.io:443/` and `https://NOTARY.docker.io` are one server).
export function decodeCredentialServers(text: string): string[] {
  const origins: string[] = [];
  for (const entry of text.split(/[\s,]+/)) {
    if (entry === '') continue;
    try {
      origins.push(new URL(normaliseTrustServerUrl(entry)).origin);
    } catch (error) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_TRUST_CREDENTIALS_SERVERS expects trust server URLs or hosts, got ${JSON.stringify(entry.slice(0, 100))}`, { cause: error });
    }
  }
  return origins;
}

// Each entry as URL.host spells it (lower case, IPv6 in brackets, `:443` dropped), so it
// compares equal to the realm's host and port however the operator or the server wrote it.
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
    if (url === undefined || url.hostname === '' || url.pathname !== '/' || url.search !== '' || url.username !== '' || /[/?#@]/.test(entry)) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_TRUST_REALM_HOSTS expects host names, each with an optional port, without scheme or path, got ${JSON.stringify(entry.slice(0, 100))}`);
    }
    hosts.push(url.host);
  }
  return hosts;
}
