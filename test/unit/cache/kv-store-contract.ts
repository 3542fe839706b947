import { describe, expect, it } from 'vitest';
import type { KvItem, KvStore } from '../../../shared/ports.js';

// Builds a fresh, empty store reading time from `now` (epoch milliseconds).
export type MakeStore = (now: () => number) => Promise<KvStore> | KvStore;

const T0 = 1_700_000_000_000;

// A fresh store with a clock the test moves by hand.
async function setup(makeStore: MakeStore): Promise<{ store: KvStore; clock: { ms: number } }> {
  const clock = { ms: T0 };
  const store = await makeStore(() => clock.ms);
  return { store, clock };
}

function item(value: readonly number[] | Uint8Array, version: number, expiresAt?: number): KvItem {
  return { value: Uint8Array.from(value), version, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

// The behaviour every KvStore backend must share, written once and run per backend.
export function describeKvStoreContract(name: string, makeStore: MakeStore): void {
  describe(`KvStore contract: ${name}`, () => {
    describe('when the key was never written', () => {
      it('reads as absent', async () => {
        const { store } = await setup(makeStore);
        expect(await store.get('missing')).toBeUndefined();
      });
    });

    describe('when a binary value is put', () => {
      it('reads back the same bytes, version and expiry', async () => {
        const { store } = await setup(makeStore);
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        expect(await store.put('k', item(all, 3, T0 + 1000))).toBe(true);
        const got = await store.get('k');
        expect(got?.version).toBe(3);
        expect(got?.expiresAt).toBe(T0 + 1000);
        expect(Array.from(got?.value ?? [])).toStrictEqual(Array.from(all));
      });

      it('round-trips an empty value without expiry', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([], 1));
        const got = await store.get('k');
        expect(got?.value.length).toBe(0);
        expect(got?.expiresAt).toBeUndefined();
      });

      it('round-trips a value that is a view into a larger buffer', async () => {
        const { store } = await setup(makeStore);
        const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
        await store.put('k', { value: backing.subarray(2, 5), version: 1 });
        expect(Array.from((await store.get('k'))?.value ?? [])).toStrictEqual([1, 2, 3]);
      });

      it('is not changed by the caller mutating its buffer afterwards', async () => {
        const { store } = await setup(makeStore);
        const value = Uint8Array.from([1, 2, 3]);
        await store.put('k', { value, version: 1 });
        value[0] = 42;
        const first = await store.get('k');
        first?.value.fill(7);
        expect(Array.from((await store.get('k'))?.value ?? [])).toStrictEqual([1, 2, 3]);
      });
    });

    describe('when a put is unconditional', () => {
      it('overwrites even with a lower version', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 5));
        expect(await store.put('k', item([2], 1))).toBe(true);
        expect((await store.get('k'))?.version).toBe(1);
      });
    });

    describe('when a put is onlyIfNewer', () => {
      it('writes when the key is absent', async () => {
        const { store } = await setup(makeStore);
        expect(await store.put('k', item([1], 1), { onlyIfNewer: true })).toBe(true);
        expect((await store.get('k'))?.version).toBe(1);
      });

      it('refuses an equal version and keeps the stored value', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 4));
        expect(await store.put('k', item([2], 4), { onlyIfNewer: true })).toBe(false);
        expect(Array.from((await store.get('k'))?.value ?? [])).toStrictEqual([1]);
      });

      it('refuses a lower version and keeps the stored value', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 4));
        expect(await store.put('k', item([2], 3), { onlyIfNewer: true })).toBe(false);
        const got = await store.get('k');
        expect(got?.version).toBe(4);
        expect(Array.from(got?.value ?? [])).toStrictEqual([1]);
      });

      it('accepts a higher version', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 4));
        expect(await store.put('k', item([2], 5), { onlyIfNewer: true })).toBe(true);
        const got = await store.get('k');
        expect(got?.version).toBe(5);
        expect(Array.from(got?.value ?? [])).toStrictEqual([2]);
      });

      it('treats an expired item as absent', async () => {
        const { store, clock } = await setup(makeStore);
        await store.put('k', item([1], 9, T0 + 10));
        clock.ms = T0 + 10;
        expect(await store.put('k', item([2], 1), { onlyIfNewer: true })).toBe(true);
        expect((await store.get('k'))?.version).toBe(1);
      });

      it('lets exactly one of many concurrent writers of the same version win', async () => {
        const { store } = await setup(makeStore);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.put('k', item([i], 1), { onlyIfNewer: true })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('ends on the highest version when writers race', async () => {
        const { store } = await setup(makeStore);
        await Promise.all([3, 1, 7, 2, 5].map((v) => store.put('k', item([v], v), { onlyIfNewer: true })));
        expect((await store.get('k'))?.version).toBe(7);
      });
    });

    describe('when a key is deleted', () => {
      it('reads as absent afterwards', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 1));
        await store.delete('k');
        expect(await store.get('k')).toBeUndefined();
      });

      it('accepts any version again with onlyIfNewer', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 10));
        await store.delete('k');
        expect(await store.put('k', item([2], 1), { onlyIfNewer: true })).toBe(true);
      });

      it('resolves when the key never existed', async () => {
        const { store } = await setup(makeStore);
        await expect(store.delete('never')).resolves.toBeUndefined();
      });

      it('leaves other keys alone', async () => {
        const { store } = await setup(makeStore);
        await store.put('a', item([1], 1));
        await store.put('b', item([2], 1));
        await store.delete('a');
        expect((await store.get('b'))?.version).toBe(1);
      });
    });

    describe('when an item has an expiry', () => {
      it('reads while now is before expiresAt', async () => {
        const { store, clock } = await setup(makeStore);
        await store.put('k', item([1], 1, T0 + 100));
        clock.ms = T0 + 99;
        expect((await store.get('k'))?.version).toBe(1);
      });

      it('reads as absent at exactly expiresAt', async () => {
        const { store, clock } = await setup(makeStore);
        await store.put('k', item([1], 1, T0 + 100));
        clock.ms = T0 + 100;
        expect(await store.get('k')).toBeUndefined();
      });

      it('reads as absent when written already expired', async () => {
        const { store } = await setup(makeStore);
        await store.put('k', item([1], 1, T0 - 1));
        expect(await store.get('k')).toBeUndefined();
      });
    });

    describe('when keys hold path-like characters', () => {
      const keys = ['a/b', 'a:b', 'a_b', '..', '../../escape', '/abs/path', 'docker.io/library/nginx:latest', '', 'ä\u0000\ud800'];

      it('keeps every key separate', async () => {
        const { store } = await setup(makeStore);
        for (const [i, key] of keys.entries()) await store.put(key, item(bytes(key), i + 1));
        for (const [i, key] of keys.entries()) {
          const got = await store.get(key);
          expect(got?.version).toBe(i + 1);
          expect(Array.from(got?.value ?? [])).toStrictEqual(Array.from(bytes(key)));
        }
      });

      it('deletes only the named key', async () => {
        const { store } = await setup(makeStore);
        for (const key of keys) await store.put(key, item([1], 1));
        await store.delete('..');
        expect(await store.get('..')).toBeUndefined();
        expect((await store.get('../../escape'))?.version).toBe(1);
        expect((await store.get('a/b'))?.version).toBe(1);
      });
    });
  });
}
