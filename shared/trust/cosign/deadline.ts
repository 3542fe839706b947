// One deadline for all the registry requests of a verification, so a slow or endless
// registry (many layers, each answered just in time) cannot hold an admission past it.
// Measured on a monotonic timer (elapsed time, not the time of day the Clock port gives).
// The caller's signal (the admission's budget) ends it early: once the caller has its
// answer, a slow registry gets no more of our requests, and the ones in flight are aborted.
import { ErrorCode, TrustgateError } from '../../errors.js';

export interface Deadline {
  // Milliseconds left, at least 0.
  remainingMs(): number;
  // Throws REGISTRY_UNAVAILABLE once the deadline has passed or the caller's signal aborted.
  check(): void;
  // The caller's signal, handed to every request so it is aborted with the caller.
  readonly signal: AbortSignal | undefined;
}

export function startDeadline(budgetMs: number, monotonicNow: () => number = () => performance.now(), signal?: AbortSignal): Deadline {
  const end = monotonicNow() + budgetMs;
  const remainingMs = (): number => Math.max(0, end - monotonicNow());
  return {
    remainingMs,
    signal,
    check: () => {
      if (signal?.aborted === true) {
        throw new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, 'registry requests cancelled: the caller no longer waits for this verification');
      }
      if (remainingMs() <= 0) {
        throw new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry did not answer within the ${budgetMs} ms allowed for one verification`);
      }
    },
  };
}
