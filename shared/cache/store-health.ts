// Tracks whether the store answers, for a readiness probe: every operation that settles
// with an answer (an entry refused by authentication included: the store did answer) marks
// it healthy, every other failure marks it failing from the first such failure on.
// Readiness reports a store that has been failing for longer than a threshold, so a blip
// does not take a replica out of its Service but an outage does (it would deny every
// repository this replica has not verified itself).
import type { Clock, KvStore } from '../ports.js';
import { isAuthenticationFailure } from './authenticated-store.js';

export interface StoreHealth {
  // Undefined while the store answers; else when it started failing and the latest error.
  readonly failingSince: Date | undefined;
  readonly lastError: string | undefined;
  // When an operation last settled, whatever its outcome.
  readonly lastObservedAt: Date | undefined;
}

export interface TrackedStore {
  readonly kv: KvStore;
  health(): StoreHealth;
}

export const DEFAULT_STORE_UNREADY_AFTER_MS = 30_000;

// Wraps `inner`, recording the outcome of every operation against `clock`.
export function trackStoreHealth(inner: KvStore, clock: Clock): TrackedStore {
  let failingSince: Date | undefined;
  let lastError: string | undefined;
  let lastObservedAt: Date | undefined;
  const observe = <T>(operation: Promise<T>): Promise<T> =>
    operation.then(
      (value) => {
        lastObservedAt = clock.now();
        failingSince = undefined;
        lastError = undefined;
        return value;
      },
      (error: unknown) => {
        lastObservedAt = clock.now();
        if (isAuthenticationFailure(error)) {
          failingSince = undefined;
        } else {
          failingSince ??= lastObservedAt;
          lastError = error instanceof Error ? error.message : String(error);
        }
        throw error;
      },
    );
  return {
    kv: {
      get: (key) => observe(inner.get(key)),
      put: (key, item, options) => observe(inner.put(key, item, options)),
      delete: (key) => observe(inner.delete(key)),
    },
    health: () => ({ failingSince, lastError, lastObservedAt }),
  };
}

// Ready unless the store has been failing for at least `unreadyAfterMs` at `now`.
export function isStoreReady(health: StoreHealth, now: Date, unreadyAfterMs: number): boolean {
  return health.failingSince === undefined || now.getTime() - health.failingSince.getTime() < unreadyAfterMs;
}
