// What one repository update may spend, enforced where every document enters: a wrapper
// around the MetadataSource that counts the bytes of all documents fetched (top-level
// roles, root versions, delegations loaded later by the resolution) against one budget, and
// stops every fetch once the update's deadline has passed.
//
// Security: per-file caps alone let a hostile trust server multiply them (64 delegations of
// 5 MiB each, 256 root versions of 100 KiB each): a validly signed but enormous repository
// would fill memory and the store. With one budget per update, each request is asked for at
// most what is left, so the server cannot make one update read more than `maxBytes` in
// total, whatever it serves and however slowly.
import { ErrorCode, TrustgateError } from '../../errors.js';
import type { MetadataLease } from './metadata-pool.js';
import type { RoleName } from './model.js';
import type { MetadataSelector, MetadataSource } from './source.js';

export interface BudgetedSource extends MetadataSource {
  // Bytes of documents fetched so far.
  spent(): number;
}

// `signal` (when given) is the update's deadline; a fetch after it fails without a request.
// `lease` (when given) reserves each fetch's bytes in the process-wide pool first.
export function createBudgetedSource(source: MetadataSource, maxBytes: number, gun: string, signal?: AbortSignal, lease?: MetadataLease): BudgetedSource {
  let spent = 0;
  return {
    async fetchMetadata(role: RoleName, selector: MetadataSelector, maxFileBytes: number): Promise<Uint8Array | undefined> {
      if (signal?.aborted === true) throw abortError(signal, gun);
      const left = maxBytes - spent;
      if (left <= 0) throw overBudget(gun, maxBytes, role);
      const ask = Math.min(maxFileBytes, left);
      await lease?.reserve(ask);
      const bytes = await source.fetchMetadata(role, selector, ask, signal);
      if (bytes === undefined) return undefined;
      spent += bytes.length;
      if (spent > maxBytes) throw overBudget(gun, maxBytes, role);
      return bytes;
    },
    spent: () => spent,
  };
}

function overBudget(gun: string, maxBytes: number, role: RoleName): TrustgateError {
  return new TrustgateError(
    ErrorCode.TRUST_METADATA_TOO_LARGE,
    `trust data of ${gun} too large: expected at most ${maxBytes} bytes of metadata per update, got more when fetching ${role}`,
  );
}

// The reason the update's signal carries when it is ours; a generic unavailability otherwise.
export function abortError(signal: AbortSignal, gun: string): TrustgateError {
  const reason: unknown = signal.reason;
  if (reason instanceof TrustgateError) return reason;
  return new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `update of ${gun} was cancelled before it completed`);
}

// A signal that aborts after `ms` with TRUST_SERVER_UNAVAILABLE, or as soon as `parent` does.
// The timer is unref'd: a pending deadline never keeps a process alive.
export function updateDeadline(ms: number, gun: string, parent?: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `trust server did not complete the update of ${gun} within ${ms} ms`));
  }, ms);
  timer.unref();
  if (parent !== undefined) {
    const onAbort = (): void => {
      clearTimeout(timer);
      controller.abort(parent.reason);
    };
    if (parent.aborted) onAbort();
    else parent.addEventListener('abort', onAbort, { once: true });
  }
  return controller.signal;
}

// One cancellation for an update several callers share (single flight): it aborts once
// every caller that joined with a signal has given up, and never while a caller without a
// signal waits. A caller whose time ran out thus stops the work only it still wanted.
export interface SharedCancellation {
  readonly signal: AbortSignal;
  join(signal: AbortSignal | undefined): void;
}

export function createSharedCancellation(): SharedCancellation {
  const controller = new AbortController();
  let unbounded = false;
  let waiting = 0;
  return {
    signal: controller.signal,
    join(signal) {
      if (signal === undefined) {
        unbounded = true;
        return;
      }
      if (signal.aborted) return;
      waiting += 1;
      signal.addEventListener(
        'abort',
        () => {
          waiting -= 1;
          if (waiting === 0 && !unbounded) controller.abort(signal.reason);
        },
        { once: true },
      );
    },
  };
}
