import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { createVerifiedImageMemo, type MemoisedAnswer } from '../../../../shared/trust/notary/verified-image-memo.js';
import { createVerifiedRepositoryMemo, type MemoEntry } from '../../../../shared/trust/notary/verified-repository-memo.js';
import type { VerifiedRepository } from '../../../../shared/trust/notary/update.js';
import type { NotaryRequirement } from '../../../../shared/trust/verifier.js';

const KEY = 'repository key';
const FRESHNESS_MS = 1_000;
const requirement = (): NotaryRequirement => ({ kind: 'notary', signers: [], rootKeyIds: [] });
// The memo never looks into the repository: only the entry's identity and times matter (and
// its size, for the repository memo's byte bound).
const entry = (checkedAt: number): MemoEntry => ({ repository: { heldBytes: () => 1 } as unknown as VerifiedRepository, checkedAt, validFrom: 0, validUntil: 10_000 });

function setup(): { readonly repositories: ReturnType<typeof createVerifiedRepositoryMemo>; readonly memo: ReturnType<typeof createVerifiedImageMemo>; readonly kept: MemoisedAnswer } {
  const repositories = createVerifiedRepositoryMemo();
  const current = entry(100);
  repositories.set(KEY, current);
  const kept: MemoisedAnswer = { memoKey: KEY, entry: current, answer: { digest: `sha256:${'a'.repeat(64)}`, signers: ['targets'] }, validFrom: 50, validUntil: 900 };
  return { repositories, memo: createVerifiedImageMemo(repositories), kept };
}

describe('createVerifiedImageMemo', () => {
  it('gives the kept answer again for the same requirement and image while it holds', () => {
    const { memo, kept } = setup();
    const need = requirement();
    const image = parseImageReference('registry.example.com/team/app:v1');
    memo.remember(need, image, kept);
    expect(memo.answer(need, image, 500, FRESHNESS_MS)).toBe(kept.answer);
  });

  it('gives nothing for another requirement object, even an equal one, or another image', () => {
    const { memo, kept } = setup();
    const need = requirement();
    const image = parseImageReference('registry.example.com/team/app:v1');
    memo.remember(need, image, kept);
    expect(memo.answer(requirement(), image, 500, FRESHNESS_MS)).toBeUndefined();
    expect(memo.answer(need, parseImageReference('registry.example.com/team/app:v2'), 500, FRESHNESS_MS)).toBeUndefined();
  });

  it('gives nothing outside the range the answer holds in', () => {
    const { memo, kept } = setup();
    const need = requirement();
    const image = parseImageReference('registry.example.com/team/app:v1');
    memo.remember(need, image, kept);
    expect(memo.answer(need, image, 49, FRESHNESS_MS)).toBeUndefined();
    expect(memo.answer(need, image, 899, FRESHNESS_MS)).toBe(kept.answer);
    expect(memo.answer(need, image, 900, FRESHNESS_MS)).toBeUndefined();
  });

  it('gives nothing once the entry is older than the freshness window, or from before it was confirmed', () => {
    const { memo, kept } = setup();
    const need = requirement();
    const image = parseImageReference('registry.example.com/team/app:v1');
    memo.remember(need, image, { ...kept, validUntil: 5_000 });
    expect(memo.answer(need, image, 1_099, FRESHNESS_MS)).toBe(kept.answer);
    expect(memo.answer(need, image, 1_100, FRESHNESS_MS)).toBeUndefined();
    expect(memo.answer(need, image, 99, FRESHNESS_MS)).toBeUndefined();
  });

  it('gives nothing once the entry it came from was replaced or dropped', () => {
    const { repositories, memo, kept } = setup();
    const need = requirement();
    const image = parseImageReference('registry.example.com/team/app:v1');
    memo.remember(need, image, kept);
    repositories.set(KEY, entry(200));
    expect(memo.answer(need, image, 500, FRESHNESS_MS)).toBeUndefined();
    repositories.set(KEY, kept.entry);
    expect(memo.answer(need, image, 500, FRESHNESS_MS)).toBe(kept.answer);
    repositories.delete(KEY);
    expect(memo.answer(need, image, 500, FRESHNESS_MS)).toBeUndefined();
  });
});
