// Docker registry token authentication (the scheme notary-server and distribution share):
// a 401 carries `WWW-Authenticate: Bearer realm=..,service=..,scope=..`; the client asks
// the realm for a token and repeats the request with `Authorization: Bearer <token>`.
// Parsing is pure; the token client only talks through the Fetch port.
import { createHmac, randomBytes } from 'node:crypto';
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { Fetch } from '../ports.js';
import type { MatchedCredential } from './credential-keyring.js';
import type { RegistryCredential } from './pull-secret.js';

export interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  // Space-separated scopes, e.g. 'repository:127.0.0.1:5000/team/app:pull'.
  readonly scope?: string;
}

export interface TokenCredentials {
  readonly username: string;
  readonly password: string;
}

export interface TokenProviderOptions {
  readonly fetch: Fetch;
  readonly credentials?: TokenCredentials;
  // Realm hosts, besides each server's own host and port, that may receive credentials: the
  // operator's allow-list. Each entry `host` (meaning port 443) or `host:port`.
  readonly realmHosts?: readonly string[];
  // Origins (`https://host[:port]`) of well-known default trust servers that also receive
  // `credentials`: without an entry a registry's default server is asked anonymously.
  readonly credentialServers?: readonly string[];
  // Deadline for one token request.
  readonly timeoutMs: number;
  // Epoch milliseconds; used only to expire cached tokens.
  readonly now: () => number;
  // Cap on the token service's response body (default 256 KiB).
  readonly maxBytes?: number;
}

// Who chose the trust server a request goes to: the operator, naming it (a
// ClusterImagePolicy's `trustServer`, `--trust-server`, the changefeed server); the
// registry's well-known default, which whoever names the image picks (an ImagePolicy
// without `trustServer` is enough); or the caller of an API (the explicit form's
// `trust.server`, an ImagePolicy's `trustServer`). The operator's credentials go to the
// first only, and to a default server only when the operator lists it (credentialServers).
export type ServerOrigin = 'operator' | 'default' | 'caller';

// The token client of one process: one cache, and a view of it per trust server, so every
// token request knows which server's challenge it answers.
export interface TokenAuth {
  // `credentials`: a workload's pull-secret credentials matched to the image's registry, most
  // specific first. For a server the operator named or the registry's default server they
  // replace the operator's credentials (same realm rule); a server the caller chose never
  // receives any.
  forServer(server: string, origin: ServerOrigin, credentials?: readonly MatchedCredential[]): TokenProvider;
  // A registry's view (its API base URL): anonymous, or with the workload's credentials.
  forRegistry(registry: string, credentials?: readonly MatchedCredential[]): TokenProvider;
}

// The token client as one trust server's requests use it.
export interface TokenProvider {
  // A token for the challenge, from the cache while it is still valid.
  getToken(challenge: BearerChallenge): Promise<string>;
  // Drops the cached token for the challenge (the server refused it).
  invalidate(challenge: BearerChallenge): void;
  // The last challenge a resource (e.g. a server URL + GUN) answered with, so later
  // requests can send a cached token up front instead of paying for a 401 first.
  challengeFor(resource: string): BearerChallenge | undefined;
  rememberChallenge(resource: string, challenge: BearerChallenge): void;
}

const DEFAULT_MAX_BYTES = 256 * 1024;
// Docker's token spec: a token without expires_in is valid for 60 seconds.
const DEFAULT_EXPIRES_IN_SECONDS = 60;
// A token is dropped this long before it expires so it never expires in flight.
const EXPIRY_MARGIN_MS = 10_000;
// Bounds on the caches: one entry per (server, credential, realm, service, scope) and per resource.
const MAX_CACHE_ENTRIES = 512;
// Most pull-secret credentials tried for one registry (the kubelet tries each match in turn).
export const MAX_CREDENTIAL_CANDIDATES = 8;
// Docker Hub's registry API and its Notary server (Docker Content Trust) name their token
// service on another host: the one realm besides a server's own that a Hub credential may go
// to without the allow-list. Hosts with their port, as realmAddress spells them.
const DOCKER_HUB_SERVERS = new Set(['registry-1.docker.io:443', 'notary.docker.io:443']);
const DOCKER_HUB_REALM = 'auth.docker.io:443';
// A token ends up in an HTTP header: visible ASCII only, so a hostile token service cannot
// inject header lines.
const HEADER_SAFE_RE = /^[\x21-\x7e]+$/;
const TCHAR_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const TOKEN68_RE = /^[A-Za-z0-9\-._~+/]+=*/;

