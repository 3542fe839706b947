// Clocks for tests. Every part of a component under test gets the same clock, the way each
// entry point hands its single clock to its store, verifier and log: a store judging expiry by
// the wall clock while the code writing to it runs at a fixed test time would break as soon as
// the wall clock passes that time.
import type { Clock } from '../../shared/ports.js';

// A clock that always reads `at`.
export function fixedClock(at: Date): Clock {
  const ms = at.getTime();
  return { now: () => new Date(ms) };
}

// A clock over a function of epoch milliseconds (a test that moves time itself).
export function clockFrom(nowMs: () => number): Clock {
  return { now: () => new Date(nowMs()) };
}
