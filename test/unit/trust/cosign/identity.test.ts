// Keyless identity patterns: anchored at both ends, whatever the pattern holds.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../../shared/policy/decode-documents.js';
import { identityProblems, matchesIdentity } from '../../../../shared/trust/cosign/identity.js';
import { rejectionOf } from '../../../support/trustgate-errors.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
// Closes the wrapping group itself: wrapped naively it becomes ^(?:A)|(B)$.
const BREAKOUT = 'https://github\\.com/acme/app/x@refs/heads/main)|(https://github\\.com/acme/lib/x@refs/heads/main';

describe('a keyless subject pattern', () => {
  it('that would close its anchoring group is refused', () => {
    expect(identityProblems({ issuer: ISSUER, subjectRegExp: BREAKOUT }).length).toBeGreaterThan(0);
  });

  it('that would close its anchoring group never matches a foreign subject ending with an alternative', () => {
    const foreign = 'https://github.com/evil/fork/x#https://github.com/acme/lib/x@refs/heads/main';
    expect(() => matchesIdentity({ issuer: ISSUER, subjectRegExp: BREAKOUT }, ISSUER, foreign)).toThrow();
  });

  it('with alternatives matches each one whole, never a part of a value', () => {
    const identity = { issuer: ISSUER, subjectRegExp: 'https://a\\.example/x|https://b\\.example/y' };
    expect(identityProblems(identity)).toEqual([]);
    expect(matchesIdentity(identity, ISSUER, 'https://b.example/y')).toBe(true);
    expect(matchesIdentity(identity, ISSUER, 'https://evil.example/?https://b.example/y')).toBe(false);
    expect(matchesIdentity(identity, ISSUER, 'https://a.example/x/more')).toBe(false);
  });

  it('that escapes its group makes the policy document POLICY_INVALID', async () => {
    const text = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy:
        sigstore:
          authorities:
            - keyless: {identities: [{issuer: "${ISSUER}", subjectRegExp: ${JSON.stringify(BREAKOUT)}}]}
`;
    const error = await rejectionOf(Promise.resolve().then(() => decodePolicyDocuments([{ source: 'p.yaml', text }])));
    expect(error.code).toBe(ErrorCode.POLICY_INVALID);
  });
});
