// The Notary v1 ImageVerifier: bring the repository's metadata up to date from the trust
// server (full TUF verification against the last trusted state), resolve the image under
// Docker Content Trust's rules and the required signers, and persist what is now trusted.
//
// Freshness and outages:
// - within `freshnessMs` of the last confirmation by the trust server, a verification makes
//   no network call. It answers from the in-process memo of verified repositories when
//   this process holds one (no store read, no decoding, no signature check; expiry is still
//   checked against `now`, see verified-repository-memo.ts); otherwise the stored metadata,
//   when it is exactly what the stored freshness record names (trusted-state-store.ts: a
//   replayed older row sends the verification online), is re-verified offline under the
//   stored root (signatures, hash chain, expiry against `now`) and the result memoised.
//   Each answer resolved from a memoised repository is kept with it and given again while
//   it provably holds (verified-image-memo.ts). The
//   memo is per process: a state another process confirms (a sign-callback function
//   elsewhere) is picked up here once this process's own window has passed, as it would
//   be for any state older than the window;
// - after it, the usual update runs: `timestamp.json`, then only what changed;
// - when the trust server is unavailable, the cached state keeps serving for at most
//   `maxStaleMs` past the freshness window, never past any document's own expiry, and the
//   answer is marked stale. An attacker who can block the trust server can therefore hold
//   a revoked signature in force for that long, no longer: the window is the trade-off
//   between availability and freeze protection (TUF spec 5.4.4 bounds it by expiry alone);
// - when the store cannot be read (down, or its root entry fails authentication), a store
//   fault is never a first use: a root this process verified itself (the memo) stands in
//   for the stored one under the same windows, a request that pins root key IDs verifies
//   against the trust server under its pins, and anything else is denied with
//   STATE_STORE_FAILED (see withoutStore);
// - a write that fails does not change the answer (everything written was verified first);
//   it is logged (once per repository per minute) and counted.
// Concurrent verifications of one repository share one update (single flight).
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { toNotaryGun, type ImageReference } from '../../image/reference.js';
import { noopMetrics, type Fetch, type Logger, type Metrics } from '../../ports.js';
import { credentialFingerprint, type MatchedCredential, type RegistryCredentials } from '../../registry/credential-keyring.js';
import type { ServerOrigin, TokenAuth } from '../../registry/token-auth.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../verifier.js';
import { createNotaryHttpSource } from './http-source.js';
import { DEFAULT_METADATA_POOL_BYTES, createMetadataPool, type MetadataLease, type MetadataPool } from './metadata-pool.js';
import { DEFAULT_SIZE_LIMITS, type RoleName, type SizeLimits } from './model.js';
import { resolveSignedDigest } from './resolve.js';
import type { MetadataSource } from './source.js';
import type { CachedRepository, TrustedStateStore } from './trusted-state-store.js';
import { selectTrustServer } from './trust-servers.js';
import type { TrustedMetadata } from './trusted-metadata.js';
import { updateRepository, type VerifiedRepository } from './update.js';
import { createSharedCancellation, updateDeadline, type SharedCancellation } from './update-budget.js';
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
// A failing store is logged once per repository per this interval (and counted every time).
const WRITE_FAILURE_LOG_INTERVAL_MS = 60_000;
// Failures of an answer from a memoised repository that are a limit of the update that built
// it, not a verdict on the metadata (see givesUpMemo in createNotaryVerifier).
const GIVE_UP_CODES: ReadonlySet<string> = new Set([
  ErrorCode.TRUST_SERVER_UNAVAILABLE,
  ErrorCode.ADMISSION_TIMEOUT,
  ErrorCode.TRUST_METADATA_TOO_LARGE,
  ErrorCode.TRUST_AUTH_REALM_REFUSED,
  ErrorCode.REGISTRY_CREDENTIALS_REJECTED,
]);

// A slow-drip server could otherwise hold one update for the per-request timeout times the
// number of documents; the admission budget (shorter) cancels earlier.
export const DEFAULT_UPDATE_DEADLINE_MS = 30_000;

