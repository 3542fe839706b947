// One TUF update of Sigstore's trusted root with tuf-js's Updater (TUF client workflow 5.1 to
// 5.7): from the metadata we trust now to the newest metadata the mirror serves, then the
// `trusted_root.json` target checked against the length and hashes the targets role signed.
// This is an adapter: it touches the disk (tuf-js works on a metadata directory) and, through
// the Fetch port, the network. tuf-js is imported here, lazily, so a process that never
// refreshes a root never loads it.
//
// Bridging tuf-js's directory to the KvStore: tuf-js reads its trusted metadata from
// `metadataDir` and writes every document it accepts back there. Its Updater cannot be
// given a storage interface, and the store must be the one place the state lives (another
// process or function instance starts from it). So each update materialises the stored
// documents into a fresh private directory (mkdtemp: mode 0700, a random name no other user
// can predict or pre-create), runs the Updater there, and on success reads back what tuf-js
// accepted; the caller writes it to the store. The directory is removed however the update
// ends, so nothing outlives it on disk and no two updates (in this process or another) can
// see each other's half-written files. A failed update therefore leaves the store exactly
// as it was: the last good state.
//
// Clock: tuf-js fixes its reference time for metadata expiry once per Updater (client
// workflow 5.1, `new Date()` in its TrustedMetadataStore) and has no option to be handed one.
// We set that field to the caller's time right after constructing the Updater, before any
// expiry is judged, so expiry follows the injected Clock like everything else here; if a
// tuf-js release moves the field, the update is refused (INTERNAL) rather than silently
// judged by another clock.
import { createHash } from 'node:crypto';
// fs.promises rather than node:fs/promises: its modules load on first use, not when `trustgate
// verify` starts (only a refresh of Sigstore's root uses files).
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { Fetch } from '../../ports.js';
import { createBudgetedTufFetcher, type TufFetchLimits } from './tuf-fetcher.js';

export const TUF_ROLES = ['root', 'timestamp', 'snapshot', 'targets'] as const;
export type TufRole = (typeof TUF_ROLES)[number];

// The top-level metadata documents, exactly as the mirror served them. Only root is
// required: with nothing else tuf-js fetches the rest.
export type TufMetadataFiles = { readonly root: Uint8Array } & Partial<Readonly<Record<Exclude<TufRole, 'root'>, Uint8Array>>>;
export type TufVersions = Readonly<Record<TufRole, number>>;

export interface TufMirror {
  // Where root.json versions, timestamp.json, snapshot and targets metadata are served.
  readonly metadataUrl: string;
  // Where targets are served (consistent snapshots: `<sha256>.trusted_root.json`).
  readonly targetsUrl: string;
}

export interface TufUpdateLimits extends TufFetchLimits {
  // Largest single metadata document tuf-js may read (its per-role length limits).
  readonly maxFileBytes: number;
  readonly requestTimeoutMs: number;
}

export interface TufUpdateRequest {
  readonly mirror: TufMirror;
  readonly target: string;
  readonly files: TufMetadataFiles;
  // The target we already hold: not downloaded again when the signed hash still names it.
  readonly known?: { readonly sha256: string; readonly length: number };
  readonly fetch: Fetch;
  readonly limits: TufUpdateLimits;
  // The update's deadline and cancellation.
  readonly signal: AbortSignal;
  // The time metadata expiry is judged at (the caller's Clock).
  readonly now: Date;
}

export type TufTargetResult = { readonly kind: 'unchanged' } | { readonly kind: 'downloaded'; readonly bytes: Uint8Array; readonly sha256: string };

export interface TufUpdateResult {
  // What tuf-js accepted, to be written to the store.
  readonly files: Readonly<Record<TufRole, Uint8Array>>;
  readonly versions: TufVersions;
  readonly target: TufTargetResult;
}

