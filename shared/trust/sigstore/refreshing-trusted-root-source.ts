// Sigstore's trusted root kept current from a TUF mirror, served without ever waiting on the
// network: the first request gets the last good root from the store (what this or another
// process last verified) or, when there is none, the root shipped with the product. Refreshes
// run in the background when one is due and on demand.
//
// Security: a refresh that fails for any reason (mirror down, deadline, budget) or is refused
// (bad signature, rollback, expired metadata, a target that does not match its signed hash,
// a root that does not decode) changes nothing: the last good root stays in force, one line
// is logged with the typed code and trustgate_sigstore_root_refresh_total{result,code} counts
// it. Nothing the mirror serves is used before tuf-js verified it and our decoder accepted it.
//
// When a refresh is due is judged on use (each current()), not by a timer: a deployed
// function is frozen between invocations, where timers do not run, and a process that never
// verifies a keyless signature has no reason to reach the mirror.
import { ErrorCode, TrustgateError, isTrustgateError, toTrustgateError } from '../../errors.js';
import type { Clock, Fetch, KvStore, Logger, Metrics } from '../../ports.js';
import { decodeTrustedRoot, trustedRootFingerprint } from './trusted-root-shape.js';
import { createTrustedRootStateStore, RefreshResult, type RefreshRecord, type StoredTrustedRoot } from './trusted-root-state-store.js';
import type { TrustedRootJson, TrustedRootSource } from './trusted-root-source.js';
import type { TufMirror, TufUpdateLimits, TufUpdateRequest, TufUpdateResult, TufVersions } from './tuf-update.js';

export const SIGSTORE_ROOT_REFRESH_METRIC = 'trustgate_sigstore_root_refresh_total';
export const SIGSTORE_TRUSTED_ROOT_TARGET = 'trusted_root.json';
export const DEFAULT_REFRESH_INTERVAL_MS = 24 * 3_600_000;
// After a failed refresh the next one is due sooner than a whole interval.
export const RETRY_AFTER_FAILURE_MS = 15 * 60_000;
export const DEFAULT_REFRESH_LIMITS: TufUpdateLimits & { readonly deadlineMs: number } = {
  deadlineMs: 30_000,
  requestTimeoutMs: 10_000,
  maxFetches: 24,
  maxBytes: 8 * 1024 * 1024,
  maxFileBytes: 2 * 1024 * 1024,
};

export type SigstoreRootOrigin = 'shipped' | 'store' | 'mirror';

// What is in force, for `trustgate sigstore root` and logs.
export interface SigstoreRootStatus {
  readonly origin: SigstoreRootOrigin;
  readonly fingerprint: string;
  // The TUF metadata URL refreshes read, when one is configured.
  readonly mirror?: string;
  // The TUF versions that vouched for the root in force (not for the shipped root).
  readonly tuf?: TufVersions;
  // Epoch milliseconds when TUF vouched for it.
  readonly fetchedAt?: number;
  readonly lastRefresh?: RefreshRecord;
  // Epoch milliseconds when the next background refresh is due (none without a mirror).
  readonly nextRefreshAt?: number;
}

export interface SigstoreRootSource extends TrustedRootSource {
  status(signal?: AbortSignal): Promise<SigstoreRootStatus>;
  // Refreshes now, or joins the refresh already running (then only that refresh's own
  // signal and deadline stop it); never rejects: the record says how it ended.
  refresh(signal?: AbortSignal): Promise<RefreshRecord>;
  // Cancels a refresh in flight (a process about to exit).
  close(): void;
}

export interface RefreshingTrustedRootSourceOptions {
  readonly mirror: TufMirror;
  // The TUF root trusted before the store holds one (the shipped public-good root.json, or
  // a private deployment's).
  readonly initialTufRoot: Uint8Array;
  // Served until a refresh succeeds, when the store holds no last good root.
  readonly shippedRoot: TrustedRootJson;
  readonly kv: KvStore;
  readonly fetch: Fetch;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  // 0: no background refresh, only on demand.
  readonly intervalMs?: number;
  readonly limits?: Partial<typeof DEFAULT_REFRESH_LIMITS>;
  // The TUF update port: runTufUpdate (tuf-js over a private temporary directory) in every
  // process. Injected, so this module stays free of I/O: it decides, the port fetches.
  readonly update: (request: TufUpdateRequest) => Promise<TufUpdateResult>;
}