export interface NotaryVerifierDeps {
  readonly fetch: Fetch;
  readonly state: TrustedStateStore;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  // Trust-server token auth; each source gets the view for its server and who chose it.
  readonly tokens?: TokenAuth;
  readonly limits?: SizeLimits;
  readonly timeoutMs?: number;
  // One deadline over a whole update, every fetch included; default DEFAULT_UPDATE_DEADLINE_MS.
  readonly updateDeadlineMs?: number;
  // Bytes of metadata all updates may hold at once; default one pool per process.
  readonly pool?: MetadataPool;
  // 0 = every verification asks the trust server (what a push or sign event needs).
  readonly freshnessMs?: number;
  readonly maxStaleMs?: number;
  // false where the store does not persist (memory): a root first seen now would be
  // forgotten on the next cold start and re-trusted from whatever the server then serves,
  // so only pinned root key IDs may bootstrap trust. Default true.
  readonly allowFirstUse?: boolean;
  // Reads one repository's metadata; default the Notary HTTP API through `fetch`.
  readonly openSource?: (server: string, gun: string, origin: ServerOrigin, credentials?: readonly MatchedCredential[]) => MetadataSource;
  // The memo of verified repositories. Default: one per `state` object, shared by every
  // verifier over it, so a refresh by one (a sign event) is what the others answer from.
  readonly memo?: VerifiedRepositoryMemo;
}

const memoByState = new WeakMap<TrustedStateStore, VerifiedRepositoryMemo>();
// One pool per process (per budget size: the pool must hold at least one whole update).
const processPools = new Map<number, MetadataPool>();

function processPool(updateBytes: number): MetadataPool {
  const size = Math.max(DEFAULT_METADATA_POOL_BYTES, updateBytes);
  let pool = processPools.get(size);
  if (pool === undefined) {
    pool = createMetadataPool(size);
    processPools.set(size, pool);
  }
  return pool;
}

function memoFor(state: TrustedStateStore): VerifiedRepositoryMemo {
  let memo = memoByState.get(state);
  if (memo === undefined) {
    memo = createVerifiedRepositoryMemo();
    memoByState.set(state, memo);
  }
  return memo;
}

interface RunningUpdate {
  readonly update: Promise<VerifiedRepository>;
  readonly cancellation: SharedCancellation;
  readonly lease: MetadataLease;
}

// Who chose the trust server (see ServerOrigin): none named is the registry's well-known
// default, which the image's name picks; one named by a namespace's ImagePolicy or a request
// is the caller's; one named anywhere else is the operator's.
function serverOrigin(requirement: NotaryRequirement): ServerOrigin {
  if (requirement.server === undefined) return 'default';
  return requirement.serverFromCaller === true ? 'caller' : 'operator';
}

// Thrown by the offline source when a document is not in the cache; never leaves this file.
class NotCachedError extends Error {
  override readonly name = 'NotCachedError';
}

