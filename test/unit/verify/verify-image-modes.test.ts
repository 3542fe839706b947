// Policy modes (annotation `trustgate.dev/mode`): a failure of a policy in warn or audit mode
// admits and is reported in `wouldDeny`; an enforced ClusterImagePolicy keeps denying
// whatever mode the namespace's policy has; only a digest a passing check verified is kept.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { repositoryName, type ImageReference } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../../../shared/trust/verifier.js';
import { verifyImage, type VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { thrownError } from '../../support/trustgate-errors.js';

const DIGEST_A = `sha256:${'aa'.repeat(32)}`;
const DIGEST_B = `sha256:${'bb'.repeat(32)}`;
const SIGNED = 'https://notary-signed.example.com';
const BASELINE = 'https://notary-baseline.example.com';
const OTHER = 'https://notary-other.example.com';

function policies(namespaceMode: string, baselineMode = 'enforce'): string {
  return `
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata:
  name: rollout
  namespace: team-a
  annotations: {trustgate.dev/mode: "${namespaceMode}"}
spec:
  repositories:
    - name: reg.example.com/team/*
      policy: {trust: {enabled: true, trustServer: "${SIGNED}"}}
    - name: reg.example.com/prod/*
      policy: {trust: {enabled: true, trustServer: "${OTHER}"}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: baseline
  annotations: {trustgate.dev/enforce: "true", trustgate.dev/mode: "${baselineMode}"}
spec:
  repositories:
    - name: reg.example.com/prod/*
      policy: {trust: {enabled: true, trustServer: "${BASELINE}"}}
`;
}

// What each trust server says about each repository: a digest, or nothing signed.
const TABLE: Readonly<Record<string, string>> = {
  [`reg.example.com/team/signed ${SIGNED}`]: DIGEST_A,
  [`reg.example.com/prod/app ${BASELINE}`]: DIGEST_A,
  [`reg.example.com/prod/split ${BASELINE}`]: DIGEST_A,
  [`reg.example.com/prod/split ${OTHER}`]: DIGEST_B,
};

function tableVerifier(): ImageVerifier<NotaryRequirement> {
  return {
    kind: 'notary',
    verify(image: ImageReference, requirement: NotaryRequirement): Promise<VerifiedImage> {
      const digest = TABLE[`${repositoryName(image)} ${requirement.server ?? ''}`];
      if (digest === undefined) return Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, `no signed target for ${repositoryName(image)}`));
      return Promise.resolve({ digest, signers: ['targets'] });
    },
  };
}

function verify(set: PolicySet, image: string, namespace = 'team-a'): Promise<VerifyImageResponse> {
  const deps = { notary: tableVerifier(), clock: { now: () => new Date(0) }, logger: silentLogger, policies: () => Promise.resolve(set) };
  return verifyImage(deps, { kind: 'policy', image, namespace });
}

const decode = (text: string): PolicySet => decodePolicyDocuments([{ source: 'policies.yaml', text }]);