// --- Challenge parsing ----------------------------------------------------------------

interface RawChallenge {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
  // A parameter name appeared twice: the challenge is ambiguous and is not used.
  readonly ambiguous: boolean;
}

// Parses a WWW-Authenticate value and returns its Bearer challenge (scheme matched
// case-insensitively), or undefined when there is none, it has no realm, or the header is
// malformed. Follows RFC 7235's grammar: several challenges may share one header, values
// may be quoted (with commas and backslash escapes inside), parameter names are
// case-insensitive. A repeated parameter makes the challenge ambiguous, so it is refused
// rather than resolved one way that another parser might resolve the other way.
export function parseBearerChallenge(header: string): BearerChallenge | undefined {
  const challenges = parseChallenges(header);
  const bearer = challenges?.find((challenge) => challenge.scheme.toLowerCase() === 'bearer');
  if (bearer === undefined || bearer.ambiguous) return undefined;
  const realm = bearer.params.get('realm');
  if (realm === undefined || realm === '') return undefined;
  const service = bearer.params.get('service');
  const scope = bearer.params.get('scope');
  return {
    realm,
    ...(service === undefined || service === '' ? {} : { service }),
    ...(scope === undefined || scope === '' ? {} : { scope }),
  };
}

// A cursor over the header text with the grammar's small productions.
class ChallengeReader {
  private position = 0;
  constructor(private readonly text: string) {}

  get done(): boolean {
    return this.position >= this.text.length;
  }
  get mark(): number {
    return this.position;
  }
  reset(mark: number): void {
    this.position = mark;
  }
  peek(): string | undefined {
    return this.text[this.position];
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.position += 1;
  }
  // Skips whitespace and empty list elements (RFC 7230 #rule allows `a, , b`).
  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.position += 1;
  }
  readToken(): string {
    const start = this.position;
    while (this.position < this.text.length && TCHAR_RE.test(this.text[this.position] ?? '')) this.position += 1;
    return this.text.slice(start, this.position);
  }
  // quoted-string with backslash escapes; undefined when unterminated.
  readQuoted(): string | undefined {
    this.position += 1;
    let value = '';
    while (this.position < this.text.length) {
      const char = this.text[this.position] ?? '';
      this.position += 1;
      if (char === '"') return value;
      if (char === '\\') {
        if (this.position >= this.text.length) return undefined;
        value += this.text[this.position] ?? '';
        this.position += 1;
      } else {
        value += char;
      }
    }
    return undefined;
  }
  // name BWS "=" BWS ( token / quoted-string ); restores the position when it is not one.
  readParam(): { name: string; value: string } | undefined {
    const start = this.position;
    const name = this.readToken();
    this.skipSpaces();
    if (name === '' || this.peek() !== '=') return this.fail(start);
    this.position += 1;
    this.skipSpaces();
    const quoted = this.peek() === '"';
    const value = quoted ? this.readQuoted() : this.readToken();
    if (value === undefined || (!quoted && value === '')) return this.fail(start);
    return { name: name.toLowerCase(), value };
  }
  // token68 (`Basic dXNlcjpwYXNz`): only valid when it ends the challenge.
  readToken68(): boolean {
    const match = TOKEN68_RE.exec(this.text.slice(this.position));
    if (match === null) return false;
    const start = this.position;
    this.position += match[0].length;
    this.skipSpaces();
    if (this.done || this.peek() === ',') return true;
    this.position = start;
    return false;
  }
  private fail(start: number): undefined {
    this.position = start;
    return undefined;
  }
}

