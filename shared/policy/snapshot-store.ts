// Policy snapshots in the key-value store: publishing one (serve, `trustgate policy apply`)
// and following them (the deployed functions). Entries are authenticated by the store the
// caller hands in (openStore wraps every persistent backend in HMAC authentication).
import { isAuthenticationFailure } from '../cache/authenticated-store.js';
import { ErrorCode, TrustgateError, isTrustgateError, toTrustgateError } from '../errors.js';
import type { Clock, KvStore, Logger, Metrics } from '../ports.js';
import type { JsonDocument } from './encode-policy-documents.js';
import type { PolicySet } from './model.js';
import {
  SNAPSHOT_FORMAT,
  assertClusterId,
  buildSnapshotPayload,
  chunkKey,
  decodeHead,
  decodeSnapshot,
  diffDocuments,
  encodeHead,
  headKey,
  toChunks,
  type SnapshotChanges,
  type SnapshotHead,
} from './policy-snapshot.js';

export interface StoredSnapshot {
  readonly head: SnapshotHead;
  readonly set: PolicySet;
  readonly documents: readonly JsonDocument[];
}

// Reads and checks the current snapshot of `clusterId`: undefined when there is none.
// Rejects with POLICY_SNAPSHOT_INVALID when an entry fails authentication, a chunk is
// missing, or the payload does not match its head; with STATE_STORE_FAILED when the store
// does not answer.
export async function readPolicySnapshot(kv: KvStore, clusterId: string): Promise<StoredSnapshot | undefined> {
  const item = await getAuthenticated(kv, headKey(clusterId));
  if (item === undefined) return undefined;
  const head = decodeHead(item.value, clusterId, item.version);
  const chunks = await Promise.all(
    Array.from({ length: head.chunks }, async (_, index) => {
      const chunk = await getAuthenticated(kv, chunkKey(clusterId, head.version, head.sha256, index));
      if (chunk === undefined) throw new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, `policy snapshot refused: chunk ${index} of ${head.chunks} is missing (partial snapshot)`);
      return chunk.value;
    }),
  );
  return { head, ...decodeSnapshot(head, chunks) };
}

// A store entry, an entry that fails authentication turned into POLICY_SNAPSHOT_INVALID.
async function getAuthenticated(kv: KvStore, key: string): ReturnType<KvStore['get']> {
  try {
    return await kv.get(key);
  } catch (error) {
    if (isAuthenticationFailure(error)) throw new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, `policy snapshot refused: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}

export type PublishOutcome =
  | { readonly outcome: 'unchanged'; readonly version: number; readonly sha256: string }
  | { readonly outcome: 'published'; readonly version: number; readonly sha256: string; readonly changes: SnapshotChanges; readonly previous?: number };

// Publishes `set` as the next version of `clusterId`'s snapshot: the current version plus
// one, or `nowMs` (epoch milliseconds) when that is higher. Versions taken from the clock
// keep moving forward even when someone with write access to the table (but not the key)
// puts an old authentic head back: the next publish is still newer than anything a reader
// has seen, instead of repeating a version readers already hold with other content. The same content as the
// current snapshot publishes nothing (replicas starting with the same set do not bump the
// version). Chunks are written first, then the head with a conditional write on the version
// (compare-and-set): of two writers that read the same head, one wins and the other
// rejects with POLICY_SNAPSHOT_CONFLICT, so their writes never interleave into a head
// naming another writer's chunks. The previous snapshot's chunks are deleted afterwards;
// a reader that was reading them refuses that read and keeps its last good snapshot.
export async function publishPolicySnapshot(kv: KvStore, clusterId: string, set: PolicySet, nowMs: number): Promise<PublishOutcome> {
  assertClusterId(clusterId);
  const payload = buildSnapshotPayload(set);
  let current: StoredSnapshot | undefined;
  let currentVersion = 0;
  try {
    current = await readPolicySnapshot(kv, clusterId);
    currentVersion = current?.head.version ?? 0;
  } catch (error) {
    // An unreadable current snapshot is replaced; its version still orders the next one.
    if (!isTrustgateError(error) || error.code !== ErrorCode.POLICY_SNAPSHOT_INVALID) throw error;
    currentVersion = (await kv.get(headKey(clusterId)).catch(() => undefined))?.version ?? 0;
  }
  if (current !== undefined && current.head.sha256 === payload.sha256) return { outcome: 'unchanged', version: current.head.version, sha256: payload.sha256 };
  const version = Math.max(currentVersion + 1, Math.floor(nowMs));
  const chunks = toChunks(payload.bytes);
  const keys = chunks.map((_, index) => chunkKey(clusterId, version, payload.sha256, index));
  await Promise.all(chunks.map((chunk, index) => kv.put(keys[index] as string, { value: chunk, version })));
  const head: SnapshotHead = { format: SNAPSHOT_FORMAT, clusterId, version, sha256: payload.sha256, size: payload.bytes.length, chunks: chunks.length };
  const written = await kv.put(headKey(clusterId), { value: encodeHead(head), version }, { onlyIfNewer: true });
  if (!written) {
    // Our chunks are garbage unless the winner wrote this very content at this version
    // (then they are its chunks too).
    const winner = await kv.get(headKey(clusterId)).catch(() => undefined);
    const same = winner !== undefined && winner.version === version && decodeHeadQuietly(winner.value, clusterId, version)?.sha256 === payload.sha256;
    if (!same) await deleteQuietly(kv, keys);
    throw new TrustgateError(ErrorCode.POLICY_SNAPSHOT_CONFLICT, `another writer published version ${version} of cluster "${clusterId}"'s policy snapshot first: expected to be its only writer`);
  }
  if (current !== undefined) {
    const previous = current.head;
    await deleteQuietly(kv, Array.from({ length: previous.chunks }, (_, index) => chunkKey(clusterId, previous.version, previous.sha256, index)));
  }
  return {
    outcome: 'published',
    version,
    sha256: payload.sha256,
    changes: diffDocuments(current?.documents ?? [], payload.documents),
    ...(currentVersion > 0 ? { previous: currentVersion } : {}),
  };
}

