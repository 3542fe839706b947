import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore, decodeStateKey } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode } from '../../../shared/errors.js';
import { fixedClock } from '../../support/clocks.js';

const clock = fixedClock(new Date('2030-01-01T00:00:00Z'));

const value = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('createAuthenticatedStore', () => {
  describe('when an entry is read back under the same key', () => {
    it('returns the value without its MAC', async () => {
      const inner = createMemoryStore({ clock });
      const store = createAuthenticatedStore(inner, randomBytes(32));
      await store.put('k', { value: value('root'), version: 2 });
      expect(new TextDecoder().decode((await store.get('k'))?.value)).toBe('root');
      expect((await inner.get('k'))?.value.length).toBe(32 + 4);
    });
  });

  describe('when an entry is written straight into the backend', () => {
    it('rejects with STATE_STORE_FAILED', async () => {
      const inner = createMemoryStore({ clock });
      const store = createAuthenticatedStore(inner, randomBytes(32));
      await inner.put('k', { value: new Uint8Array(64), version: 1 });
      await expect(store.get('k')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });

  describe('when an authentic entry is tampered with', () => {
    // Each tamper returns the key to read back.
    const cases: ReadonlyArray<[string, (inner: ReturnType<typeof createMemoryStore>) => Promise<string>]> = [
      ['moved under another key', async (inner) => (await inner.put('other', (await inner.get('k'))!), 'other')],
      ['given a higher version', async (inner) => (await inner.put('k', { ...(await inner.get('k'))!, version: 9 }), 'k')],
      ['given a later expiry', async (inner) => (await inner.put('k', { ...(await inner.get('k'))!, expiresAt: clock.now().getTime() + 1e9 }), 'k')],
      ['with one value byte flipped', async (inner) => {
        const item = (await inner.get('k'))!;
        const flipped = Uint8Array.from(item.value);
        flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
        await inner.put('k', { ...item, value: flipped });
        return 'k';
      }],
      ['cut shorter than a MAC', async (inner) => (await inner.put('k', { value: new Uint8Array(5), version: 1 }), 'k')],
    ];
    for (const [label, tamper] of cases) {
      it(`refuses the entry ${label}`, async () => {
        const inner = createMemoryStore({ clock });
        const store = createAuthenticatedStore(inner, randomBytes(32));
        await store.put('k', { value: value('root'), version: 1 });
        const key = await tamper(inner);
        await expect(store.get(key)).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      });
    }
  });

  describe('when entries were written under another key', () => {
    it('rejects with STATE_STORE_FAILED', async () => {
      const inner = createMemoryStore({ clock });
      await createAuthenticatedStore(inner, randomBytes(32)).put('k', { value: value('root'), version: 1 });
      await expect(createAuthenticatedStore(inner, randomBytes(32)).get('k')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });

  describe('when the secret is shorter than 32 bytes', () => {
    it('throws CONFIG_INVALID', () => {
      expect(() => createAuthenticatedStore(createMemoryStore({ clock }), randomBytes(16))).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
    });
  });
});

describe('decodeStateKey', () => {
  describe('when the key is hex or base64 of 32 bytes', () => {
    it('decodes both forms to the same bytes', () => {
      const bytes = randomBytes(32);
      expect(Buffer.from(decodeStateKey(bytes.toString('hex')))).toStrictEqual(bytes);
      expect(Buffer.from(decodeStateKey(bytes.toString('base64')))).toStrictEqual(bytes);
    });
  });

  describe('when the key is short or not an encoding', () => {
    for (const text of ['', 'abcd', randomBytes(16).toString('hex'), 'not a key!'.repeat(10)]) {
      it(`throws CONFIG_INVALID for ${JSON.stringify(text.slice(0, 20))}`, () => {
        expect(() => decodeStateKey(text)).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
      });
    }
  });
});