// Splits a header into challenges; undefined when it does not follow the grammar.
function parseChallenges(header: string): RawChallenge[] | undefined {
  const reader = new ChallengeReader(header);
  const challenges: RawChallenge[] = [];
  reader.skipSeparators();
  while (!reader.done) {
    const scheme = reader.readToken();
    if (scheme === '') return undefined;
    const params = new Map<string, string>();
    let ambiguous = false;
    reader.skipSpaces();
    const first = reader.readParam();
    if (first === undefined) {
      reader.readToken68();
    } else {
      params.set(first.name, first.value);
      // After each comma: another parameter of this challenge, or the next challenge.
      for (;;) {
        reader.skipSpaces();
        if (reader.done) break;
        if (reader.peek() !== ',') return undefined;
        reader.skipSeparators();
        const next = reader.readParam();
        if (next === undefined) break;
        if (params.has(next.name)) ambiguous = true;
        params.set(next.name, next.value);
      }
    }
    challenges.push({ scheme, params, ambiguous });
    reader.skipSeparators();
  }
  return challenges;
}

// --- Token client -----------------------------------------------------------------------

interface CacheEntry {
  readonly token: Promise<string>;
  // Infinity while the request is in flight (concurrent callers share it).
  expiresAt: number;
}

// A pull-secret credential as the token client uses it: an opaque cache identity and a
// label for messages (where it came from, never its value).
interface Candidate {
  readonly id: string;
  readonly label: string;
  readonly credential: RegistryCredential;
}

