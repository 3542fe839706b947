// One deadline for all the registry requests of a verification, so a slow or endless
// registry (many layers, each answered just in time) cannot hold an admission past it.
// Measured on a monotonic timer (elapsed time, not the time of day the Clock port gives).
import { ErrorCode, TrustgateError } from '../../errors.js';

export interface Deadline {
  // Milliseconds left, at least 0.
  remainingMs(): number;
  // Throws REGISTRY_UNAVAILABLE once the deadline has passed.
  check(): void;
}

export function startDeadline(budgetMs: number, monotonicNow: () => number = () => performance.now()): Deadline {
  const end = monotonicNow() + budgetMs;
  const remainingMs = (): number => Math.max(0, end - monotonicNow());
  return {
    remainingMs,
    check: () => {
      if (remainingMs() <= 0) {
        throw new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, `registry did not answer within the ${budgetMs} ms allowed for one verification`);
      }
    },
  };
}
