// The token provider every process uses for trust-server (Docker token) auth, with the
// optional Basic credentials for the token service taken from the environment:
// TRUSTGATE_TRUST_USERNAME and TRUSTGATE_TRUST_PASSWORD, both or neither. They are never
// flags, so they do not show in process listings.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, Fetch } from '../../shared/ports.js';
import { createTokenProvider, type TokenProvider } from '../../shared/registry/token-auth.js';

export function createTokenProviderFromEnv(fetch: Fetch, env: Readonly<Record<string, string | undefined>>, clock: Clock): TokenProvider {
  const username = env['TRUSTGATE_TRUST_USERNAME'] || undefined;
  const password = env['TRUSTGATE_TRUST_PASSWORD'] || undefined;
  if ((username === undefined) !== (password === undefined)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'TRUSTGATE_TRUST_USERNAME and TRUSTGATE_TRUST_PASSWORD must be set together');
  }
  return createTokenProvider({
    fetch,
    timeoutMs: 10_000,
    now: () => clock.now().getTime(),
    ...(username !== undefined && password !== undefined ? { credentials: { username, password } } : {}),
  });
}