// A caching token client. Tokens are cached per (credential used, realm, service, scope)
// until expires_in minus a margin; concurrent requests for the same challenge and
// credential share one token request. Security: the credential's part of the key is an
// HMAC of its values under a key made at start and kept only in memory, so one workload's
// credential never serves another's request (a token is reused only for the very same
// credential), and the cache holds nothing that could be turned back into a password.
// Whether a realm may be asked at all, and with which credentials, is decided per trust
// server or registry before the cache is consulted (see realmUse, credentialRealm).
export function createTokenAuth(options: TokenProviderOptions): TokenAuth {
  const tokens = new Map<string, CacheEntry>();
  const challenges = new Map<string, BearerChallenge>();
  const realmHosts = new Set((options.realmHosts ?? []).map(withPort));
  const credentialServers = new Set(options.credentialServers ?? []);
  const cacheSecret = randomBytes(32);
  const identify = (credential: RegistryCredential): string =>
    createHmac('sha256', cacheSecret)
      .update(JSON.stringify([credential.username ?? null, credential.password ?? null, credential.identityToken ?? null]))
      .digest('base64url');
  const toCandidates = (credentials: readonly MatchedCredential[] | undefined): Candidate[] =>
    (credentials ?? []).slice(0, MAX_CREDENTIAL_CANDIDATES).map((match) => ({
      id: `pull:${identify(match.credential)}`,
      label: `${match.source} (registry key ${JSON.stringify(match.key.slice(0, 100))})`,
      credential: match.credential,
    }));

  // The cached token for `key`, or a new one from `request` (shared while in flight).
  const cached = (key: string, request: () => Promise<{ token: string; expiresInMs: number }>): Promise<string> => {
    const known = tokens.get(key);
    if (known !== undefined && known.expiresAt > options.now()) return known.token;
    dropExpired(tokens, options.now());
    const entry: CacheEntry = {
      expiresAt: Number.POSITIVE_INFINITY,
      token: request().then(
        ({ token, expiresInMs }) => {
          entry.expiresAt = options.now() + expiresInMs - Math.min(EXPIRY_MARGIN_MS, expiresInMs / 2);
          return token;
        },
        (error: unknown) => {
          if (tokens.get(key) === entry) tokens.delete(key);
          throw error;
        },
      ),
    };
    setBounded(tokens, key, entry);
    return entry.token;
  };

  // The operator's credentials for this server: only one the operator named, or a default
  // server the operator listed (by origin) in credentialServers.
  const operatorCredentials = (server: URL, origin: ServerOrigin): TokenCredentials | undefined =>
    origin === 'default' && !credentialServers.has(server.origin) ? undefined : options.credentials;

  const getToken = (server: URL, origin: ServerOrigin, challenge: BearerChallenge): Promise<string> => {
    let use: RealmUse;
    try {
      use = realmUse(server, origin, challenge.realm, operatorCredentials(server, origin), realmHosts);
    } catch (error) {
      return Promise.reject(toTrustgateError(error));
    }
    const key = cacheKey(use.credentials === undefined ? 'anonymous' : 'operator', server, challenge);
    return cached(key, () => requestToken(options, use, challenge));
  };

  // The workload's credentials in turn, most specific first: a token service refusing one
  // (401/403) moves on to the next; when it refused them all, the answer says so with its
  // own code and names the Secrets tried.
  const getTokenWith = async (server: URL, candidates: readonly Candidate[], challenge: BearerChallenge): Promise<string> => {
    const realm = credentialRealm(server, challenge.realm, realmHosts);
    for (const candidate of candidates) {
      try {
        return await cached(cacheKey(candidate.id, server, challenge), () => requestToken(options, { realm, credentials: candidate.credential, rejectable: true }, challenge));
      } catch (error) {
        if (!(error instanceof TrustgateError && error.code === ErrorCode.REGISTRY_CREDENTIALS_REJECTED)) throw error;
      }
    }
    throw new TrustgateError(
      ErrorCode.REGISTRY_CREDENTIALS_REJECTED,
      `credentials rejected by the registry: the token service at ${describeRealm(realm)} refused ${candidates.map((candidate) => candidate.label).join(', ')}`,
    );
  };

  const view = (server: URL, ids: readonly string[], token: (challenge: BearerChallenge) => Promise<string>): TokenProvider => ({
    getToken: token,
    invalidate: (challenge) => {
      for (const id of ids) tokens.delete(cacheKey(id, server, challenge));
    },
    challengeFor: (resource) => challenges.get(resource),
    rememberChallenge: (resource, challenge) => setBounded(challenges, resource, challenge),
  });

  return {
    forServer: (serverUrl, origin, credentials) => {
      const server = parseServer(serverUrl);
      // A workload's own credentials go to its registry's default server too (Docker Hub's
      // Notary for Hub images), never to a server the caller named.
      const candidates = origin === 'caller' ? [] : toCandidates(credentials);
      if (candidates.length > 0) {
        return view(server, candidates.map((candidate) => candidate.id), (challenge) => getTokenWith(server, candidates, challenge));
      }
      return view(server, ['anonymous', 'operator'], (challenge) => getToken(server, origin, challenge));
    },
    forRegistry: (registryUrl, credentials) => {
      const server = parseServer(registryUrl);
      const candidates = toCandidates(credentials);
      if (candidates.length > 0) {
        return view(server, candidates.map((candidate) => candidate.id), (challenge) => getTokenWith(server, candidates, challenge));
      }
      return view(server, ['anonymous'], (challenge) => getToken(server, 'caller', challenge));
    },
  };
}

// A token is cached for the server whose challenge it answered and the credential it was
// fetched with (`anonymous`, `operator`, or a pull-secret credential's identity), so it is
// never handed out for any other. Security: the server is part of the key because two
// servers may name the same realm, service and scope (a shared, allow-listed token service);
// a token minted with credentials for one server must not reach another, which would then
// hold a bearer token it could never have been issued.
function cacheKey(credential: string, server: URL, challenge: BearerChallenge): string {
  return JSON.stringify([server.origin, credential, challenge.realm, challenge.service ?? '', challenge.scope ?? '']);
}

function dropExpired(tokens: Map<string, CacheEntry>, now: number): void {
  for (const [key, entry] of tokens) if (entry.expiresAt <= now) tokens.delete(key);
}

// Inserts as the newest entry and evicts the oldest past the bound.
function setBounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > MAX_CACHE_ENTRIES) {
    const oldest = map.keys().next();
    if (oldest.done === true) break;
    map.delete(oldest.value);
  }
}

