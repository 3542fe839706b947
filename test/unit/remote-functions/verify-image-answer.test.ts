// Decoding a deployed function's verify-image answer: only the contract, about the image
// asked, self-consistent; anything else is TRUST_SERVER_UNAVAILABLE.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectContaining } from '../../support/matchers.js';
import { decodeVerifyImageAnswer } from '../../../infra/remote-functions/verify-image-answer.js';
import { isTrustgateError } from '../../../shared/errors.js';

const IMAGE = 'registry.example.com/team/app:v1';
const DIGEST = `sha256:${'ef'.repeat(32)}`;
const ALLOW = { allowed: true, image: IMAGE, digest: DIGEST, reasons: [], codes: [], signers: ['targets'] };
const unavailable = objectContaining({ code: 'TRUST_SERVER_UNAVAILABLE' });

describe('decodeVerifyImageAnswer', () => {
  describe('when an allow carries failures of policies in warn or audit mode', () => {
    it('keeps them', () => {
      const wouldDeny = [{ mode: 'warn', code: 'TRUST_NO_SIGNED_TARGET', reason: `${IMAGE}: unsigned` }];
      expect(decodeVerifyImageAnswer({ ...ALLOW, wouldDeny }, IMAGE).wouldDeny).toEqual(wouldDeny);
    });

    it.each([
      [[{ mode: 'enforce', code: 'TRUST_NO_SIGNED_TARGET', reason: 'x' }]],
      [[{ mode: 'warn', code: 'NOT_A_CODE', reason: 'x' }]],
      [[{ mode: 'warn', code: 'TRUST_NO_SIGNED_TARGET', reason: 'x', extra: 1 }]],
      [Array.from({ length: 65 }, () => ({ mode: 'audit', code: 'TRUST_NO_SIGNED_TARGET', reason: 'x' }))],
    ])('refuses a malformed list with TRUST_SERVER_UNAVAILABLE (%#)', (wouldDeny) => {
      expect(() => decodeVerifyImageAnswer({ ...ALLOW, wouldDeny }, IMAGE)).toThrow(unavailable);
    });
  });

  describe('when the answer is a well-formed allow for the image', () => {
    it('returns it, normalising the requested name for the comparison', () => {
      expect(decodeVerifyImageAnswer({ ...ALLOW, image: 'docker.io/library/nginx:latest' }, 'nginx')).toMatchObject({ allowed: true, digest: DIGEST });
    });

    it('keeps verifiedBy naming every signature kind, simple signing included', () => {
      expect(decodeVerifyImageAnswer({ ...ALLOW, verifiedBy: ['notary', 'cosign', 'simple'] }, IMAGE)).toMatchObject({ verifiedBy: ['notary', 'cosign', 'simple'] });
    });

    it('keeps the policy source and mutateImage', () => {
      const policy = { kind: 'ImagePolicy', name: 'p', namespace: 'team-a', pattern: 'registry.example.com/*' };
      expect(decodeVerifyImageAnswer({ ...ALLOW, policy, mutateImage: false, stale: true }, IMAGE)).toEqual({ ...ALLOW, policy, mutateImage: false, stale: true });
    });
  });

  describe.each<[string, unknown, string?]>([
    ['the answer is about another image', { ...ALLOW, image: 'registry.example.com/team/other:v1' }],
    ['an allow carries failure codes', { ...ALLOW, codes: ['TRUST_ROLLBACK'] }],
    ['a denial carries no code', { ...ALLOW, allowed: false, digest: null }],
    ['a denial carries a digest', { ...ALLOW, allowed: false, codes: ['TRUST_ROLLBACK'] }],
    ['a code is not one of ours', { ...ALLOW, allowed: false, digest: null, codes: ['ALL_GOOD'] }],
    ['the digest is not sha256 hex', { ...ALLOW, digest: 'sha256:XYZ' }],
    ['a field is unknown', { ...ALLOW, patch: 'W10=' }],
    ['allowed is a string', { ...ALLOW, allowed: 'true' }],
    ['reasons is too long', { ...ALLOW, allowed: false, digest: null, codes: ['TRUST_ROLLBACK'], reasons: Array(65).fill('r') }],
    ['the policy kind is unknown', { ...ALLOW, policy: { kind: 'Other', name: 'p', pattern: '*' } }],
    ['a digest-pinned image comes back with another digest', ALLOW, `registry.example.com/team/app@sha256:${'01'.repeat(32)}`],
    ['the answer is an array', [ALLOW]],
    ['verifiedBy names an unknown kind', { ...ALLOW, verifiedBy: ['notation'] }],
  ])('when %s', (_, answer, requested = IMAGE) => {
    it('rejects with TRUST_SERVER_UNAVAILABLE', () => {
      expect(() => decodeVerifyImageAnswer(answer, requested)).toThrow(unavailable);
    });
  });

  it('never returns an allow for arbitrary JSON, and only throws our errors', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          return !decodeVerifyImageAnswer(value, IMAGE).allowed;
        } catch (error) {
          return isTrustgateError(error) && error.code === 'TRUST_SERVER_UNAVAILABLE';
        }
      }),
    );
  });
});
