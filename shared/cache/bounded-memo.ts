// A map with a fixed capacity, for memoising pure functions of values that arrive from
// outside (image strings, namespaces, signer PEMs) and for in-process caches of verified
// state. The bound matters for security: a client that sends endless distinct keys cannot
// grow the process's memory, it only evicts older entries.
// Eviction is first-in first-out by default, so a read stays a plain lookup on the
// admission path; with `leastRecentlyUsed`, a read also refreshes the entry, for caches
// whose entries are expensive to rebuild. An evicted entry is simply computed again.
// Where values differ widely in size (verified repositories), `weigh` and `maxWeight` bound
// the memo by what it holds as well: entries are evicted until both bounds hold. An entry
// is weighed when it is set; setting it again re-weighs it (for values that grow).
export interface BoundedMemo<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

export interface BoundedMemoOptions<V> {
  readonly leastRecentlyUsed?: boolean;
  // An entry's weight (bytes, say); with maxWeight, the sum kept is at most maxWeight. A
  // single entry heavier than maxWeight is not kept at all.
  readonly weigh?: (value: V) => number;
  readonly maxWeight?: number;
}

export function createBoundedMemo<K, V>(capacity: number, options: BoundedMemoOptions<V> = {}): BoundedMemo<K, V> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`memo capacity must be a positive integer, got ${capacity}`);
  const maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
  if (!(maxWeight > 0)) throw new RangeError(`memo maxWeight must be positive, got ${maxWeight}`);
  const weigh = options.weigh ?? ((): number => 0);
  // Map iteration order is insertion order: the first key is the one to evict.
  const entries = new Map<K, V>();
  const weights = new Map<K, number>();
  let total = 0;
  const refreshOnRead = options.leastRecentlyUsed === true;
  const remove = (key: K): void => {
    total -= weights.get(key) ?? 0;
    weights.delete(key);
    entries.delete(key);
  };
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
      remove(key);
      const weight = weigh(value);
      if (weight > maxWeight) return;
      entries.set(key, value);
      weights.set(key, weight);
      total += weight;
      while (entries.size > capacity || total > maxWeight) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        remove(oldest.value);
      }
    },
    delete(key) {
      remove(key);
    },
    get size() {
      return entries.size;
    },
  };
}