interface InForce {
  readonly root: TrustedRootJson;
  readonly origin: SigstoreRootOrigin;
  readonly stored?: Omit<StoredTrustedRoot, 'root'>;
}

// Computed when first asked for (status, logs), not at start: a process that never looks
// pays nothing.
const fingerprints = new WeakMap<TrustedRootJson, string>();
function fingerprintOf(root: TrustedRootJson): string {
  let known = fingerprints.get(root);
  if (known === undefined) {
    known = trustedRootFingerprint(root);
    fingerprints.set(root, known);
  }
  return known;
}

// A source that answers the shipped (or a Secret's) root and never refreshes: the offline
// default when no TUF mirror is configured.
export function createShippedSigstoreRootSource(root: TrustedRootJson): SigstoreRootSource {
  return {
    current: () => Promise.resolve(root),
    inForce: () => root,
    status: () => Promise.resolve({ origin: 'shipped', fingerprint: fingerprintOf(root) }),
    refresh: () => Promise.reject(new TrustgateError(ErrorCode.CONFIG_INVALID, 'no Sigstore TUF mirror is configured: set TRUSTGATE_SIGSTORE_TUF_URL or --sigstore-tuf-url')),
    close: () => undefined,
  };
}

export function createRefreshingTrustedRootSource(options: RefreshingTrustedRootSourceOptions): SigstoreRootSource {
  const { mirror, clock, logger, metrics } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
  const limits = { ...DEFAULT_REFRESH_LIMITS, ...options.limits };
  const update = options.update;
  const state = createTrustedRootStateStore(options.kv, mirror.metadataUrl, logger);
  const shipped: InForce = { root: options.shippedRoot, origin: 'shipped' };
  const closed = new AbortController();

  let inForce = shipped;
  let lastRefresh: RefreshRecord | undefined;
  let nextRefreshAt = 0;
  let loading: Promise<void> | undefined;
  let running: Promise<RefreshRecord> | undefined;

  const now = (): number => clock.now().getTime();
  const dueAfter = (record: RefreshRecord): number =>
    record.at + (record.result === RefreshResult.REJECTED || record.result === RefreshResult.FAILED ? Math.min(intervalMs, RETRY_AFTER_FAILURE_MS) : intervalMs);

  // Takes a stored root when it is newer than the one in force (another process refreshed).
  const adopt = (stored: StoredTrustedRoot | undefined): void => {
    if (stored === undefined) return;
    const held = inForce.stored?.versions.targets ?? 0;
    if (inForce.origin !== 'shipped' && stored.versions.targets <= held) return;
    const { root, ...facts } = stored;
    inForce = { root, origin: 'store', stored: facts };
  };

  // Reads the last good root and the last refresh record. A store that cannot be read
  // leaves what is in force (the shipped root at start) and is logged.
  const readStore = async (): Promise<void> => {
    try {
      const [stored, record] = await Promise.all([state.loadTrustedRoot(), state.loadRefresh()]);
      adopt(stored);
      if (record !== undefined && (lastRefresh === undefined || record.at > lastRefresh.at)) {
        lastRefresh = record;
        nextRefreshAt = Math.max(nextRefreshAt, dueAfter(record));
      }
    } catch (error) {
      const failure = toTrustgateError(error);
      logger.warn('Sigstore trusted root state could not be read from the store, serving the root in force', { code: failure.code, mirror: mirror.metadataUrl, message: failure.message });
    }
  };
  let loaded = false;
  const loadOnce = (): Promise<void> => {
    loading ??= readStore().finally(() => {
      loaded = true;
    });
    return loading;
  };

  // One refresh against the mirror; the record says how it ended. Never rejects.
  const refreshFromMirror = async (signal: AbortSignal | undefined): Promise<RefreshRecord> => {
    await loadOnce();
    const at = now();
    nextRefreshAt = at + intervalMs;
    const deadline = refreshDeadline(limits.deadlineMs, [closed.signal, ...(signal === undefined ? [] : [signal])]);
    let record: RefreshRecord;
    try {
      const files = await state.loadMetadata();
      const result = await update({
        mirror,
        target: SIGSTORE_TRUSTED_ROOT_TARGET,
        files: { ...files, root: newestRoot(files.root, options.initialTufRoot) },
        ...(inForce.stored === undefined ? {} : { known: { sha256: inForce.stored.sha256, length: inForce.stored.length } }),
        fetch: options.fetch,
        limits,
        signal: deadline.signal,
        now: new Date(at),
      });
      record = await accept(result, at);
    } catch (error) {
      const failure = toTrustgateError(error);
      record = { at, result: isRejection(failure) ? RefreshResult.REJECTED : RefreshResult.FAILED, code: failure.code, message: failure.message.slice(0, 300) };
      nextRefreshAt = dueAfter(record);
      logger.warn('Sigstore trusted root refresh refused, keeping the last good root', { code: failure.code, result: record.result, mirror: mirror.metadataUrl, message: failure.message, fingerprint: fingerprintOf(inForce.root) });
    } finally {
      deadline.dispose();
    }
    lastRefresh = record;
    metrics.increment(SIGSTORE_ROOT_REFRESH_METRIC, { result: record.result, ...(record.code === undefined ? {} : { code: record.code }) });
    await state.saveRefresh(record).catch((error: unknown) => {
      logger.warn('Sigstore trusted root refresh could not be recorded in the store', { code: toTrustgateError(error).code, mirror: mirror.metadataUrl });
    });
    return record;
  };

  // A verified update: the target (if new) must decode as a usable trusted root before it is
  // served or stored; then metadata and root are written, each only over older entries.
  const accept = async (result: TufUpdateResult, at: number): Promise<RefreshRecord> => {
    let next: InForce | undefined;
    let targetBytes: Uint8Array | undefined;
    if (result.target.kind === 'downloaded') {
      const root = decodeTrustedRoot(result.target.bytes);
      targetBytes = result.target.bytes;
      next = { root, origin: 'mirror', stored: { sha256: result.target.sha256, length: targetBytes.length, versions: result.versions, fetchedAt: at } };
    } else if (inForce.stored !== undefined) {
      next = { ...inForce, origin: 'mirror', stored: { ...inForce.stored, versions: result.versions, fetchedAt: at } };
    }
    try {
      await state.saveMetadata(result.files, result.versions);
      if (targetBytes !== undefined && next?.stored !== undefined) await state.saveTrustedRoot(targetBytes, next.stored);
    } catch (error) {
      logger.warn('verified Sigstore TUF state could not be written to the store', { code: toTrustgateError(error).code, mirror: mirror.metadataUrl });
    }
    const changed = next !== undefined && next.stored?.sha256 !== inForce.stored?.sha256 && fingerprintOf(next.root) !== fingerprintOf(inForce.root);
    if (next !== undefined) inForce = next;
    if (changed) logger.info('Sigstore trusted root updated from the TUF mirror', { mirror: mirror.metadataUrl, fingerprint: fingerprintOf(inForce.root), targetsVersion: result.versions.targets });
    return { at, result: changed ? RefreshResult.UPDATED : RefreshResult.UNCHANGED };
  };

  const refresh = (signal?: AbortSignal): Promise<RefreshRecord> => {
    running ??= refreshFromMirror(signal).finally(() => {
      running = undefined;
    });
    return running;
  };

  // On use, when a refresh is due: first the store (another process may have refreshed
  // within the interval; its root is adopted and its schedule kept, and the mirror is not
  // asked), then, if still due, a refresh in the background. The caller never waits on it.
  let checking: Promise<void> | undefined;
  const refreshIfDue = async (): Promise<void> => {
    checking ??= readStore().finally(() => {
      checking = undefined;
    });
    await checking;
    if (running !== undefined || closed.signal.aborted || now() < nextRefreshAt) return;
    startInBackground();
  };
  const startInBackground = (): void => {
    nextRefreshAt = now() + intervalMs;
    refresh().catch((error: unknown) => {
      logger.error('Sigstore trusted root background refresh failed', { code: toTrustgateError(error).code });
    });
  };

  return {
    async current() {
      const starting = loading === undefined;
      await loadOnce();
      if (intervalMs > 0 && running === undefined && !closed.signal.aborted && now() >= nextRefreshAt) {
        // The store was read just now by loadOnce.
        if (starting) startInBackground();
        else await refreshIfDue();
      }
      return inForce.root;
    },
    // Unknown until the store was read, and whenever `current` would first look for a newer
    // root (a refresh is due).
    inForce() {
      if (!loaded) return undefined;
      if (intervalMs > 0 && running === undefined && !closed.signal.aborted && now() >= nextRefreshAt) return undefined;
      return inForce.root;
    },
    async status() {
      await loadOnce();
      return {
        origin: inForce.origin,
        fingerprint: fingerprintOf(inForce.root),
        mirror: mirror.metadataUrl,
        ...(inForce.stored === undefined ? {} : { tuf: inForce.stored.versions, fetchedAt: inForce.stored.fetchedAt }),
        ...(lastRefresh === undefined ? {} : { lastRefresh }),
        ...(intervalMs > 0 ? { nextRefreshAt } : {}),
      };
    },
    refresh,
    close: () => closed.abort(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'Sigstore trusted root refresh cancelled: the process is closing')),
  };
}

