// The Notary v1 ImageVerifier: bring the repository's metadata up to date from the trust
// server (full TUF verification against the last trusted state), resolve the image under
// Docker Content Trust's rules and the required signers, and persist what is now trusted.
//
// Freshness and outages:
// - within `freshnessMs` of the last confirmation by the trust server, a verification makes
//   no network call. It answers from the in-process memo of verified repositories when
//   this process holds one (no store read, no decoding, no signature check; expiry is still
//   checked against `now`, see verified-repository-memo.ts); otherwise the stored metadata
//   is re-verified offline under the stored root (signatures, hash chain, expiry against
//   `now`) and the result memoised. Each answer resolved from a memoised repository is
//   kept with it and given again while it provably holds (verified-image-memo.ts). The
//   memo is per process: a state another process confirms (a sign-callback function
//   elsewhere) is picked up here once this process's own window has passed, as it would
//   be for any state older than the window;
// - after it, the usual update runs: `timestamp.json`, then only what changed;
// - when the trust server is unavailable, the cached state keeps serving for at most
//   `maxStaleMs` past the freshness window, never past any document's own expiry, and the
//   answer is marked stale. An attacker who can block the trust server can therefore hold
//   a revoked signature in force for that long, no longer: the window is the trade-off
//   between availability and freeze protection (TUF spec 5.4.4 bounds it by expiry alone);
// - when the store is unavailable, verification runs against the trust server alone.
// Concurrent verifications of one repository share one update (single flight).
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { toNotaryGun, type ImageReference } from '../../image/reference.js';
import { noopMetrics, type Fetch, type Logger, type Metrics } from '../../ports.js';
import type { ServerOrigin, TokenAuth } from '../../registry/token-auth.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../verifier.js';
import { createNotaryHttpSource } from './http-source.js';
import type { RoleName, SizeLimits } from './model.js';
import { resolveSignedDigest } from './resolve.js';
import type { MetadataSource } from './source.js';
import type { CachedRepository, TrustedStateStore } from './trusted-state-store.js';
import { selectTrustServer } from './trust-servers.js';
import type { TrustedMetadata } from './trusted-metadata.js';
import { updateRepository, type VerifiedRepository } from './update.js';
import { createVerifiedImageMemo } from './verified-image-memo.js';
import {
  createVerifiedRepositoryMemo,
  memoKey,
  repositoryAt,
  toMemoEntry,
  type VerifiedRepositoryMemo,
} from './verified-repository-memo.js';

export const DEFAULT_FRESHNESS_MS = 30_000;
export const DEFAULT_MAX_STALE_MS = 15 * 60_000;

export interface NotaryVerifierDeps {
  readonly fetch: Fetch;
  readonly state: TrustedStateStore;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  // Trust-server token auth; each source gets the view for its server and who chose it.
  readonly tokens?: TokenAuth;
  readonly limits?: SizeLimits;
  readonly timeoutMs?: number;
  // 0 = every verification asks the trust server (what a push or sign event needs).
  readonly freshnessMs?: number;
  readonly maxStaleMs?: number;
  // false where the store does not persist (memory): a root first seen now would be
  // forgotten on the next cold start and re-trusted from whatever the server then serves,
  // so only pinned root key IDs may bootstrap trust. Default true.
  readonly allowFirstUse?: boolean;
  // Reads one repository's metadata; default the Notary HTTP API through `fetch`.
  readonly openSource?: (server: string, gun: string, origin: ServerOrigin) => MetadataSource;
  // The memo of verified repositories. Default: one per `state` object, shared by every
  // verifier over it, so a refresh by one (a sign event) is what the others answer from.
  readonly memo?: VerifiedRepositoryMemo;
}

const memoByState = new WeakMap<TrustedStateStore, VerifiedRepositoryMemo>();

function memoFor(state: TrustedStateStore): VerifiedRepositoryMemo {
  let memo = memoByState.get(state);
  if (memo === undefined) {
    memo = createVerifiedRepositoryMemo();
    memoByState.set(state, memo);
  }
  return memo;
}

// Thrown by the offline source when a document is not in the cache; never leaves this file.
class NotCachedError extends Error {
  override readonly name = 'NotCachedError';
}

