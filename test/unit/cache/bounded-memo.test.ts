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

describe('createBoundedMemo with a weight bound', () => {
  const weighed = (maxWeight: number) => createBoundedMemo<string, Uint8Array>(100, { weigh: (value) => value.length, maxWeight });

  it('evicts the oldest entries until what it holds fits', () => {
    const memo = weighed(10);
    memo.set('a', new Uint8Array(4));
    memo.set('b', new Uint8Array(4));
    memo.set('c', new Uint8Array(4));
    expect([memo.get('a'), memo.get('b') !== undefined, memo.get('c') !== undefined]).toEqual([undefined, true, true]);
    expect(memo.size).toBe(2);
  });

  it('does not keep an entry heavier than the whole bound', () => {
    const memo = weighed(10);
    memo.set('a', new Uint8Array(4));
    memo.set('huge', new Uint8Array(11));
    expect(memo.get('huge')).toBeUndefined();
    expect(memo.get('a')).toBeDefined();
  });

  it('re-weighs an entry that is set again', () => {
    const grown = { bytes: 2 };
    const memo = createBoundedMemo<string, { bytes: number }>(100, { weigh: (value) => value.bytes, maxWeight: 10 });
    memo.set('old', { bytes: 5 });
    memo.set('grown', grown);
    grown.bytes = 8;
    memo.set('grown', grown);
    expect(memo.get('old')).toBeUndefined();
    expect(memo.get('grown')).toBe(grown);
  });

  it('frees the weight of deleted entries', () => {
    const memo = weighed(10);
    memo.set('a', new Uint8Array(8));
    memo.delete('a');
    memo.set('b', new Uint8Array(8));
    expect(memo.get('b')).toBeDefined();
  });
});