export function createNotaryVerifier(deps: NotaryVerifierDeps): ImageVerifier<NotaryRequirement> {
  const metrics = deps.metrics ?? noopMetrics;
  const freshnessMs = deps.freshnessMs ?? DEFAULT_FRESHNESS_MS;
  const maxStaleMs = deps.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  const inFlight = new Map<string, RunningUpdate>();
  const pool = deps.pool ?? processPool((deps.limits ?? DEFAULT_SIZE_LIMITS).updateBytes);
  const updateDeadlineMs = deps.updateDeadlineMs ?? DEFAULT_UPDATE_DEADLINE_MS;
  const memo = deps.memo ?? memoFor(deps.state);
  const answers = createVerifiedImageMemo(memo);
  // When each repository's failed write was last logged (bounded: GUNs come from requests).
  const writeFailureLogged = createBoundedMemo<string, number>(1_000);

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
    ((server: string, gun: string, origin: ServerOrigin, credentials?: readonly MatchedCredential[]): MetadataSource =>
      createNotaryHttpSource({
        serverUrl: server,
        gun,
        fetch: countedFetch,
        ...(deps.tokens ? { tokens: deps.tokens.forServer(server, origin, credentials) } : {}),
        ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
      }));

  // The stored state (undefined when there is none), or the fault that keeps the store from
  // telling: unreachable, or a stored root refused by authentication.
  async function loadCached(server: string, gun: string): Promise<{ cached: CachedRepository | undefined } | { fault: TrustgateError }> {
    try {
      return { cached: await deps.state.load(server, gun) };
    } catch (error) {
      if (isAuthenticationFailure(error)) {
        return { fault: new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cached trusted root for ${gun} failed authentication: expected an entry written under this deployment's state key, got another (delete the entry to trust anew)`, { cause: error }) };
      }
      deps.logger.warn('trust store unavailable', { gun, server, error: (error as Error).message });
      metrics.increment('trustgate_store_errors_total', { operation: 'read' });
      return { fault: new TrustgateError(ErrorCode.STATE_STORE_FAILED, `trust store unavailable, cannot read the trusted root of ${gun}: ${(error as Error).message}`, { cause: error }) };
    }
  }

  // What stands in for the store when it cannot tell: the repository this process verified
  // itself (the memo: its root was trusted here, not just read back), used exactly like a
  // stored state (refreshed after the window, served stale within max-stale); else nothing,
  // which only pinned root key IDs may bootstrap from. Without either the fault stands.
  // Security: a store fault is never a first use. Trusting whatever root the server serves
  // whenever the store is down would let anyone who controls the trust server and can
  // interrupt the store (or who merely waits for an outage, or for a cold container) swap
  // the root of every repository; a healthy store would have refused that root.
  function withoutStore(fault: TrustgateError, server: string, gun: string, requirement: NotaryRequirement): CachedRepository | undefined {
    const entry = memo.get(memoKey(server, gun, requirement.rootKeyIds));
    if (entry !== undefined) return { metadata: entry.repository.trustedMetadata(), checkedAt: entry.checkedAt };
    if (requirement.rootKeyIds.length > 0) return undefined;
    throw fault;
  }

  // One update per (server, GUN, pinned keys) at a time; later callers join the running one.
  // The update's result replaces the memo entry: it is what the trust server confirmed now.
  // Updates for a caller-named server run apart from the operator's: they fetch without
  // the operator's credentials, and their failure must not become an admission's.
  // It runs under its own deadline and stops early once every caller waiting for it gave up.
  // Its pool lease is returned when a caller is done resolving (or at the deadline).
  // An update fetching with a workload's pull-secret credentials runs apart from the others
  // too (keyed by their fingerprint), so no request rides on another's credentials, and so
  // does one for a registry's default server, which the operator's credentials may not reach
  // when the same server is also one the operator named.
  function refresh(server: string, gun: string, cached: CachedRepository | undefined, requirement: NotaryRequirement, now: Date, signal: AbortSignal | undefined, credentials: readonly MatchedCredential[]): RunningUpdate {
    const key = memoKey(server, gun, requirement.rootKeyIds);
    const origin = serverOrigin(requirement);
    const fingerprint = origin === 'caller' ? '' : credentialFingerprint(credentials);
    const flight = origin === 'caller' ? `caller\0${key}` : fingerprint !== '' ? `pull:${fingerprint}\0${key}` : origin === 'default' ? `default\0${key}` : key;
    let running = inFlight.get(flight);
    if (running === undefined) {
      const cancellation = createSharedCancellation();
      const deadline = updateDeadline(updateDeadlineMs, gun, cancellation.signal);
      const lease = pool.lease(deadline);
      const update = updateRepository({
        gun,
        source: openSource(server, gun, origin, origin !== 'caller' && credentials.length > 0 ? credentials : undefined),
        trusted: cached?.metadata,
        pinnedRootKeyIds: requirement.rootKeyIds,
        now,
        signal: deadline,
        lease,
        ...(deps.limits ? { limits: deps.limits } : {}),
      })
        .then((repository) => {
          remember(key, repository, now.getTime());
          return repository;
        })
        .finally(() => inFlight.delete(flight));
      running = { update, cancellation, lease };
      inFlight.set(flight, running);
    }
    running.cancellation.join(signal);
    return running;
  }

  // Never lets an older confirmation replace a newer one (concurrent requests carry
  // slightly different `now`s).
  function remember(key: string, repository: VerifiedRepository, checkedAt: number): void {
    const current = memo.get(key);
    if (current === undefined || current.checkedAt <= checkedAt) memo.set(key, toMemoEntry(repository, checkedAt));
  }

  // Sets the memo's entry for `key` again once a resolution may have loaded delegations into
  // it, so the memo's byte bound counts what the entry holds now.
  function reweigh(key: string, repository: VerifiedRepository): void {
    const current = memo.get(key);
    if (current !== undefined && current.repository === repository) memo.set(key, current);
  }

  // Answers from the memo while its confirmation is within the freshness window; undefined
  // when there is no such entry or it cannot answer for a reason that is not the metadata's
  // verdict (see givesUpMemo): the entry is dropped and the full path runs, under this
  // caller's own deadline and bounds.
  // A given-up entry comes back as `givenUp`: the state this process verified itself, which
  // the full path must not fall back behind (see newerState).
  async function verifyMemoised(
    key: string,
    image: ImageReference,
    requirement: NotaryRequirement,
    now: Date,
  ): Promise<{ readonly answer: VerifiedImage } | { readonly givenUp?: CachedRepository }> {
    const entry = memo.get(key);
    if (entry === undefined) return {};
    const age = now.getTime() - entry.checkedAt;
    if (age < 0 || age >= freshnessMs) return {};
    try {
      const consulted = { expires: Number.POSITIVE_INFINITY };
      const answer = await resolve(repositoryAt(entry, now, consulted), image, requirement).finally(() => reweigh(key, entry.repository));
      answers.remember(requirement, image, { memoKey: key, entry, answer, validFrom: entry.validFrom, validUntil: Math.min(entry.validUntil, consulted.expires) });
      return { answer };
    } catch (error) {
      if (givesUpMemo(error)) {
        // The delegation loader keeps a failed load; drop the entry so it is not replayed.
        if (memo.get(key) === entry) memo.delete(key);
        return { givenUp: { metadata: entry.repository.trustedMetadata(), checkedAt: entry.checkedAt } };
      }
      throw error;
    }
  }

  // The state the full path starts from after the memo gave an entry up: the stored one,
  // unless the given-up entry (verified in this process) is newer. Security: a store write
  // may have failed (logged, the answer kept), leaving an older state in the store; without
  // this, giving the entry up would re-verify, re-memoise and serve that older state (an
  // image revoked since admitted again) for the rest of its window, and the update would
  // check rollback against it. As with a store fault (withoutStore), what this process
  // verified itself stands in for the store.
  function newerState(stored: CachedRepository | undefined, givenUp: CachedRepository | undefined): CachedRepository | undefined {
    if (givenUp === undefined) return stored;
    if (stored?.checkedAt === undefined || givenUp.checkedAt === undefined) return stored ?? givenUp;
    return stored.checkedAt < givenUp.checkedAt ? givenUp : stored;
  }

  // Whether a failure of an answer from a memoised repository is no verdict on the metadata
  // but a limit of the update that built it. Security: the repository's delegation loader
  // fetches under that update's deadline and budget, which the first caller's admission
  // joined, and keeps a failed load; so its ADMISSION_TIMEOUT (that caller's budget ran
  // out), an abort, its spent per-update delegation count or byte budget
  // (TRUST_METADATA_TOO_LARGE: the walks of every answer the memo gave add up) or an
  // unreachable server would otherwise be every later caller's answer for the freshness
  // window. These give the entry up: the full path verifies again within this caller's own
  // bounds, and answers the same verdict if the metadata is at fault. A verdict on the
  // metadata (a bad signature, a rollback, an expiry, a missing target) is kept and answered.
  // The loader also fetches with the credentials and token origin of the update's caller,
  // so a refused realm or rejected credentials are that caller's, not the metadata's.
  function givesUpMemo(error: unknown): boolean {
    if (error instanceof NotCachedError || !isTrustgateError(error)) return true;
    return GIVE_UP_CODES.has(error.code);
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
      const key = memoKey(server, gun, requirement.rootKeyIds);
      if (memoise && cached.checkedAt !== undefined) remember(key, repository, cached.checkedAt);
      return await resolve(repository, image, requirement).finally(() => reweigh(key, repository));
    } catch (error) {
      if (error instanceof NotCachedError) return undefined;
      throw error;
    }
  }

  // An answer kept from a memoised repository that still holds at `now` (see
  // verified-image-memo.ts); what both `known` and `verify` give first.
  function knownAnswer(image: ImageReference, requirement: NotaryRequirement, now: Date): VerifiedImage | undefined {
    const known = answers.answer(requirement, image, now.getTime(), freshnessMs);
    if (known !== undefined) metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
    return known;
  }

  return {
    kind: 'notary',
    known: knownAnswer,
    async verify(image: ImageReference, requirement: NotaryRequirement, now: Date, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifiedImage> {
      const known = knownAnswer(image, requirement, now);
      if (known !== undefined) return known;
      const server = selectTrustServer(image.registry, requirement.server);
      const gun = toNotaryGun(image);
      const memoised = await verifyMemoised(memoKey(server, gun, requirement.rootKeyIds), image, requirement, now);
      if ('answer' in memoised) {
        metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
        return memoised.answer;
      }
      const loaded = await loadCached(server, gun);
      const cached = 'fault' in loaded ? (memoised.givenUp ?? withoutStore(loaded.fault, server, gun, requirement)) : newerState(loaded.cached, memoised.givenUp);
      const age = cached?.checkedAt === undefined ? undefined : now.getTime() - cached.checkedAt;

      if (!('fault' in loaded) && cached !== undefined && age !== undefined && age >= 0 && age < freshnessMs) {
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
      const running = refresh(server, gun, cached, requirement, now, signal, credentials?.forRepository(image.registry, image.repository) ?? []);
      try {
        repository = await running.update;
      } catch (error) {
        running.lease.release();
        const stale = await serveStale(error, image, gun, server, cached, age, requirement, now);
        if (stale === undefined) throw error;
        return stale;
      }
      let resolved = false;
      try {
        const answer = await resolve(repository, image, requirement);
        resolved = true;
        return answer;
      } finally {
        reweigh(memoKey(server, gun, requirement.rootKeyIds), repository);
        // Everything in the repository object has been verified, so it is what we now
        // trust, whatever the resolution says. Losing the write costs rollback protection
        // and freshness for the next process, not correctness of this answer: log, don't fail.
        // A root first seen now is stored only with an answer that used it: otherwise any
        // server could fill the store with repositories whose every image is refused.
        if (cached !== undefined || resolved) await deps.state.save(server, gun, repository.trustedMetadata(), now.getTime()).catch((error: unknown) => {
          metrics.increment('trustgate_store_errors_total', { operation: 'write' });
          const repositoryKey = JSON.stringify([server, gun]);
          const lastLogged = writeFailureLogged.get(repositoryKey);
          if (lastLogged === undefined || now.getTime() - lastLogged >= WRITE_FAILURE_LOG_INTERVAL_MS || now.getTime() < lastLogged) {
            writeFailureLogged.set(repositoryKey, now.getTime());
            deps.logger.warn('trusted state not saved', { gun, server, error: (error as Error).message });
          }
        });
        // Only now is the update's memory (the save's copies included) returned to the pool.
        running.lease.release();
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