// Runs the update; rejects with a TrustgateError whose code says why (TRUST_SIGNATURE_INVALID,
// TRUST_ROLLBACK, TRUST_METADATA_EXPIRED, TRUST_HASH_MISMATCH, TRUST_NO_SIGNED_TARGET,
// TRUST_SERVER_UNAVAILABLE, TRUST_METADATA_TOO_LARGE, TRUST_METADATA_INVALID). Returns as
// soon as the signal fires; the abandoned Updater then stops at its next request.
export async function runTufUpdate(request: TufUpdateRequest): Promise<TufUpdateResult> {
  const work = updateInPrivateDir(request);
  work.catch(() => undefined);
  return Promise.race([work, abortedWith(request.signal)]);
}

async function updateInPrivateDir(request: TufUpdateRequest): Promise<TufUpdateResult> {
  const [{ Updater }, tufErrors] = await Promise.all([import('tuf-js').then(commonJsExports), import('tuf-js/dist/error.js').then(commonJsExports)]);
  const dir = await fsp.mkdtemp(join(tmpdir(), 'trustgate-tuf-'));
  const fetcher = createBudgetedTufFetcher({
    fetch: request.fetch,
    limits: request.limits,
    signal: request.signal,
    requestTimeoutMs: request.limits.requestTimeoutMs,
    scratchDir: dir,
    httpError: (message, status) => new tufErrors.DownloadHTTPError(message, status),
  });
  try {
    const metadataDir = join(dir, 'metadata');
    const targetDir = join(dir, 'targets');
    await Promise.all([fsp.mkdir(metadataDir, { mode: 0o700 }), fsp.mkdir(targetDir, { mode: 0o700 })]);
    for (const role of TUF_ROLES) {
      const bytes = request.files[role];
      if (bytes !== undefined) await fsp.writeFile(join(metadataDir, `${role}.json`), bytes, { mode: 0o600 });
    }
    const max = request.limits.maxFileBytes;
    const updater = new Updater({
      metadataDir,
      metadataBaseUrl: request.mirror.metadataUrl,
      targetDir,
      targetBaseUrl: request.mirror.targetsUrl,
      fetcher,
      // Root rotations and delegations walked are bounded by the fetch budget as well.
      config: { maxRootRotations: 32, maxDelegations: 8, rootMaxLength: max, timestampMaxLength: Math.min(max, 64 * 1024), snapshotMaxLength: max, targetsMaxLength: max, prefixTargetsWithHash: true },
    });
    setReferenceTime(updater, request.now);
    await updater.refresh();
    const info = await updater.getTargetInfo(request.target);
    if (info === undefined) throw new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, `the TUF mirror's targets name no ${request.target}`);
    const signedSha256 = info.hashes['sha256'];
    const known = request.known;
    let target: TufTargetResult;
    if (known !== undefined && signedSha256 === known.sha256 && info.length === known.length) {
      target = { kind: 'unchanged' };
    } else {
      const path = await updater.downloadTarget(info, join(targetDir, 'target.json'));
      const bytes = await fsp.readFile(path);
      // tuf-js verified length and every signed hash; the SHA-256 we record is our own.
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (bytes.length !== info.length || (signedSha256 !== undefined && signedSha256 !== sha256)) {
        throw new TrustgateError(ErrorCode.TRUST_HASH_MISMATCH, `TUF target ${request.target} does not match its signed length and hash`);
      }
      target = { kind: 'downloaded', bytes, sha256 };
    }
    const files = {} as Record<TufRole, Uint8Array>;
    const versions = {} as Record<TufRole, number>;
    for (const role of TUF_ROLES) {
      const bytes = await fsp.readFile(join(metadataDir, `${role}.json`));
      files[role] = bytes;
      versions[role] = versionOf(bytes, role);
    }
    return { files, versions, target };
  } catch (error) {
    throw toRefreshError(error, fetcher.failure(), tufErrors);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

// A CommonJS module's exports however it was imported: Node's ESM loader and the esbuild
// bundle both put module.exports on `default`, but only Node reliably mirrors every export
// as a named one.
function commonJsExports<T extends object>(module: T & { readonly default?: T }): T {
  return module.default ?? module;
}

// `signed.version` of a document tuf-js has already verified.
function versionOf(bytes: Uint8Array, role: TufRole): number {
  const document = parseJsonBytes(bytes, ErrorCode.TRUST_METADATA_INVALID, `TUF ${role}.json`);
  const signed = isPlainObject(document) ? document['signed'] : undefined;
  const version = isPlainObject(signed) ? signed['version'] : undefined;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `TUF ${role}.json has no valid version`);
  }
  return version;
}