// Refused content, as opposed to a mirror that could not be used.
function isRejection(error: TrustgateError): boolean {
  const rejected: readonly string[] = [
    ErrorCode.TRUST_SIGNATURE_INVALID,
    ErrorCode.TRUST_THRESHOLD_NOT_MET,
    ErrorCode.TRUST_ROLLBACK,
    ErrorCode.TRUST_METADATA_EXPIRED,
    ErrorCode.TRUST_HASH_MISMATCH,
    ErrorCode.TRUST_METADATA_INVALID,
    ErrorCode.TRUST_NO_SIGNED_TARGET,
    ErrorCode.SIGSTORE_ROOT_INVALID,
  ];
  return rejected.includes(error.code);
}

// The stored TUF root when it is at least as new as the configured initial root, else the
// initial one: a product upgrade that ships a newer root is not held back by an older stored
// one. (tuf-js verifies whichever it gets against itself before trusting it.)
function newestRoot(stored: Uint8Array | undefined, initial: Uint8Array): Uint8Array {
  if (stored === undefined) return initial;
  return (rootVersion(stored) ?? 0) >= (rootVersion(initial) ?? 0) ? stored : initial;
}

function rootVersion(bytes: Uint8Array): number | undefined {
  try {
    const document = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { version?: unknown } };
    const version = document.signed?.version;
    return typeof version === 'number' ? version : undefined;
  } catch {
    return undefined;
  }
}

// A signal that fires after `ms` (TRUST_SERVER_UNAVAILABLE) or with any of `parents`. The
// timer is unref'd: a pending deadline never keeps a process alive.
function refreshDeadline(ms: number, parents: readonly AbortSignal[]): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `the TUF mirror did not complete a refresh within ${ms} ms`)), ms);
  timer.unref();
  const listeners: Array<() => void> = [];
  for (const parent of parents) {
    const onAbort = (): void => controller.abort(isTrustgateError(parent.reason) ? parent.reason : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'Sigstore trusted root refresh cancelled'));
    if (parent.aborted) onAbort();
    else {
      parent.addEventListener('abort', onAbort, { once: true });
      listeners.push(() => parent.removeEventListener('abort', onAbort));
    }
  }
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      for (const remove of listeners) remove();
    },
  };
}