// How a realm may be asked for a token: its URL and the credentials to send, if any.
interface RealmUse {
  readonly realm: URL;
  readonly credentials: RegistryCredential | undefined;
  // Set for a workload's pull-secret credential: a 401/403 then means it was refused.
  readonly rejectable?: boolean;
}

// The realm comes from the trust server's 401, so it is hostile input: a server can name
// any URL, hoping for the operator's password (sent as Basic auth) or for a token it can
// replay elsewhere. The rules, checked before anything is sent:
// - a plain http: realm only when both the realm and the trust server are on loopback
//   (cleartext never crosses a network);
// - with credentials to send, the token flow runs only for a trust server the operator
//   configured, only over https, and only to a realm at the trust server's own host and
//   port or on the operator's allow-list. Anything else is refused outright rather than
//   asked anonymously, so a refused realm receives no request at all. (Another port of the
//   same host can be another service, run by someone else.)
function realmUse(
  server: URL,
  origin: ServerOrigin,
  realmText: string,
  credentials: TokenCredentials | undefined,
  realmHosts: ReadonlySet<string>,
): RealmUse {
  const realm = parseRealm(realmText);
  const where = describeRealm(realm);
  if (realm.protocol === 'http:' && !(isLoopback(realm) && isLoopback(server))) {
    throw realmRefused(`token realm ${where} is plain http: expected https (http only when realm and trust server are on loopback)`);
  }
  if (credentials === undefined) return { realm, credentials: undefined };
  if (origin === 'caller') {
    throw realmRefused(`token realm ${where} was named by a trust server the request chose: the configured credentials go only to trust servers the operator configured`);
  }
  if (realm.protocol !== 'https:') {
    throw realmRefused(`token realm ${where} is not https: credentials are never sent in clear text`);
  }
  const address = realmAddress(realm);
  if (address !== realmAddress(server) && !realmHosts.has(address)) {
    throw realmRefused(`token realm host ${address} is neither the trust server's (${realmAddress(server)}) nor on the allow-list (TRUSTGATE_TRUST_REALM_HOSTS)`);
  }
  return { realm, credentials };
}

// Where a workload's pull-secret credential may go: the token realm a registry (or the
// operator's trust server) names in its own 401, when that realm is https and at the
// server's own host and port, on the operator's allow-list (TRUSTGATE_TRUST_REALM_HOSTS), or
// Docker Hub's token service for Docker Hub's registry and Notary server. Security: the realm
// is the server's hostile text; the credential matched the registry's host (and port), and
// this rule keeps it there, so a registry cannot point it at a host, or another port of its
// host, of its choosing. A refused realm receives nothing.
function credentialRealm(server: URL, realmText: string, realmHosts: ReadonlySet<string>): URL {
  const realm = parseRealm(realmText);
  const where = describeRealm(realm);
  if (realm.protocol !== 'https:') {
    throw realmRefused(`token realm ${where} is not https: pull-secret credentials are never sent in clear text`);
  }
  const address = realmAddress(realm);
  const hubRealm = server.protocol === 'https:' && DOCKER_HUB_SERVERS.has(realmAddress(server)) && address === DOCKER_HUB_REALM;
  if (address !== realmAddress(server) && !hubRealm && !realmHosts.has(address)) {
    throw realmRefused(`token realm host ${address} is neither the registry's (${realmAddress(server)}) nor on the allow-list (TRUSTGATE_TRUST_REALM_HOSTS): the pull-secret credentials were not sent`);
  }
  return realm;
}