function decodeHeadQuietly(bytes: Uint8Array, clusterId: string, version: number): SnapshotHead | undefined {
  try {
    return decodeHead(bytes, clusterId, version);
  } catch {
    return undefined;
  }
}

// Garbage collection only: a key left behind costs space, never correctness.
async function deleteQuietly(kv: KvStore, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((key) => kv.delete(key).catch(() => undefined)));
}

export const PolicySnapshotMetric = {
  REFUSALS: 'trustgate_policy_snapshot_refusals_total',
  UPDATES: 'trustgate_policy_snapshot_updates_total',
} as const;

export interface SnapshotPolicySourceDeps {
  readonly kv: KvStore;
  readonly clusterId: string;
  readonly clock: Clock;
  // How long a snapshot is used before the head is read again: the bound on noticing a new
  // version (plus one store round trip).
  readonly refreshMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

// The policies of `clusterId`'s snapshot, kept in process and refreshed when older than
// `refreshMs` (one head read; chunks only when the version moved). A refused snapshot
// (corrupt, partial, unauthenticated, a lower version than the one in use, the same version
// with other content) or a store failure keeps the last good snapshot serving; the refusal is
// logged and counted. Without a last good snapshot the call rejects, so verify-image denies
// (fail closed). Concurrent calls share one refresh.
export function createSnapshotPolicySource(deps: SnapshotPolicySourceDeps): () => Promise<PolicySet> {
  assertClusterId(deps.clusterId);
  let good: StoredSnapshot | undefined;
  let checkedAt: number | undefined;
  let refusals = 0;
  let refreshing: Promise<PolicySet> | undefined;

  const refuse = (reason: string, error: TrustgateError): PolicySet => {
    refusals += 1;
    deps.metrics.increment(PolicySnapshotMetric.REFUSALS, { reason });
    const fields = { clusterId: deps.clusterId, reason, code: error.code, message: error.message, refusals, ...(good === undefined ? {} : { serving: good.head.version }) };
    if (good === undefined) {
      deps.logger.error('policy snapshot refused: no good snapshot to serve', fields);
      throw error;
    }
    deps.logger.error('policy snapshot refused: the last good snapshot keeps serving', fields);
    return good.set;
  };

  const refresh = async (now: number): Promise<PolicySet> => {
    let next: StoredSnapshot | undefined;
    try {
      next = await readPolicySnapshot(deps.kv, deps.clusterId);
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.INTERNAL) throw thrown;
      return refuse(error.code === ErrorCode.POLICY_SNAPSHOT_INVALID ? 'invalid' : 'unavailable', error);
    } finally {
      checkedAt = now;
    }
    if (next === undefined) {
      return refuse('missing', new TrustgateError(ErrorCode.POLICY_SNAPSHOT_MISSING, `no policy snapshot is published for cluster "${deps.clusterId}"`));
    }
    if (good !== undefined) {
      if (next.head.version < good.head.version) {
        return refuse('rollback', new TrustgateError(ErrorCode.POLICY_SNAPSHOT_ROLLBACK, `policy snapshot version ${next.head.version} is older than version ${good.head.version} in use`));
      }
      if (next.head.version === good.head.version) {
        if (next.head.sha256 === good.head.sha256) return good.set;
        return refuse('rollback', new TrustgateError(ErrorCode.POLICY_SNAPSHOT_ROLLBACK, `policy snapshot version ${next.head.version} changed content without a new version`));
      }
    }
    deps.logger.info('policy snapshot in force', { clusterId: deps.clusterId, version: next.head.version, sha256: next.head.sha256, ...(good === undefined ? {} : { previous: good.head.version }) });
    deps.metrics.increment(PolicySnapshotMetric.UPDATES);
    good = next;
    return next.set;
  };

  return () => {
    const now = deps.clock.now().getTime();
    if (good !== undefined && checkedAt !== undefined && now - checkedAt < deps.refreshMs && now >= checkedAt) return Promise.resolve(good.set);
    refreshing ??= refresh(now).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
}
