// A delegation's version floor through `trustgate verify` against a hostile trust server
// holding only the snapshot and timestamp keys (as notary-server does): omitting a
// delegation from one snapshot must not make trustgate forget the version it trusted, so a
// later snapshot cannot bring back an old, revoked document of that delegation. A real
// removal (the parent stops delegating, which needs the parent's keys) still lets the role
// start afresh when it is added again. The floor survives a snapshot padded with made-up
// role names and a change of the role's keys by its parent; the top-level targets' floor
// survives a root rotation that removes one of the targets keys.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepository, fileMetaJson, generateKey, type BuiltRepository, type DelegationSpec, type RepositoryKeys, type TestKey } from '../support/notary-builder.js';
import { startHostileTrustServer, type HostileTrustServer } from './support/hostile-trust-server.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';

let hostile: HostileTrustServer;
let stateDirs: string[] = [];

beforeAll(async () => {
  hostile = await startHostileTrustServer();
});

afterAll(async () => {
  await hostile?.stop();
  await Promise.all(stateDirs.map((dir) => removeDir(dir)));
  stateDirs = [];
});

interface Manifest {
  readonly sha256Hex: string;
  readonly length: number;
}

function manifest(): Manifest {
  const bytes = randomBytes(100);
  return { sha256Hex: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
}

// One repository published in successive states under the same keys; `v1` is signed only
// in targets/releases.
async function repositoryStates(label: string): Promise<{
  gun: string;
  state: (options: { version: number; releases?: { version: number; target: Manifest }; edit?: (role: string, signed: Record<string, unknown>) => void }) => BuiltRepository;
  verify: () => Promise<TrustgateRun>;
}> {
  const gun = uniqueGun(label);
  const now = new Date();
  const releasesKey: TestKey = generateKey('ecdsa');
  let keys: RepositoryKeys | undefined;
  const stateDir = await makeTempDir(label);
  stateDirs.push(stateDir);
  return {
    gun,
    state: ({ version, releases, edit }) => {
      const delegations: DelegationSpec[] = releases === undefined ? [] : [{ name: 'targets/releases', keys: [releasesKey], version: releases.version, targets: { v1: releases.target } }];
      const built = buildRepository(gun, {
        now,
        ...(keys === undefined ? {} : { keys }),
        versions: { snapshot: version, timestamp: version, targets: version },
        delegations,
        ...(edit === undefined ? {} : { edit }),
      });
      keys = built.keys;
      return built;
    },
    verify: () => runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir }),
  };
}

