// Marks store errors that mean "this one entry is damaged" (an item of the wrong shape, written
// by someone other than trustgate), as opposed to a store that does not answer. Callers that
// can skip one entry (sign-callback's recorded refs and statuses, the changefeed cursor) tell
// the two apart with isDamagedEntry; everyone else keeps treating both as STATE_STORE_FAILED.
const damaged = new WeakSet<object>();

// Returns `error`, marked as the failure of one damaged entry.
export function markDamagedEntry<E extends object>(error: E): E {
  damaged.add(error);
  return error;
}

// True when `error` says one stored entry could not be decoded, not that the store failed.
export function isDamagedEntry(error: unknown): boolean {
  return typeof error === 'object' && error !== null && damaged.has(error);
}
