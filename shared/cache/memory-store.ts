import type { Clock, KvItem, KvPutOptions, KvStore } from '../ports.js';

export interface MemoryStoreOptions {
  // The component's clock: expiry is judged against it on every read. Required, so a store
  // can never judge expiry by another clock than the component that writes to it.
  readonly clock: Clock;
}

// A KvStore held in this process's memory, for tests and single-process use. Values are
// copied in and out so a caller mutating its buffer cannot change what is stored.
// An item whose expiresAt <= now() reads as absent and counts as absent for onlyIfNewer.
export function createMemoryStore(options: MemoryStoreOptions): KvStore {
  const now = (): number => options.clock.now().getTime();
  const items = new Map<string, KvItem>();

  // The live item under a key, dropping it once expired.
  const read = (key: string): KvItem | undefined => {
    const item = items.get(key);
    if (item === undefined) return undefined;
    if (isExpired(item, now())) {
      items.delete(key);
      return undefined;
    }
    return item;
  };

  return {
    get(key) {
      const item = read(key);
      return Promise.resolve(item === undefined ? undefined : copyItem(item));
    },
    put(key, item, putOptions?: KvPutOptions) {
      // Check and write happen in one synchronous step, so the condition is atomic here.
      const current = read(key);
      if (putOptions?.onlyIfNewer === true && current !== undefined && current.version >= item.version) {
        return Promise.resolve(false);
      }
      items.set(key, copyItem(item));
      return Promise.resolve(true);
    },
    delete(key) {
      items.delete(key);
      return Promise.resolve();
    },
  };
}

// Expiry is inclusive: an item is gone at the very millisecond of expiresAt.
function isExpired(item: KvItem, nowMs: number): boolean {
  return item.expiresAt !== undefined && item.expiresAt <= nowMs;
}

function copyItem(item: KvItem): KvItem {
  return {
    value: Uint8Array.from(item.value),
    version: item.version,
    ...(item.expiresAt !== undefined ? { expiresAt: item.expiresAt } : {}),
  };
}
