// The `sigstore` and `verification` fields of an image policy: key authorities decode with
// their defaults; what is valid but not built yet (keyless, a transparency-log requirement)
// is refused as POLICY_UNSUPPORTED, never ignored; mistakes are POLICY_INVALID.
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
    expect(policy?.sigstore).toEqual({ keySecrets: ['release-key'], threshold: 1 });
    expect(policy?.verification).toBeUndefined();
    expect(policy?.trust.enabled).toBe(false);
  });

  it('decode a threshold, tlog none and a verification mode', () => {
    const policy = policyOf(
      '{trust: {enabled: true}, verification: {mode: any}, sigstore: {threshold: 2, tlog: none, authorities: [{key: {secretName: a}}, {key: {secretName: b}}]}}',
    );
    expect(policy?.sigstore).toEqual({ keySecrets: ['a', 'b'], threshold: 2 });
    expect(policy?.verification).toEqual({ mode: 'any' });
  });

  it('refuse keyless authorities as not supported yet', () => {
    const code = codeOf('{sigstore: {authorities: [{keyless: {identities: [{issuer: "https://accounts.google.com", subject: "me@example.com"}]}}]}}');
    expect(code).toBe(ErrorCode.POLICY_UNSUPPORTED);
  });

  it('refuse a transparency-log requirement as not supported yet', () => {
    expect(codeOf('{sigstore: {tlog: required, authorities: [{key: {secretName: a}}]}}')).toBe(ErrorCode.POLICY_UNSUPPORTED);
  });

  it('report an unsupported request together with real mistakes as POLICY_INVALID', () => {
    expect(codeOf('{sigstore: {tlog: required, authorities: [{key: {secretName: a}}]}, mutateImage: maybe}')).toBe(ErrorCode.POLICY_INVALID);
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
    ['an unknown tlog value', '{sigstore: {tlog: optional, authorities: [{key: {secretName: a}}]}}'],
  ])('refuse %s as POLICY_INVALID', (_name, policy) => {
    expect(codeOf(policy)).toBe(ErrorCode.POLICY_INVALID);
  });
});
