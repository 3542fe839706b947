import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { isStoreReady, trackStoreHealth } from '../../../shared/cache/store-health.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { KvStore } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);

function switchableStore(): KvStore & { down: boolean } {
  const inner = createMemoryStore({ clock: fixedClock(T0) });
  const fail = (): Promise<never> => Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'connection refused'));
  const store = {
    down: false,
    get: (key: string) => (store.down ? fail() : inner.get(key)),
    put: (...args: Parameters<KvStore['put']>) => (store.down ? fail() : inner.put(...args)),
    delete: (key: string) => (store.down ? fail() : inner.delete(key)),
  };
  return store;
}

describe('trackStoreHealth', () => {
  it('marks the store failing from its first failure until an operation succeeds', async () => {
    let now = T0;
    const backend = switchableStore();
    const tracked = trackStoreHealth(backend, { now: () => now });
    backend.down = true;
    await expect(tracked.kv.get('a')).rejects.toThrow();
    now = later(5_000);
    await expect(tracked.kv.put('a', { value: new Uint8Array(1), version: 1 })).rejects.toThrow();
    expect(tracked.health()).toMatchObject({ failingSince: T0, lastError: 'connection refused', lastObservedAt: later(5_000) });
    expect(isStoreReady(tracked.health(), later(29_999), 30_000)).toBe(true);
    expect(isStoreReady(tracked.health(), later(30_000), 30_000)).toBe(false);
    backend.down = false;
    await tracked.kv.get('a');
    expect(tracked.health().failingSince).toBeUndefined();
    expect(isStoreReady(tracked.health(), later(60_000), 30_000)).toBe(true);
  });

  it('counts an entry refused by authentication as an answer, not a failure', async () => {
    const backend = createMemoryStore({ clock: fixedClock(T0) });
    const tracked = trackStoreHealth(createAuthenticatedStore(backend, randomBytes(32)), { now: () => T0 });
    await backend.put('k', { value: randomBytes(40), version: 1 });
    await expect(tracked.kv.get('k')).rejects.toThrow();
    expect(tracked.health().failingSince).toBeUndefined();
  });
});