describe('trustgate verify and a delegation left out of a snapshot', () => {
  describe('when a later snapshot brings back an older document of the delegation', () => {
    it('refuses with TRUST_ROLLBACK, and the role is unusable while unlisted', async () => {
      const repo = await repositoryStates('floor-omitted');
      const revoked = manifest();
      const current = manifest();
      const oldReleases = repo.state({ version: 1, releases: { version: 1, target: revoked } }).delegations.get('targets/releases') as Uint8Array;
      hostile.publish(repo.gun, repo.state({ version: 2, releases: { version: 2, target: current } }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });

      // Snapshot 3 (snapshot key only) no longer lists targets/releases; targets still delegates it.
      const omitted = repo.state({
        version: 3,
        releases: { version: 2, target: current },
        edit: (role, signed) => {
          if (role === 'snapshot') delete (signed['meta'] as Record<string, unknown>)['targets/releases'];
        },
      });
      hostile.publish(repo.gun, omitted.metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });

      // Snapshot 4 lists releases version 1 again: validly signed by the delegate, long ago.
      const replayed = repo.state({
        version: 4,
        releases: { version: 2, target: current },
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/releases'] = fileMetaJson(oldReleases);
        },
      });
      hostile.publish(repo.gun, new Map([...replayed.metadata, ['targets/releases', oldReleases]]));
      expect((await repo.verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_ROLLBACK'] });
    }, 60_000);
  });

  describe('when the parent stops delegating the role and later delegates it again', () => {
    it('keeps the removed role\'s floor once the role is delegated again: the role goes on above it', async () => {
      const repo = await repositoryStates('floor-removed');
      const first = manifest();
      const second = manifest();
      hostile.publish(repo.gun, repo.state({ version: 1, releases: { version: 5, target: first } }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${first.sha256Hex}` });

      // `notary delegation remove`: targets (its own key) drops the role, the snapshot with it.
      hostile.publish(repo.gun, repo.state({ version: 2 }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });

      // Delegated again from version 1: the stored targets no longer delegates the role, so
      // its row is not read back and the first run accepts; that run stores the targets that
      // delegates it again, and from then on the role's kept row (version 5) is its floor.
      hostile.publish(repo.gun, repo.state({ version: 3, releases: { version: 1, target: second } }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${second.sha256Hex}` });
      expect((await repo.verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_ROLLBACK'] });

      hostile.publish(repo.gun, repo.state({ version: 4, releases: { version: 6, target: second } }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${second.sha256Hex}` });
    }, 60_000);
  });

  describe('when a snapshot lists 256 made-up delegations before the real one', () => {
    it('still refuses a later older document of the real delegation with TRUST_ROLLBACK', async () => {
      const repo = await repositoryStates('floor-padded');
      const revoked = manifest();
      const current = manifest();
      const oldReleases = repo.state({ version: 1, releases: { version: 1, target: revoked } }).delegations.get('targets/releases') as Uint8Array;
      hostile.publish(repo.gun, repo.state({ version: 2, releases: { version: 2, target: current } }).metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });

      // Snapshot 3 (snapshot key only) still lists releases version 2, plus 256 names that
      // sort before it and that no role delegates.
      const filler = fileMetaJson(new Uint8Array([1]));
      const padded = repo.state({
        version: 3,
        releases: { version: 2, target: current },
        edit: (role, signed) => {
          if (role !== 'snapshot') return;
          const meta = signed['meta'] as Record<string, unknown>;
          for (let i = 0; i < 256; i += 1) meta[`targets/a${String(i).padStart(3, '0')}`] = filler;
        },
      });
      hostile.publish(repo.gun, padded.metadata);
      expect((await repo.verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });

      const replayed = repo.state({
        version: 4,
        releases: { version: 2, target: current },
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/releases'] = fileMetaJson(oldReleases);
        },
      });
      hostile.publish(repo.gun, new Map([...replayed.metadata, ['targets/releases', oldReleases]]));
      expect((await repo.verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_ROLLBACK'] });
    }, 60_000);
  });

  describe('when the parent removes one of the role keys', () => {
    it('refuses an older document the remaining key signed with TRUST_ROLLBACK', async () => {
      const gun = uniqueGun('floor-keys');
      const now = new Date();
      const alice: TestKey = generateKey('ecdsa');
      const bob: TestKey = generateKey('ecdsa');
      let keys: RepositoryKeys | undefined;
      const stateDir = await makeTempDir('floor-keys');
      stateDirs.push(stateDir);
      const state = (version: number, roleKeys: TestKey[], signer: TestKey, releases: { version: number; target: Manifest }, edit?: (role: string, signed: Record<string, unknown>) => void): BuiltRepository => {
        const built = buildRepository(gun, {
          now,
          ...(keys === undefined ? {} : { keys }),
          versions: { snapshot: version, timestamp: version, targets: version },
          delegations: [{ name: 'targets/releases', keys: roleKeys, version: releases.version, targets: { v1: releases.target } }],
          signers: { 'targets/releases': [signer] },
          ...(edit === undefined ? {} : { edit }),
        });
        keys = built.keys;
        return built;
      };
      const verify = (): Promise<TrustgateRun> => runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir });
      const revoked = manifest();
      const current = manifest();
      // Long ago bob signed version 1 (since revoked); alice signed version 2.
      const oldReleases = state(1, [alice, bob], bob, { version: 1, target: revoked }).delegations.get('targets/releases') as Uint8Array;
      hostile.publish(gun, state(2, [alice, bob], alice, { version: 2, target: current }).metadata);
      expect((await verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });

      // The owner drops alice's key from the role (targets version 3, the owner's key): the
      // stored version 2 no longer verifies under the role's keys, and the server pairs the
      // new targets with bob's version 1.
      const replayed = state(3, [bob], bob, { version: 3, target: current }, (role, signed) => {
        if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/releases'] = fileMetaJson(oldReleases);
      });
      hostile.publish(gun, new Map([...replayed.metadata, ['targets/releases', oldReleases]]));
      expect((await verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_ROLLBACK'] });

      // The role's real next version, signed by bob, is accepted.
      hostile.publish(gun, state(4, [bob], bob, { version: 3, target: current }).metadata);
      expect((await verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });
    }, 60_000);
  });

  describe('when targets delegates more roles than the store reads back', () => {
    it('keeps verifying the tags of targets/releases delegated after all of them', async () => {
      const gun = uniqueGun('floor-many');
      const now = new Date();
      const shared: TestKey = generateKey('ecdsa');
      const stateDir = await makeTempDir('floor-many');
      stateDirs.push(stateDir);
      const released = manifest();
      // targets/releases is delegated last, after 300 other roles.
      const others = Array.from({ length: 300 }, (_, i): DelegationSpec => ({ name: `targets/r${String(i).padStart(3, '0')}`, keys: [shared] }));
      const built = buildRepository(gun, {
        now,
        delegations: [...others, { name: 'targets/releases', keys: [shared], targets: { v1: released } }],
      });
      hostile.publish(gun, built.metadata);
      const verify = (): Promise<TrustgateRun> => runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir });
      expect((await verify()).json).toMatchObject({ allowed: true, digest: `sha256:${released.sha256Hex}` });
      // The next run starts from the stored state, of which the store reads back only part.
      expect((await verify()).json).toMatchObject({ allowed: true, digest: `sha256:${released.sha256Hex}` });
    }, 60_000);
  });
});

describe('trustgate verify and a root rotation that removes one of the targets keys', () => {
  it('refuses an older targets the remaining key signed with TRUST_ROLLBACK', async () => {
    const gun = uniqueGun('floor-root');
    const now = new Date();
    const alice: TestKey = generateKey('ecdsa');
    const bob: TestKey = generateKey('ecdsa');
    const stateDir = await makeTempDir('floor-root');
    stateDirs.push(stateDir);
    const revoked = manifest();
    const current = manifest();
    // Long ago bob signed targets version 1 (since revoked); alice signed version 2.
    const first = buildRepository(gun, { now, keys: { targets: [alice, bob] }, signers: { targets: [bob] }, targets: { v1: revoked } });
    const second = buildRepository(gun, {
      now,
      keys: first.keys,
      versions: { timestamp: 2, snapshot: 2, targets: 2 },
      signers: { targets: [alice] },
      targets: { v1: current },
    });
    hostile.publish(gun, second.metadata);
    const verify = (): Promise<TrustgateRun> => runTrustgateVerify({ image: `${gun}:v1`, trustServer: hostile.url, stateDir });
    expect((await verify()).json).toMatchObject({ allowed: true, digest: `sha256:${current.sha256Hex}` });

    // Root version 2 (same root key) lists only bob's targets key; the server pairs it with
    // bob's targets version 1.
    const rotated = buildRepository(gun, {
      now,
      keys: { ...first.keys, targets: [bob] },
      versions: { root: 2, timestamp: 3, snapshot: 3 },
      targets: { v1: revoked },
      edit: (role, signed) => {
        if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets'] = fileMetaJson(first.targets);
      },
    });
    hostile.publish(gun, new Map([...rotated.metadata, ['targets', first.targets]]));
    expect((await verify()).json).toMatchObject({ allowed: false, codes: ['TRUST_ROLLBACK'] });
  }, 60_000);
});
