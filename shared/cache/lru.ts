// A bounded in-process LRU in front of a KvStore: repeated reads of the same entries (a
// warm `trustgate serve` verifying the same repositories) cost no round trip to SQLite or
// DynamoDB. Write-through: every put and delete goes to the store first.
import type { KvItem, KvPutOptions, KvStore } from '../ports.js';

export interface LruOptions {
  readonly maxEntries: number;
  // Epoch milliseconds; cached items past their expiry are dropped on read.
  readonly now?: () => number;
}

// The LRU may be behind the store (another process wrote a newer version): callers must
// treat what they read as possibly stale, never as newer than it is. Trust metadata is
// re-verified and version-checked against the server anyway, so an older entry only costs
// a refetch. A conditional put the store refused evicts the key, so the next read asks the
// store for the newer entry that won.
export function createLruStore(inner: KvStore, options: LruOptions): KvStore {
  const now = options.now ?? Date.now;
  const max = Math.max(1, options.maxEntries);
  // Map iteration order is insertion order: the first key is the least recently used.
  const entries = new Map<string, KvItem>();

  const remember = (key: string, item: KvItem): void => {
    entries.delete(key);
    entries.set(key, copyItem(item));
    while (entries.size > max) {
      const oldest = entries.keys().next();
      if (oldest.done === true) break;
      entries.delete(oldest.value);
    }
  };

  return {
    async get(key) {
      const cached = entries.get(key);
      if (cached !== undefined) {
        if (cached.expiresAt === undefined || cached.expiresAt > now()) {
          remember(key, cached);
          return copyItem(cached);
        }
        entries.delete(key);
      }
      const item = await inner.get(key);
      if (item !== undefined) remember(key, item);
      return item;
    },
    async put(key, item, putOptions?: KvPutOptions) {
      const written = await inner.put(key, item, putOptions);
      if (written) remember(key, item);
      else entries.delete(key);
      return written;
    },
    async delete(key) {
      entries.delete(key);
      await inner.delete(key);
    },
  };
}

function copyItem(item: KvItem): KvItem {
  return { value: Uint8Array.from(item.value), version: item.version, ...(item.expiresAt === undefined ? {} : { expiresAt: item.expiresAt }) };
}
