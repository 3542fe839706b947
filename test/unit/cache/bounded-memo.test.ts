import { describe, expect, it } from 'vitest';
import { createBoundedMemo } from '../../../shared/cache/bounded-memo.js';

describe('createBoundedMemo', () => {
  describe('when a key was set', () => {
    it('returns its value, and undefined for a key never set', () => {
      const memo = createBoundedMemo<string, number>(2);
      memo.set('a', 1);
      expect(memo.get('a')).toBe(1);
      expect(memo.get('b')).toBeUndefined();
    });

    it('replaces the value when the key is set again, without growing', () => {
      const memo = createBoundedMemo<string, number>(2);
      memo.set('a', 1);
      memo.set('a', 2);
      expect(memo.get('a')).toBe(2);
      expect(memo.size).toBe(1);
    });
  });

  describe('when more keys arrive than the capacity', () => {
    it('never holds more than the capacity', () => {
      const memo = createBoundedMemo<number, number>(3);
      for (let i = 0; i < 100; i += 1) memo.set(i, i);
      expect(memo.size).toBe(3);
    });

    it('evicts the entry set longest ago and keeps the newest', () => {
      const memo = createBoundedMemo<string, number>(2);
      memo.set('a', 1);
      memo.set('b', 2);
      memo.set('c', 3);
      expect(memo.get('a')).toBeUndefined();
      expect(memo.get('b')).toBe(2);
      expect(memo.get('c')).toBe(3);
    });

    it('counts a re-set key as new, so it outlives keys set before it', () => {
      const memo = createBoundedMemo<string, number>(2);
      memo.set('a', 1);
      memo.set('b', 2);
      memo.set('a', 10);
      memo.set('c', 3);
      expect(memo.get('b')).toBeUndefined();
      expect(memo.get('a')).toBe(10);
    });
  });

  describe('when the capacity is not a positive integer', () => {
    it.each([0, -1, 1.5, Number.NaN])('rejects %s with a RangeError', (capacity) => {
      expect(() => createBoundedMemo(capacity)).toThrow(RangeError);
    });
  });
});

describe('createBoundedMemo with leastRecentlyUsed', () => {
  it('keeps an entry that was read over one set after it', () => {
    const memo = createBoundedMemo<string, number>(2, { leastRecentlyUsed: true });
    memo.set('a', 1);
    memo.set('b', 2);
    memo.get('a');
    memo.set('c', 3);
    expect(memo.get('b')).toBeUndefined();
    expect(memo.get('a')).toBe(1);
  });

  it('forgets a deleted entry', () => {
    const memo = createBoundedMemo<string, number>(2, { leastRecentlyUsed: true });
    memo.set('a', 1);
    memo.delete('a');
    expect(memo.get('a')).toBeUndefined();
    expect(memo.size).toBe(0);
  });
});