describe('policy modes', () => {
  describe('when the annotation is not enforce, warn or audit', () => {
    it.each(['Enforce', 'warning', '', 'true'])('refuses the policy set with POLICY_INVALID (%j)', (mode) => {
      const error = thrownError(() => decode(policies(mode)));
      expect(error.code).toBe(ErrorCode.POLICY_INVALID);
      expect(error.problems.map((problem) => problem.path)).toEqual([expect.stringContaining('metadata.annotations.trustgate.dev/mode')]);
    });
  });

  describe('when a warn policy fails', () => {
    it('admits the image and returns the failure in wouldDeny with mode warn, pinning nothing', async () => {
      const response = await verify(decode(policies('warn')), 'reg.example.com/team/unsigned:v1');
      expect(response).toMatchObject({ allowed: true, digest: null, codes: [], reasons: [] });
      expect(response.wouldDeny).toEqual([{ mode: 'warn', code: ErrorCode.TRUST_NO_SIGNED_TARGET, reason: expect.stringContaining('unsigned') as unknown }]);
    });
  });

  describe('when an audit policy fails', () => {
    it('admits the image and returns the failure in wouldDeny with mode audit', async () => {
      const response = await verify(decode(policies('audit')), 'reg.example.com/team/unsigned:v1');
      expect(response.allowed).toBe(true);
      expect(response.wouldDeny?.map((failure) => [failure.mode, failure.code])).toEqual([['audit', ErrorCode.TRUST_NO_SIGNED_TARGET]]);
    });
  });

  describe('when a warn policy passes', () => {
    it('allows with the verified digest and no wouldDeny', async () => {
      const response = await verify(decode(policies('warn')), 'reg.example.com/team/signed:v1');
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_A });
      expect(response.wouldDeny).toBeUndefined();
    });
  });

  describe('when the namespace policy is enforce', () => {
    it('denies as before', async () => {
      const response = await verify(decode(policies('enforce')), 'reg.example.com/team/unsigned:v1');
      expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET] });
      expect(response.wouldDeny).toBeUndefined();
    });
  });

  describe('when the namespace policy is warn and an enforced ClusterImagePolicy fails', () => {
    it('denies with the enforced failure: a namespace cannot weaken the baseline', async () => {
      const response = await verify(decode(policies('warn')), 'reg.example.com/prod/unsigned:v1');
      expect(response).toMatchObject({ allowed: false, digest: null, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET] });
      expect(response.reasons.join()).toContain('ClusterImagePolicy baseline');
      expect(response.wouldDeny?.map((failure) => failure.mode)).toEqual(['warn']);
    });
  });

  describe('when the namespace policy is audit, fails, and the enforced baseline verified a digest', () => {
    it('admits with the digest the baseline verified (so admission pins only that)', async () => {
      const response = await verify(decode(policies('audit')), 'reg.example.com/prod/app:v1');
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_A });
      expect(response.wouldDeny?.map((failure) => failure.mode)).toEqual(['audit']);
    });
  });

  describe('when the enforced baseline itself is in warn mode', () => {
    it('admits what it would deny, reported as warn', async () => {
      const response = await verify(decode(policies('audit', 'warn')), 'reg.example.com/prod/unsigned:v1');
      expect(response.allowed).toBe(true);
      expect(response.wouldDeny?.map((failure) => failure.mode).sort()).toEqual(['audit', 'warn']);
    });
  });

  describe('when no pattern of a warn-only namespace matches', () => {
    it('admits and reports POLICY_NO_MATCH as warn', async () => {
      const response = await verify(decode(policies('warn')), 'elsewhere.example.com/app:v1');
      expect(response.allowed).toBe(true);
      expect(response.wouldDeny?.map((failure) => [failure.mode, failure.code])).toEqual([['warn', ErrorCode.POLICY_NO_MATCH]]);
    });
  });

  describe('when no ClusterImagePolicy matches and one of them enforces', () => {
    it('denies with POLICY_NO_MATCH', async () => {
      const response = await verify(decode(policies('warn')), 'elsewhere.example.com/app:v1', 'team-b');
      expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_NO_MATCH] });
    });
  });
});

describe('policy modes and digest agreement', () => {
  describe('when passing checks of warn policies disagree on the digest', () => {
    it('admits with no digest, so nothing unverified is pinned', async () => {
      const text = `${policies('warn', 'warn')}`;
      const response = await verify(decode(text), 'reg.example.com/prod/split:v1');
      expect(response).toMatchObject({ allowed: true, digest: null });
      expect(response.wouldDeny?.map((failure) => failure.code)).toEqual([ErrorCode.TRUST_DIGEST_MISMATCH]);
    });
  });

  describe('when a passing enforced check disagrees with a passing warn check', () => {
    it('denies with TRUST_DIGEST_MISMATCH', async () => {
      const response = await verify(decode(policies('warn')), 'reg.example.com/prod/split:v1');
      expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_DIGEST_MISMATCH] });
    });
  });
});
