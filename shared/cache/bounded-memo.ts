// A map with a fixed capacity, for memoising pure functions of values that arrive from
// outside (image strings, namespaces, signer PEMs) and for in-process caches of verified
// state. The bound matters for security: a client that sends endless distinct keys cannot
// grow the process's memory, it only evicts older entries.
// Eviction is first-in first-out by default, so a read stays a plain lookup on the
// admission path; with `leastRecentlyUsed`, a read also refreshes the entry, for caches
// whose entries are expensive to rebuild. An evicted entry is simply computed again.
export interface BoundedMemo<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

export interface BoundedMemoOptions {
  readonly leastRecentlyUsed?: boolean;
}

export function createBoundedMemo<K, V>(capacity: number, options: BoundedMemoOptions = {}): BoundedMemo<K, V> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`memo capacity must be a positive integer, got ${capacity}`);
  // Map iteration order is insertion order: the first key is the one to evict.
  const entries = new Map<K, V>();
  const refreshOnRead = options.leastRecentlyUsed === true;
  return {
    get(key) {
      const value = entries.get(key);
      if (refreshOnRead && value !== undefined) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > capacity) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