// GET realm?service=..&scope=.. and read the token. Nothing the token service answers
// reaches a message except its status code: its body may be anything, including a page an
// attacker wants reflected back through a denial's reasons.
async function requestToken(
  options: TokenProviderOptions,
  use: RealmUse,
  challenge: BearerChallenge,
): Promise<{ token: string; expiresInMs: number }> {
  const realm = new URL(use.realm.href);
  const where = describeRealm(realm);
  if (challenge.service !== undefined) realm.searchParams.append('service', challenge.service);
  for (const scope of (challenge.scope ?? '').split(' ')) {
    if (scope !== '') realm.searchParams.append('scope', scope);
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  const credentials = use.credentials;
  // An identity token is an OAuth2 refresh token: POSTed in a form (Docker's token spec),
  // never in the URL, which proxies and servers log.
  let form: string | undefined;
  if (credentials?.identityToken !== undefined) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'trustgate' });
    if (challenge.service !== undefined) body.append('service', challenge.service);
    for (const scope of (challenge.scope ?? '').split(' ')) if (scope !== '') body.append('scope', scope);
    form = body.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (credentials !== undefined) {
    headers['authorization'] = `Basic ${Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`, 'utf8').toString('base64')}`;
  }
  let response;
  try {
    response = await options.fetch({
      url: form === undefined ? realm.href : use.realm.href,
      headers,
      ...(form === undefined ? {} : { method: 'POST' as const, body: form }),
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    });
  } catch (error) {
    const reason = error instanceof TrustgateError ? error.code : 'request failed';
    throw refused(`token service ${where} could not be used (${reason})`, error);
  }
  if (use.rejectable === true && (response.status === 401 || response.status === 403 || (form !== undefined && response.status === 400))) {
    throw new TrustgateError(ErrorCode.REGISTRY_CREDENTIALS_REJECTED, `credentials rejected by the token service at ${where} (status ${response.status})`);
  }
  if (response.status !== 200) {
    const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are never followed)' : '';
    throw refused(`token service refused the request at ${where}: expected status 200, got ${response.status}${redirect}`);
  }
  let document: unknown;
  try {
    document = parseJsonBytes(response.body, ErrorCode.TRUST_SERVER_UNAVAILABLE, 'token service response');
  } catch {
    // The parser's message quotes the text around the error: ours says nothing of the body.
    throw refused(`token service response from ${where} is not valid JSON`);
  }
  if (!isPlainObject(document)) throw refused(`token service response from ${where} is not a JSON object`);
  const token = [document['token'], document['access_token']].find(
    (candidate): candidate is string => typeof candidate === 'string' && candidate !== '',
  );
  if (token === undefined || !HEADER_SAFE_RE.test(token)) {
    throw refused(`token service response from ${where} has no usable token: expected "token" or "access_token"`);
  }
  const expiresIn = document['expires_in'];
  const seconds =
    typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_EXPIRES_IN_SECONDS;
  return { token, expiresInMs: seconds * 1000 };
}

// Scheme, host and path: never the query, which a hostile server fills as it likes.
function describeRealm(realm: URL): string {
  return `${realm.protocol}//${realm.host}${realm.pathname}`;
}

// The trust server a view is for; its URL was normalised by whoever configured it.
function parseServer(server: string): URL {
  try {
    return new URL(server);
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'trust server URL is not a valid absolute URL', { cause: error });
  }
}

function parseRealm(realm: string): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (error) {
    throw realmRefused('token realm is not a valid absolute URL', error);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw realmRefused(`token realm scheme is not supported: expected https:, got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw realmRefused(`token realm for ${url.host} embeds credentials: expected none`);
  }
  return url;
}

// `host:port` with the port always spelt (the scheme's default when the URL omits it), so
// `reg.example.com` and `reg.example.com:443` are one address and `:8443` another.
function realmAddress(url: URL): string {
  return `${url.hostname}:${url.port === '' ? (url.protocol === 'http:' ? '80' : '443') : url.port}`;
}

// An allow-list entry as realmAddress spells it: `host` means port 443 (realms that may
// receive credentials are https), `host:port` that port. Entries are decoded by whoever
// configures the list; one that is not a host is kept as given and matches nothing.
function withPort(entry: string): string {
  try {
    return realmAddress(new URL(`https://${entry}`));
  } catch {
    return entry;
  }
}

// Loopback hosts, where http: never leaves the machine. URL has already normalised IPv4
// forms (127.1, 0x7f.0.0.1) to dotted decimal.
function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

function realmRefused(message: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_AUTH_REALM_REFUSED, message, cause === undefined ? {} : { cause });
}

function refused(message: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, message, cause === undefined ? {} : { cause });
}
