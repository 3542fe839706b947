// One pool of metadata bytes for every repository update of the process. The per-update
// budget bounds one update; this bounds them together, so many concurrent updates against
// hostile repositories (a review naming dozens of images, many reviews at once) cannot add
// up past the process's memory. A fetch reserves the bytes it may read before it is sent;
// what an update reserved is held until the update is released (its verification is over)
// or its deadline passes, since decoded documents live that long. A fetch that does not fit
// waits, in a queue any later release may serve, until room frees up or its deadline
// aborts it: under a flood, verifications wait and fail closed instead of the process
// running out of memory.
import { ErrorCode, TrustgateError } from '../../errors.js';

export interface MetadataPool {
  // A lease for one update: its reservations are returned together.
  lease(signal?: AbortSignal): MetadataLease;
  // Bytes reserved right now (for tests and metrics).
  readonly reserved: number;
}

export interface MetadataLease {
  // Resolves once `bytes` (at most the pool's size) are reserved; rejects with the signal's
  // reason when it aborts first.
  reserve(bytes: number): Promise<void>;
  // Returns everything reserved; later reservations are returned on the signal's abort.
  release(): void;
}

// A pool's size must hold at least the largest single document a fetch may ask for.
export const DEFAULT_METADATA_POOL_BYTES = 8 * 1024 * 1024;

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

export function createMetadataPool(maxBytes: number = DEFAULT_METADATA_POOL_BYTES): MetadataPool {
  let reserved = 0;
  const waiters: Waiter[] = [];

  // Serves every waiter that fits, in order; a large request does not hold back small ones.
  function drain(): void {
    for (let i = 0; i < waiters.length; ) {
      const waiter = waiters[i];
      if (waiter !== undefined && reserved + waiter.bytes <= maxBytes) {
        waiters.splice(i, 1);
        reserved += waiter.bytes;
        waiter.grant();
      } else {
        i += 1;
      }
    }
  }

  return {
    get reserved() {
      return reserved;
    },
    lease(signal) {
      let held = 0;
      let released = false;
      const giveBack = (): void => {
        reserved -= held;
        held = 0;
        drain();
      };
      signal?.addEventListener('abort', giveBack, { once: true });
      return {
        reserve(wanted) {
          const bytes = Math.min(Math.max(0, wanted), maxBytes);
          if (signal?.aborted === true) return Promise.reject(abortReason(signal));
          const take = (): void => {
            // After the lease was released (or its deadline passed), a late reservation is
            // returned at once when the deadline fires; until then it counts.
            held += bytes;
          };
          if (reserved + bytes <= maxBytes) {
            reserved += bytes;
            take();
            return Promise.resolve();
          }
          return new Promise<void>((resolve, reject) => {
            const waiter: Waiter = {
              bytes,
              grant: () => {
                signal?.removeEventListener('abort', onAbort);
                take();
                resolve();
              },
            };
            function onAbort(): void {
              const index = waiters.indexOf(waiter);
              if (index >= 0) waiters.splice(index, 1);
              reject(abortReason(signal));
            }
            signal?.addEventListener('abort', onAbort, { once: true });
            waiters.push(waiter);
          });
        },
        release() {
          if (released) return;
          released = true;
          giveBack();
        },
      };
    },
  };
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof TrustgateError ? reason : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'metadata fetch cancelled while waiting for memory');
}
