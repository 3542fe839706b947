import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError } from '../../errors.js';

// Well-known Notary v1 servers for public registries (Docker Content Trust defaults), written
// as Docker's client spells them. They are normalised like any configured URL before use, so a
// policy naming `https://quay.io` and the default `https://quay.io:443` are one server with one
// cache entry. Any other registry needs its trust server named explicitly.
const DEFAULT_TRUST_SERVERS: Readonly<Record<string, string>> = {
  'docker.io': 'https://notary.docker.io',
  'quay.io': 'https://quay.io:443',
};

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

// The trust server for an image: the one given, else the registry's default. The URL is
// normalised to its origin plus path without a trailing slash. Plain http is accepted only
// for loopback servers: first-use trust over cleartext would hand the root to anyone on
// the path.
export function selectTrustServer(registry: string, given: string | undefined): string {
  if (given === undefined) {
    const fallback = Object.hasOwn(DEFAULT_TRUST_SERVERS, registry) ? DEFAULT_TRUST_SERVERS[registry] : undefined;
    if (fallback === undefined) {
      throw new TrustgateError(
        ErrorCode.TRUST_SERVER_UNKNOWN,
        `no trust server is configured for registry ${registry} and it has no well-known default`,
      );
    }
    return normaliseTrustServerUrl(fallback);
  }
  return normaliseTrustServerUrl(given);
}

// Normalised URLs by the text configured: policies name the same few servers on every
// verification. Only accepted URLs are kept; a refused one is refused every time.
const normalised = createBoundedMemo<string, string>(256);

// Parses and normalises a trust server URL; a bare host gets https://.
export function normaliseTrustServerUrl(value: string): string {
  const known = normalised.get(value);
  if (known !== undefined) return known;
  const url = parseTrustServerUrl(value);
  normalised.set(value, url);
  return url;
}

function parseTrustServerUrl(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `trust server URL is invalid: ${JSON.stringify(value)}`, { cause: error });
  }
  if (url.username !== '' || url.password !== '') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'trust server URL must not carry credentials');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `trust server URL must not have a query or fragment: ${url.origin}`);
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `trust server ${url.origin} must use https (plain http is allowed on loopback only)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `trust server URL must be https: got ${url.protocol}`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
