// What a cosign threshold counts: distinct signers, each for at most one authority, found by a
// maximum bipartite matching; a signer is every label its signatures share.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSignerTally, identityLabel, keyLabel, maximumMatching, type SignerEdge } from '../../../../shared/trust/cosign/signer-matching.js';

const ISSUER = 'https://token.actions.example.com';
const RELEASE = identityLabel(ISSUER, 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main');
const CI = identityLabel(ISSUER, 'https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main');

// The edges of one keyless signature by `identity` (with its own ephemeral `key`) satisfying `authorities`.
const keylessSignature = (identity: string, key: string, ...authorities: number[]): SignerEdge[] =>
  authorities.map((authority) => ({ authority, labels: [keyLabel(key), identity], detail: ` (${identity})` }));
const keySignature = (key: string, ...authorities: number[]): SignerEdge[] => authorities.map((authority) => ({ authority, labels: [keyLabel(key)], detail: '' }));

describe('maximumMatching', () => {
  it('gives each authority its own signer when the choices allow it', () => {
    expect(maximumMatching([['a', 'b'], ['a']])).toEqual(['b', 'a']);
  });

  it('gives one signer to one authority only, however many it could serve', () => {
    expect(maximumMatching([['a'], ['a'], ['a']])).toEqual(['a', undefined, undefined]);
  });

  it('moves an earlier assignment along an augmenting path', () => {
    // Greedy would give 'a' to the first and 'b' to the second, leaving the third without.
    expect(maximumMatching([['a', 'b'], ['b', 'c'], ['a']])).toEqual(['b', 'c', 'a']);
  });

  it('answers nothing for authorities without a signer', () => {
    expect(maximumMatching<string>([[], ['a'], []])).toEqual([undefined, 'a', undefined]);
  });

  it('is as large as the best assignment found by trying every one (small graphs)', () => {
    const graph = fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }), { maxLength: 5 });
    fc.assert(
      fc.property(graph, (adjacency) => {
        const assigned = maximumMatching(adjacency);
        const used = assigned.filter((signer) => signer !== undefined);
        expect(new Set(used).size).toBe(used.length);
        assigned.forEach((signer, authority) => {
          if (signer !== undefined) expect(adjacency[authority]).toContain(signer);
        });
        expect(used.length).toBe(bestByExhaustion(adjacency));
      }),
    );
  });
});

// The largest assignment, by trying every choice for each authority in turn.
function bestByExhaustion(adjacency: readonly (readonly number[])[], authority = 0, taken: ReadonlySet<number> = new Set()): number {
  if (authority >= adjacency.length) return 0;
  let best = bestByExhaustion(adjacency, authority + 1, taken);
  for (const signer of adjacency[authority] ?? []) {
    if (!taken.has(signer)) best = Math.max(best, 1 + bestByExhaustion(adjacency, authority + 1, new Set([...taken, signer])));
  }
  return best;
}

describe('createSignerTally', () => {
  describe('when one keyless signature satisfies two overlapping authorities', () => {
    it('counts one signer, for the first authority, and says the second shares it', () => {
      const tally = createSignerTally(2);
      tally.add(keylessSignature(RELEASE, 'e1', 0, 1));
      expect(tally.assignedCount()).toBe(1);
      expect(tally.outcomes()).toEqual([{ kind: 'assigned', detail: ` (${RELEASE})` }, { kind: 'shared', with: 0 }]);
    });
  });

  describe('when the same identity signs twice (two certificates, two ephemeral keys)', () => {
    it('still counts one signer', () => {
      const tally = createSignerTally(2);
      tally.add(keylessSignature(RELEASE, 'e1', 0, 1));
      tally.add(keylessSignature(RELEASE, 'e2', 0, 1));
      expect(tally.assignedCount()).toBe(1);
    });
  });

  describe('when two identities each satisfy both overlapping authorities', () => {
    it('counts two signers, one for each authority', () => {
      const tally = createSignerTally(2);
      tally.add(keylessSignature(RELEASE, 'e1', 0, 1));
      tally.add(keylessSignature(CI, 'e2', 0, 1));
      expect(tally.outcomes()).toEqual([{ kind: 'assigned', detail: ` (${RELEASE})` }, { kind: 'assigned', detail: ` (${CI})` }]);
    });
  });

  describe('when the first signer could serve either authority and the second only the first', () => {
    it('reassigns the first signer so both authorities count', () => {
      const tally = createSignerTally(2);
      tally.add(keylessSignature(RELEASE, 'e1', 0, 1));
      tally.add(keylessSignature(CI, 'e2', 0));
      expect(tally.outcomes()).toEqual([{ kind: 'assigned', detail: ` (${CI})` }, { kind: 'assigned', detail: ` (${RELEASE})` }]);
    });
  });

  describe('when one key is named by two authorities', () => {
    it('counts the key once', () => {
      const tally = createSignerTally(2);
      tally.add(keySignature('k1', 0, 1));
      tally.add(keySignature('k1', 0, 1));
      expect(tally.assignedCount()).toBe(1);
    });
  });

  describe('when one signature verifies with a key and through a certificate for that key', () => {
    it('counts one signer, and joins later signatures by either label to it', () => {
      const tally = createSignerTally(3);
      tally.add([...keySignature('k1', 0), ...keylessSignature(RELEASE, 'k1', 1)]);
      expect(tally.assignedCount()).toBe(1);
      // Another signature by the same identity (a new ephemeral key) is the same signer.
      tally.add(keylessSignature(RELEASE, 'e2', 2));
      expect(tally.assignedCount()).toBe(1);
      tally.add(keySignature('k2', 2));
      expect(tally.assignedCount()).toBe(2);
    });
  });

  describe('when two keys each satisfy their own authority', () => {
    it('counts both', () => {
      const tally = createSignerTally(2);
      tally.add(keySignature('k1', 0));
      tally.add(keySignature('k2', 1));
      expect(tally.assignedCount()).toBe(2);
    });
  });

  it('reports an authority no signature satisfied as unsatisfied', () => {
    const tally = createSignerTally(2);
    tally.add(keySignature('k1', 0));
    expect(tally.outcomes()).toEqual([{ kind: 'assigned', detail: '' }, { kind: 'unsatisfied' }]);
  });
});
