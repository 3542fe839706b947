// The `sigstore` and `verification` fields of an image policy: key and keyless authorities
// decode with their defaults; a keyless authority without the transparency log, an identity
// without issuer or subject, a pattern that is not a regular expression, and every other
// mistake are POLICY_INVALID, never ignored.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';

function decode(policy: string): ReturnType<typeof decodePolicyDocuments> {
  const text = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  repositories:
    - name: reg.example.com/team/*
      policy: ${policy}
`;
  return decodePolicyDocuments([{ source: 'policies.yaml', text }]);
}

function codeOf(policy: string): string {
  try {
    decode(policy);
  } catch (error) {
    if (error instanceof TrustgateError) return error.code;
    throw error;
  }
  return 'decoded';
}

function policyOf(policy: string) {
  return decode(policy).clusterPolicies[0]?.repositories[0]?.policy;
}

describe('sigstore policy fields', () => {
  it('decode key authorities with threshold 1 and no verification mode by default', () => {
    const policy = policyOf('{sigstore: {authorities: [{key: {secretName: release-key}}]}}');
    expect(policy?.sigstore).toEqual({ keySecrets: [{ name: 'release-key' }], keyless: [], threshold: 1, tlog: 'auto' });
    expect(policy?.verification).toBeUndefined();
    expect(policy?.trust.enabled).toBe(false);
  });

  it('decode a threshold, tlog none and a verification mode', () => {
    const policy = policyOf(
      '{trust: {enabled: true}, verification: {mode: any}, sigstore: {threshold: 2, tlog: none, authorities: [{key: {secretName: a}}, {key: {secretName: b}}]}}',
    );
    expect(policy?.sigstore).toEqual({ keySecrets: [{ name: 'a' }, { name: 'b' }], keyless: [], threshold: 2, tlog: 'off' });
    expect(policy?.verification).toEqual({ mode: 'any' });
  });

  it('decode keyless identities, a trusted root secret and tlog required beside a key', () => {
    const policy = policyOf(
      '{sigstore: {tlog: required, threshold: 2, authorities: [{key: {secretName: a}}, {keyless: {trustRootSecretName: corp, identities: [{issuer: "https://token.actions.githubusercontent.com", subjectRegExp: "^https://github\\\\.com/acme/.+$"}]}}]}}',
    );
    expect(policy?.sigstore).toEqual({
      keySecrets: [{ name: 'a' }],
      keyless: [{ trustRootSecretName: 'corp', identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '^https://github\\.com/acme/.+$' }] }],
      threshold: 2,
      tlog: 'required',
    });
  });

  it.each([
    ['an unknown field', '{sigstore: {authorities: [{key: {secretName: a}}], keys: []}}'],
    ['an unknown field of a key', '{sigstore: {authorities: [{key: {secretName: a, data: x}}]}}'],
    ['no authorities', '{sigstore: {authorities: []}}'],
    ['an authority that is neither key nor keyless', '{sigstore: {authorities: [{}]}}'],
    ['an authority that is both key and keyless', '{sigstore: {authorities: [{key: {secretName: a}, keyless: {}}]}}'],
    ['a threshold above the authorities', '{sigstore: {threshold: 2, authorities: [{key: {secretName: a}}]}}'],
    ['a threshold of 0', '{sigstore: {threshold: 0, authorities: [{key: {secretName: a}}]}}'],
    ['the same secret twice', '{sigstore: {threshold: 2, authorities: [{key: {secretName: a}}, {key: {secretName: a}}]}}'],
    ['an unknown verification mode', '{verification: {mode: some}}'],
    ['a keyless authority with tlog off', '{sigstore: {tlog: off, authorities: [{keyless: {identities: [{issuer: i, subject: s}]}}]}}'],
    ['a keyless authority with tlog none', '{sigstore: {tlog: none, authorities: [{keyless: {identities: [{issuer: i, subject: s}]}}]}}'],
    ['a keyless authority without identities', '{sigstore: {authorities: [{keyless: {}}]}}'],
    ['an identity without a subject', '{sigstore: {authorities: [{keyless: {identities: [{issuer: i}]}}]}}'],
    ['an identity with both subject and subjectRegExp', '{sigstore: {authorities: [{keyless: {identities: [{issuer: i, subject: s, subjectRegExp: s}]}}]}}'],
    ['a subjectRegExp that is not a regular expression', '{sigstore: {authorities: [{keyless: {identities: [{issuer: i, subjectRegExp: "a(b"}]}}]}}'],
    ['an unknown field of a keyless authority', '{sigstore: {authorities: [{keyless: {url: "https://fulcio.example.com", identities: [{issuer: i, subject: s}]}}]}}'],
    ['an unknown tlog value', '{sigstore: {tlog: optional, authorities: [{key: {secretName: a}}]}}'],
  ])('refuse %s as POLICY_INVALID', (_name, policy) => {
    expect(codeOf(policy)).toBe(ErrorCode.POLICY_INVALID);
  });
});