type TufErrors = typeof import('tuf-js/dist/error.js');

// tuf-js's errors as our codes. Our own failures (network, budget, deadline) come first,
// even when tuf-js wrapped them. tuf-js wraps snapshot and targets failures in a
// RuntimeError holding only the original's text, so those are told apart by the text of
// tuf-js 5 (its version is pinned); anything unrecognised is TRUST_METADATA_INVALID.
function toRefreshError(error: unknown, failure: TrustgateError | undefined, tufErrors: TufErrors): TrustgateError {
  if (isTrustgateError(error)) return error;
  if (failure !== undefined) return failure;
  const message = error instanceof Error ? error.message : String(error);
  const wrap = (code: ErrorCode, what: string): TrustgateError => new TrustgateError(code, `TUF mirror refused: ${what}: ${message.slice(0, 200)}`, { cause: error });
  if (error instanceof tufErrors.ExpiredMetadataError) return wrap(ErrorCode.TRUST_METADATA_EXPIRED, 'expired metadata');
  if (error instanceof tufErrors.BadVersionError) return wrap(ErrorCode.TRUST_ROLLBACK, 'metadata version goes back');
  if (error instanceof tufErrors.DownloadHTTPError) return wrap(ErrorCode.TRUST_METADATA_MISSING, 'metadata missing');
  if (/was signed by \d+\/\d+ keys|failed to verify \S+ signature|no signature for key|no public key found/.test(message)) return wrap(ErrorCode.TRUST_SIGNATURE_INVALID, 'signature threshold not met');
  if (/Expected (hash|length) /.test(message)) return wrap(ErrorCode.TRUST_HASH_MISMATCH, 'length or hash differs from the signed one');
  if (/is expired/.test(message)) return wrap(ErrorCode.TRUST_METADATA_EXPIRED, 'expired metadata');
  if (/version \S+ (is less than|of \S+ is less than)|does not match snapshot version|doesn't match timestamp|Expected version/.test(message)) return wrap(ErrorCode.TRUST_ROLLBACK, 'metadata version goes back');
  return wrap(ErrorCode.TRUST_METADATA_INVALID, 'metadata invalid');
}

// Rejects with the signal's reason once it fires (never resolves otherwise).
function abortedWith(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    const reason = (): TrustgateError => (isTrustgateError(signal.reason) ? signal.reason : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'TUF mirror refresh was cancelled'));
    if (signal.aborted) reject(reason());
    else signal.addEventListener('abort', () => reject(reason()), { once: true });
  });
}

// Points tuf-js's fixed update start time (its TrustedMetadataStore's `referenceTime`, read
// for every expiry check) at `now`.
function setReferenceTime(updater: object, now: Date): void {
  const trustedSet: unknown = (updater as { trustedSet?: unknown }).trustedSet;
  if (typeof trustedSet !== 'object' || trustedSet === null || !((trustedSet as { referenceTime?: unknown }).referenceTime instanceof Date)) {
    throw new TrustgateError(ErrorCode.INTERNAL, "tuf-js's Updater has no reference time to set: expiry cannot be judged by the injected clock");
  }
  (trustedSet as { referenceTime: Date }).referenceTime = new Date(now.getTime());
}