export function createNotaryVerifier(deps: NotaryVerifierDeps): ImageVerifier<NotaryRequirement> {
  const metrics = deps.metrics ?? noopMetrics;
  const freshnessMs = deps.freshnessMs ?? DEFAULT_FRESHNESS_MS;
  const maxStaleMs = deps.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  const inFlight = new Map<string, Promise<VerifiedRepository>>();
  const memo = deps.memo ?? memoFor(deps.state);
  const answers = createVerifiedImageMemo(memo);

  // Every request to the trust server is counted, whatever it answers.
  const countedFetch: Fetch = async (request) => {
    try {
      const response = await deps.fetch(request);
      metrics.increment('trustgate_trust_server_requests_total', { outcome: String(response.status) });
      return response;
    } catch (error) {
      metrics.increment('trustgate_trust_server_requests_total', { outcome: 'error' });
      throw error;
    }
  };
  const openSource =
    deps.openSource ??
    ((server: string, gun: string, origin: ServerOrigin): MetadataSource =>
      createNotaryHttpSource({
        serverUrl: server,
        gun,
        fetch: countedFetch,
        ...(deps.tokens ? { tokens: deps.tokens.forServer(server, origin) } : {}),
        ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
      }));

  // The stored state, or undefined when there is none or the store is down. A stored root
  // that fails authentication is NOT treated as absent: that would re-trust whatever root
  // the server serves next, which is exactly what a planted entry would aim for.
  async function loadCached(server: string, gun: string): Promise<CachedRepository | undefined> {
    try {
      return await deps.state.load(server, gun);
    } catch (error) {
      if (isAuthenticationFailure(error)) {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cached trusted root for ${gun} failed authentication: expected an entry written under this deployment's state key, got another (delete the entry to trust anew)`, { cause: error });
      }
      deps.logger.warn('trust cache unavailable, verifying against the trust server', { gun, server, error: (error as Error).message });
      metrics.increment('trustgate_store_errors_total', { operation: 'read' });
      return undefined;
    }
  }

  // One update per (server, GUN, pinned keys) at a time; later callers join the running one.
  // The update's result replaces the memo entry: it is what the trust server confirmed now.
  // Updates for a caller-named server run apart from the operator's: they fetch without
  // the operator's credentials, and their failure must not become an admission's.
  function refresh(server: string, gun: string, cached: CachedRepository | undefined, requirement: NotaryRequirement, now: Date): Promise<VerifiedRepository> {
    const key = memoKey(server, gun, requirement.rootKeyIds);
    const origin: ServerOrigin = requirement.serverFromCaller === true && requirement.server !== undefined ? 'caller' : 'operator';
    const flight = origin === 'caller' ? `caller\0${key}` : key;
    let running = inFlight.get(flight);
    if (running === undefined) {
      running = updateRepository({
        gun,
        source: openSource(server, gun, origin),
        trusted: cached?.metadata,
        pinnedRootKeyIds: requirement.rootKeyIds,
        now,
        ...(deps.limits ? { limits: deps.limits } : {}),
      })
        .then((repository) => {
          remember(key, repository, now.getTime());
          return repository;
        })
        .finally(() => inFlight.delete(flight));
      inFlight.set(flight, running);
    }
    return running;
  }

  // Never lets an older confirmation replace a newer one (concurrent requests carry
  // slightly different `now`s).
  function remember(key: string, repository: VerifiedRepository, checkedAt: number): void {
    const current = memo.get(key);
    if (current === undefined || current.checkedAt <= checkedAt) memo.set(key, toMemoEntry(repository, checkedAt));
  }

  // Answers from the memo while its confirmation is within the freshness window; undefined
  // when there is no such entry or it cannot answer without the network or the store (a
  // delegation never loaded, or a delegation fetch that failed): the full path then runs.
  async function verifyMemoised(key: string, image: ImageReference, requirement: NotaryRequirement, now: Date): Promise<VerifiedImage | undefined> {
    const entry = memo.get(key);
    if (entry === undefined) return undefined;
    const age = now.getTime() - entry.checkedAt;
    if (age < 0 || age >= freshnessMs) return undefined;
    try {
      const consulted = { expires: Number.POSITIVE_INFINITY };
      const answer = await resolve(repositoryAt(entry, now, consulted), image, requirement);
      answers.remember(requirement, image, { memoKey: key, entry, answer, validFrom: entry.validFrom, validUntil: Math.min(entry.validUntil, consulted.expires) });
      return answer;
    } catch (error) {
      if (error instanceof NotCachedError || (isTrustgateError(error) && error.code === ErrorCode.TRUST_SERVER_UNAVAILABLE)) {
        // The delegation loader keeps a failed load; drop the entry so it is not replayed.
        if (memo.get(key) === entry) memo.delete(key);
        return undefined;
      }
      throw error;
    }
  }

  // Re-verifies the cached state without the network; undefined when a document it needs
  // is not cached. With `memoise`, the verified repository becomes the memo entry for the
  // time the store says the trust server confirmed it.
  async function verifyOffline(
    image: ImageReference,
    server: string,
    gun: string,
    cached: CachedRepository,
    requirement: NotaryRequirement,
    now: Date,
    memoise: boolean,
  ): Promise<VerifiedImage | undefined> {
    try {
      const repository = await updateRepository({
        gun,
        source: offlineSource(cached.metadata),
        trusted: cached.metadata,
        pinnedRootKeyIds: requirement.rootKeyIds,
        now,
        ...(deps.limits ? { limits: deps.limits } : {}),
      });
      if (memoise && cached.checkedAt !== undefined) remember(memoKey(server, gun, requirement.rootKeyIds), repository, cached.checkedAt);
      return await resolve(repository, image, requirement);
    } catch (error) {
      if (error instanceof NotCachedError) return undefined;
      throw error;
    }
  }

  return {
    kind: 'notary',
    async verify(image: ImageReference, requirement: NotaryRequirement, now: Date): Promise<VerifiedImage> {
      const known = answers.answer(requirement, image, now.getTime(), freshnessMs);
      if (known !== undefined) {
        metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
        return known;
      }
      const server = selectTrustServer(image.registry, requirement.server);
      const gun = toNotaryGun(image);
      const memoised = await verifyMemoised(memoKey(server, gun, requirement.rootKeyIds), image, requirement, now);
      if (memoised !== undefined) {
        metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
        return memoised;
      }
      const cached = await loadCached(server, gun);
      const age = cached?.checkedAt === undefined ? undefined : now.getTime() - cached.checkedAt;

      if (cached !== undefined && age !== undefined && age >= 0 && age < freshnessMs) {
        const fresh = await verifyOffline(image, server, gun, cached, requirement, now, true);
        if (fresh !== undefined) {
          metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
          return fresh;
        }
      }
      metrics.increment('trustgate_cache_requests_total', { result: 'miss' });
      if (cached === undefined && deps.allowFirstUse === false && requirement.rootKeyIds.length === 0) {
        throw new TrustgateError(
          ErrorCode.CONFIG_INVALID,
          `no trusted root for ${gun} and trust on first use is disabled without a persistent store: expected pinned root key IDs, got none`,
        );
      }

      let repository: VerifiedRepository;
      try {
        repository = await refresh(server, gun, cached, requirement, now);
      } catch (error) {
        const stale = await serveStale(error, image, gun, server, cached, age, requirement, now);
        if (stale === undefined) throw error;
        return stale;
      }
      try {
        return await resolve(repository, image, requirement);
      } finally {
        // Everything in the repository object has been verified, so it is what we now
        // trust, whatever the resolution says. Losing the write costs rollback protection
        // and freshness for the next process, not correctness of this answer: log, don't fail.
        await deps.state.save(server, gun, repository.trustedMetadata(), now.getTime()).catch((error: unknown) => {
          deps.logger.warn('trusted state not saved', { gun, server, error: (error as Error).message });
          metrics.increment('trustgate_store_errors_total', { operation: 'write' });
        });
      }
    },
  };

  // The trust server is unavailable: answer from the cache while the last confirmation is
  // at most freshness + max-stale old. Anything else, or an older cache, keeps the error.
  async function serveStale(
    error: unknown,
    image: ImageReference,
    gun: string,
    server: string,
    cached: CachedRepository | undefined,
    age: number | undefined,
    requirement: NotaryRequirement,
    now: Date,
  ): Promise<VerifiedImage | undefined> {
    if (!isTrustgateError(error) || error.code !== ErrorCode.TRUST_SERVER_UNAVAILABLE) return undefined;
    if (cached === undefined || age === undefined || age < 0 || age >= freshnessMs + maxStaleMs) return undefined;
    const stale = await verifyOffline(image, server, gun, cached, requirement, now, false);
    if (stale === undefined) return undefined;
    metrics.increment('trustgate_cache_requests_total', { result: 'stale' });
    deps.logger.warn('trust server unavailable, serving cached trust data', { gun, server, stale: true, ageMs: age, error: error.message });
    return { ...stale, stale: true };
  }
}

function resolve(repository: VerifiedRepository, image: ImageReference, requirement: NotaryRequirement): Promise<VerifiedImage> {
  return resolveSignedDigest(repository, {
    ...(image.tag === undefined ? {} : { tag: image.tag }),
    ...(image.digest === undefined ? {} : { digest: image.digest }),
    signers: requirement.signers,
  });
}

// Serves the cached timestamp as the latest one and nothing else: snapshot, targets and
// delegations are reused by update.ts only when their hashes match what the timestamp and
// snapshot pin, so this replays exactly the cached, self-consistent state.
function offlineSource(metadata: TrustedMetadata): MetadataSource {
  return {
    fetchMetadata(role: RoleName, selector) {
      if (role === 'timestamp' && selector.kind === 'latest' && metadata.timestamp !== undefined) return Promise.resolve(metadata.timestamp);
      return Promise.reject(new NotCachedError(`${role} is not cached`));
    },
  };
}
