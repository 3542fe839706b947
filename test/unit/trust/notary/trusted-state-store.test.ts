import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore, isAuthenticationFailure } from '../../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode } from '../../../../shared/errors.js';
import { createTrustedStateStore, trustedStateKey } from '../../../../shared/trust/notary/trusted-state-store.js';
import { DEFAULT_NOW, buildRepository, generateKey } from '../../../support/notary-builder.js';
import { fixedClock } from '../../../support/clocks.js';

// The builder's metadata expires relative to DEFAULT_NOW: the store judges expiry at that time.
const clock = fixedClock(DEFAULT_NOW);

const SERVER = 'https://notary.example.com';
const GUN = 'registry.example.com/team/app';

// A repository with one delegation, and the metadata a client would have trusted from it.
function trusted(versions: { targets?: number; timestamp?: number } = {}) {
  const repo = buildRepository(GUN, { versions, delegations: [{ name: 'targets/releases', targets: { v1: randomBytes(10) } }] });
  return {
    repo,
    metadata: { root: repo.root, timestamp: repo.timestamp, snapshot: repo.snapshot, targets: repo.targets, delegations: new Map(repo.delegations) },
  };
}

describe('createTrustedStateStore', () => {
  describe('when metadata was saved', () => {
    it('reads back every role, delegations included, and the check time', async () => {
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      const { metadata } = trusted();
      await store.save(SERVER, GUN, metadata, 1_000);
      expect(await store.load(SERVER, GUN)).toEqual({ metadata, checkedAt: 1_000 });
    });

    it('keeps each (server, GUN) apart', async () => {
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      await store.save(SERVER, GUN, trusted().metadata, 1_000);
      expect(await store.load('https://other.example.com', GUN)).toBeUndefined();
      expect(await store.load(SERVER, `${GUN}/x`)).toBeUndefined();
    });
  });

  describe('when the metadata carries the facts its verification decoded', () => {
    it('takes each listed document\'s version from them and parses only the others', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(kv);
      const { metadata } = trusted({ targets: 1 });
      const facts = new Map([[metadata.targets, { version: 7, expires: DEFAULT_NOW.getTime() + 60_000 }]]);
      await store.save(SERVER, GUN, { ...metadata, facts }, 1_000);
      expect((await kv.get(trustedStateKey(SERVER, GUN, { kind: 'meta', role: 'targets' })))?.version).toBe(7);
      expect((await kv.get(trustedStateKey(SERVER, GUN, { kind: 'meta', role: 'timestamp' })))?.version).toBe(1);
    });
  });

  describe('when a slower writer saves an older state afterwards', () => {
    it('keeps the newer versions and the later check time', async () => {
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      const older = trusted({ targets: 1, timestamp: 1 });
      const newer = buildRepository(GUN, { keys: older.repo.keys, versions: { targets: 2, timestamp: 2, snapshot: 2 } });
      await store.save(SERVER, GUN, { root: newer.root, timestamp: newer.timestamp, snapshot: newer.snapshot, targets: newer.targets, delegations: new Map() }, 2_000);
      await store.save(SERVER, GUN, older.metadata, 1_000);
      const loaded = await store.load(SERVER, GUN);
      expect(loaded?.checkedAt).toBe(2_000);
      expect(loaded?.metadata.targets).toStrictEqual(newer.targets);
      expect(loaded?.metadata.timestamp).toStrictEqual(newer.timestamp);
    });
  });

  describe('when the store authenticates entries', () => {
    it('refuses a planted root with an authentication failure', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(createAuthenticatedStore(kv, randomBytes(32)));
      await store.save(SERVER, GUN, trusted().metadata, 1_000);
      const planted = buildRepository(GUN);
      await kv.put(trustedStateKey(SERVER, GUN, { kind: 'root' }), { value: planted.root, version: 99 });
      const error = await store.load(SERVER, GUN).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      expect(isAuthenticationFailure(error)).toBe(true);
    });

    it('drops a planted targets entry and keeps the rest', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(createAuthenticatedStore(kv, randomBytes(32)));
      const { metadata } = trusted();
      await store.save(SERVER, GUN, metadata, 1_000);
      await kv.put(trustedStateKey(SERVER, GUN, { kind: 'meta', role: 'targets' }), { value: buildRepository(GUN).targets, version: 99 });
      const loaded = await store.load(SERVER, GUN);
      expect(loaded?.metadata.targets).toBeUndefined();
      expect(loaded?.metadata.root).toStrictEqual(metadata.root);
    });
  });

  describe('when an older authenticated row is put back next to the current check row', () => {
    // The attacker's capability: read rows and write them back later, without the state key.
    async function replayed(role: 'timestamp' | 'snapshot' | 'targets' | 'targets/releases') {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(createAuthenticatedStore(kv, randomBytes(32)));
      const older = trusted({ targets: 1, timestamp: 1 });
      await store.save(SERVER, GUN, older.metadata, 1_000);
      const key = trustedStateKey(SERVER, GUN, { kind: 'meta', role });
      const captured = await kv.get(key);
      const newer = buildRepository(GUN, {
        keys: older.repo.keys,
        versions: { targets: 2, timestamp: 2, snapshot: 2 },
        delegations: [{ name: 'targets/releases', targets: { v1: randomBytes(10) } }],
      });
      await store.save(SERVER, GUN, { root: newer.root, timestamp: newer.timestamp, snapshot: newer.snapshot, targets: newer.targets, delegations: new Map(newer.delegations) }, 2_000);
      if (captured === undefined) throw new Error(`no ${role} row was stored`);
      await kv.put(key, captured);
      return store.load(SERVER, GUN);
    }

    it.each(['timestamp', 'snapshot', 'targets', 'targets/releases'] as const)('reports no check time when %s is replayed', async (role) => {
      const loaded = await replayed(role);
      expect(loaded?.metadata.root).toBeDefined();
      expect(loaded?.checkedAt).toBeUndefined();
    });

    it('reports the check time when every row is the one it confirmed', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(createAuthenticatedStore(kv, randomBytes(32)));
      await store.save(SERVER, GUN, trusted().metadata, 1_000);
      expect((await store.load(SERVER, GUN))?.checkedAt).toBe(1_000);
    });
  });

  describe('when the stored snapshot does not list a delegation the stored targets delegates', () => {
    it('reads its row back all the same, and the rows of the roles it delegates', async () => {
      const repo = buildRepository(GUN, {
        delegations: [{ name: 'targets/releases' }, { name: 'targets/releases/team', parent: 'targets/releases' }],
        edit: (role, signed) => {
          if (role === 'snapshot') {
            const meta = signed['meta'] as Record<string, unknown>;
            delete meta['targets/releases'];
            delete meta['targets/releases/team'];
          }
        },
      });
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      const metadata = { root: repo.root, timestamp: repo.timestamp, snapshot: repo.snapshot, targets: repo.targets, delegations: new Map(repo.delegations) };
      await store.save(SERVER, GUN, metadata, 1_000);
      expect((await store.load(SERVER, GUN))?.metadata.delegations).toEqual(repo.delegations);
    });

    it('reports no check time when an older row of it is put back', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(createAuthenticatedStore(kv, randomBytes(32)));
      const unlisting = (role: string, signed: Record<string, unknown>) => {
        if (role === 'snapshot') delete (signed['meta'] as Record<string, unknown>)['targets/releases'];
      };
      const older = buildRepository(GUN, { delegations: [{ name: 'targets/releases', version: 1 }], edit: unlisting });
      // The root is unchanged between the two saves (same bytes, as notary-server serves it).
      const save = (repo: typeof older, at: number) =>
        store.save(SERVER, GUN, { root: older.root, timestamp: repo.timestamp, snapshot: repo.snapshot, targets: repo.targets, delegations: new Map(repo.delegations) }, at);
      await save(older, 1_000);
      const key = trustedStateKey(SERVER, GUN, { kind: 'meta', role: 'targets/releases' });
      const captured = await kv.get(key);
      const releasesKeys = older.keys.delegations.get('targets/releases') ?? [];
      const newer = buildRepository(GUN, {
        keys: older.keys,
        versions: { timestamp: 2, snapshot: 2, targets: 2 },
        delegations: [{ name: 'targets/releases', keys: releasesKeys, version: 2 }],
        edit: unlisting,
      });
      await save(newer, 2_000);
      expect((await store.load(SERVER, GUN))?.checkedAt).toBe(2_000);
      if (captured === undefined) throw new Error('no targets/releases row was stored');
      await kv.put(key, captured);
      const loaded = await store.load(SERVER, GUN);
      expect(loaded?.metadata.delegations.get('targets/releases')).toEqual(older.delegations.get('targets/releases'));
      expect(loaded?.checkedAt).toBeUndefined();
    });
  });

  describe('when the stored snapshot lists a role no stored parent delegates', () => {
    it('does not read its row back', async () => {
      const repo = buildRepository(GUN, {
        delegations: [{ name: 'targets/releases' }],
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/made-up'] = (signed['meta'] as Record<string, unknown>)['targets/releases'];
        },
      });
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      const releases = repo.delegations.get('targets/releases') ?? new Uint8Array();
      const delegations = new Map([['targets/releases', releases], ['targets/made-up', releases]]);
      await store.save(SERVER, GUN, { root: repo.root, timestamp: repo.timestamp, snapshot: repo.snapshot, targets: repo.targets, delegations }, 1_000);
      const loaded = await store.load(SERVER, GUN);
      expect([...(loaded?.metadata.delegations.keys() ?? [])]).toEqual(['targets/releases']);
      expect(loaded?.metadata.floorsKnownOnlyFor).toBeUndefined();
    });
  });

  describe('when stored parents delegate more roles than it reads back', () => {
    it('reads the first 256 and names them as the only roles whose floor is known', async () => {
      const shared = generateKey('ecdsa');
      const names = Array.from({ length: 300 }, (_, i) => `targets/r${String(i).padStart(3, '0')}`);
      const repo = buildRepository(GUN, { delegations: names.map((name) => ({ name, keys: [shared] })) });
      const first = names[0] ?? '';
      const last = names[299] ?? '';
      const delegations = new Map([first, last].map((name) => [name, repo.delegations.get(name) ?? new Uint8Array()]));
      const store = createTrustedStateStore(createMemoryStore({ clock }));
      await store.save(SERVER, GUN, { root: repo.root, timestamp: repo.timestamp, snapshot: repo.snapshot, targets: repo.targets, delegations }, 1_000);
      const loaded = await store.load(SERVER, GUN);
      expect([...(loaded?.metadata.delegations.keys() ?? [])]).toEqual([first]);
      expect(loaded?.metadata.floorsKnownOnlyFor?.size).toBe(256);
      expect(loaded?.metadata.floorsKnownOnlyFor?.has(first)).toBe(true);
      expect(loaded?.metadata.floorsKnownOnlyFor?.has(last)).toBe(false);
    });
  });

  describe('when the check row names no documents (written by an earlier version)', () => {
    it('reports no check time', async () => {
      const kv = createMemoryStore({ clock });
      const store = createTrustedStateStore(kv);
      await store.save(SERVER, GUN, trusted().metadata, 1_000);
      await kv.put(trustedStateKey(SERVER, GUN, { kind: 'checked' }), { value: new Uint8Array(0), version: 3_000 });
      expect((await store.load(SERVER, GUN))?.checkedAt).toBeUndefined();
    });
  });
});
