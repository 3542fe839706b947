// A map with a fixed capacity, for memoising pure functions of values that arrive from
// outside (image strings, namespaces). The bound matters for security: a client that sends
// endless distinct keys cannot grow the process's memory, it only evicts older entries.
// Eviction is first-in first-out: a read stays a plain lookup (this sits on the admission
// path), and an evicted entry that is still in use is simply computed again.
export interface BoundedMemo<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  readonly size: number;
}

export function createBoundedMemo<K, V>(capacity: number): BoundedMemo<K, V> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`memo capacity must be a positive integer, got ${capacity}`);
  const entries = new Map<K, V>();
  return {
    get: (key) => entries.get(key),
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > capacity) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
