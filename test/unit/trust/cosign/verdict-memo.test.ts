// The kept cosign verdicts: given again only for the same material object, the same
// requirement content and, when the check used it, the same trusted root in force.
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { emptyMaterial } from '../../../../shared/trust/cosign/signature-material.js';
import { createCosignVerdictMemo } from '../../../../shared/trust/cosign/verdict-memo.js';
import type { CosignRequirement } from '../../../../shared/trust/verifier.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE = parseImageReference(`registry.example.com/app@${DIGEST}`);
const ANSWER = { digest: DIGEST, signers: ['cosign:ci'] };

function keyless(overrides: Partial<{ issuer: string; subject: string; tlog: 'auto' | 'required'; threshold: number; trustedRoot: Record<string, unknown> }> = {}): CosignRequirement {
  const { issuer = 'https://token.actions.githubusercontent.com', subject = 'https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main', tlog = 'auto', threshold = 1, trustedRoot } = overrides;
  return {
    kind: 'cosign',
    authorities: [{ name: 'ci', identities: [{ issuer, subject }], ...(trustedRoot === undefined ? {} : { trustedRoot }) }],
    threshold,
    tlog,
  };
}

describe('createCosignVerdictMemo', () => {
  it('answers the same material under an equal requirement (another object of the same content)', () => {
    const memo = createCosignVerdictMemo();
    const material = emptyMaterial(IMAGE, DIGEST);
    const root = { mediaType: 'root-1' };
    memo.remember(material, keyless(), root, ANSWER);
    expect(memo.answer(material, keyless(), root)).toBe(ANSWER);
  });

  it('misses under another issuer, subject, threshold, log mode or private trusted root', () => {
    const memo = createCosignVerdictMemo();
    const material = emptyMaterial(IMAGE, DIGEST);
    const root = { mediaType: 'root-1' };
    memo.remember(material, keyless(), root, ANSWER);
    for (const changed of [keyless({ issuer: 'https://accounts.google.com' }), keyless({ subject: 'someone@example.com' }), keyless({ threshold: 2 }), keyless({ tlog: 'required' }), keyless({ trustedRoot: { mediaType: 'private' } })]) {
      expect(memo.answer(material, changed, root)).toBeUndefined();
    }
  });

  it('misses once another trusted root is in force, or none is known', () => {
    const memo = createCosignVerdictMemo();
    const material = emptyMaterial(IMAGE, DIGEST);
    memo.remember(material, keyless(), { mediaType: 'root-1' }, ANSWER);
    expect(memo.answer(material, keyless(), { mediaType: 'root-2' })).toBeUndefined();
    expect(memo.answer(material, keyless(), undefined)).toBeUndefined();
  });

  it('misses for other material of the same digest (a new reading)', () => {
    const memo = createCosignVerdictMemo();
    const root = { mediaType: 'root-1' };
    memo.remember(emptyMaterial(IMAGE, DIGEST), keyless(), root, ANSWER);
    expect(memo.answer(emptyMaterial(IMAGE, DIGEST), keyless(), root)).toBeUndefined();
  });

  it('keeps no stale answer', () => {
    const memo = createCosignVerdictMemo();
    const material = emptyMaterial(IMAGE, DIGEST);
    memo.remember(material, keyless(), undefined, { ...ANSWER, stale: true });
    expect(memo.answer(material, keyless(), undefined)).toBeUndefined();
  });
});
