import { describe, expect, it } from 'vitest';
import { createLruStore } from '../../../shared/cache/lru.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { KvStore } from '../../../shared/ports.js';

// A store counting reads, that can be switched to fail like an unreachable backend.
function countingStore(): KvStore & { reads: number; down: boolean } {
  const inner = createMemoryStore();
  const store = {
    reads: 0,
    down: false,
    get(key: string) {
      store.reads += 1;
      if (store.down) return Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'down'));
      return inner.get(key);
    },
    put: inner.put,
    delete: inner.delete,
  };
  return store;
}

const item = (version: number, expiresAt?: number) => ({ value: Uint8Array.from([version]), version, ...(expiresAt === undefined ? {} : { expiresAt }) });

describe('createLruStore', () => {
  describe('when an entry is read twice', () => {
    it('asks the backing store once', async () => {
      const inner = countingStore();
      await inner.put('k', item(1));
      const lru = createLruStore(inner, { maxEntries: 2 });
      await lru.get('k');
      await lru.get('k');
      expect(inner.reads).toBe(1);
    });
  });

  describe('when more entries are read than fit', () => {
    it('evicts the least recently used one', async () => {
      const inner = countingStore();
      for (const key of ['a', 'b', 'c']) await inner.put(key, item(1));
      const lru = createLruStore(inner, { maxEntries: 2 });
      await lru.get('a');
      await lru.get('b');
      await lru.get('a');
      await lru.get('c');
      inner.reads = 0;
      await lru.get('a');
      expect(inner.reads).toBe(0);
      await lru.get('b');
      expect(inner.reads).toBe(1);
    });
  });

  describe('when the backing store is down', () => {
    it('still serves cached entries', async () => {
      const inner = countingStore();
      const lru = createLruStore(inner, { maxEntries: 2 });
      await lru.put('k', item(3));
      inner.down = true;
      expect((await lru.get('k'))?.version).toBe(3);
    });
  });

  describe('when a conditional put is refused because another writer is newer', () => {
    it('forgets its copy and reads the winner from the store', async () => {
      const inner = countingStore();
      const lru = createLruStore(inner, { maxEntries: 2 });
      await lru.put('k', item(1));
      await inner.put('k', item(5));
      expect(await lru.put('k', item(2), { onlyIfNewer: true })).toBe(false);
      expect((await lru.get('k'))?.version).toBe(5);
    });
  });

  describe('when a cached entry expires', () => {
    it('reads as absent', async () => {
      let now = 1_000;
      const lru = createLruStore(createMemoryStore({ now: () => now }), { maxEntries: 2, now: () => now });
      await lru.put('k', item(1, 1_500));
      now = 1_500;
      expect(await lru.get('k')).toBeUndefined();
    });
  });
});
