// knownVerification: the answer verifyImage would give, taken from what the verifiers already
// hold, or nothing. The verifier here remembers what it verified, like the Notary verifier's memo.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { repositoryName, type ImageReference } from '../../../shared/image/reference.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { createCredentialKeyring } from '../../../shared/registry/credential-keyring.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../../../shared/trust/verifier.js';
import { knownVerification, verifyImage, type VerifyImageDeps } from '../../../shared/verify/verify-image.js';
import { clusterPolicies, DIGEST_A, policySetOf, SERVER_A, SERVER_B, VERIFY_CLOCK } from './verify-policy-fixtures.js';

// team/* and prod/* trusted on SERVER_A, open/* unchecked, prod* also on SERVER_B (enforced).
const SET: PolicySet = policySetOf(clusterPolicies());

// Signs every repository with DIGEST_A on every server; `known` answers what `verify` answered
// before, for the same requirement and server.
function rememberingVerifier(): ImageVerifier<NotaryRequirement> & { readonly verified: Set<string> } {
  const verified = new Set<string>();
  const id = (image: ImageReference, requirement: NotaryRequirement): string => `${repositoryName(image)} ${requirement.server ?? ''}`;
  return {
    kind: 'notary',
    verified,
    verify(image, requirement) {
      verified.add(id(image, requirement));
      return Promise.resolve({ digest: DIGEST_A, signers: ['targets'] });
    },
    known(image, requirement): VerifiedImage | undefined {
      return verified.has(id(image, requirement)) ? { digest: DIGEST_A, signers: ['targets'] } : undefined;
    },
  };
}

function depsWith(notary: ImageVerifier<NotaryRequirement>, policiesNow: (() => PolicySet) | null = () => SET): VerifyImageDeps {
  return {
    notary,
    clock: VERIFY_CLOCK,
    logger: silentLogger,
    policies: () => Promise.resolve(SET),
    ...(policiesNow === null ? {} : { policiesNow }),
  };
}

describe('knownVerification', () => {
  describe('when every check the policies require is known', () => {
    it('answers exactly what verifyImage answers', async () => {
      const deps = depsWith(rememberingVerifier());
      const request = { image: 'reg.example.com/team/app:v1', namespace: 'default' };
      const verified = await verifyImage(deps, { kind: 'policy', ...request });
      expect(knownVerification(deps, request)).toEqual(verified);
      expect(verified).toMatchObject({ allowed: true, digest: DIGEST_A });
    });

    it('answers a denial that needs no check (no policy matches) like verifyImage', async () => {
      const deps = depsWith(rememberingVerifier());
      const request = { image: 'other.example.com/app:v1', namespace: 'default' };
      const known = knownVerification(deps, request);
      expect(known).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_NO_MATCH] });
      expect(known).toEqual(await verifyImage(deps, { kind: 'policy', ...request }));
    });
  });

  describe('when the workload has registry credentials', () => {
    it('hands them to the verifier, which answers from memory only what verify would with them', () => {
      const credentials = createCredentialKeyring([{ key: 'reg.example.com', source: 'Secret default/regcred', credential: { username: 'puller', password: 'pw' } }]);
      const asked: unknown[] = [];
      const notary: ImageVerifier<NotaryRequirement> = {
        kind: 'notary',
        verify: () => Promise.reject(new Error('not asked')),
        known: (_image, _requirement, _now, given) => {
          asked.push(given);
          return given === undefined ? { digest: DIGEST_A, signers: ['targets'] } : undefined;
        },
      };
      const deps = depsWith(notary);
      const request = { image: 'reg.example.com/team/app:v3', namespace: 'default' };
      expect(knownVerification(deps, request, credentials)).toBeUndefined();
      expect(knownVerification(deps, request)).toMatchObject({ allowed: true, digest: DIGEST_A });
      expect(asked[0]).toBe(credentials);
    });
  });

  describe('when asked again', () => {
    it('gives the answer built before while the same answers are known, and builds a new one when they change', () => {
      let answer: VerifiedImage = { digest: DIGEST_A, signers: ['targets'] };
      const notary: ImageVerifier<NotaryRequirement> = { kind: 'notary', verify: () => Promise.resolve(answer), known: () => answer };
      const deps = depsWith(notary);
      const request = { image: 'reg.example.com/team/app:v2', namespace: 'default' };
      const first = knownVerification(deps, request);
      expect(knownVerification(deps, request)).toBe(first);
      answer = { digest: `sha256:${'cc'.repeat(32)}`, signers: ['targets/releases'] };
      expect(knownVerification(deps, request)).toMatchObject({ allowed: true, digest: answer.digest, signers: ['targets/releases'] });
    });
  });

  describe('when a required check is not known', () => {
    it('answers nothing, even when another check of the image is known', async () => {
      const notary = rememberingVerifier();
      const deps = depsWith(notary);
      const request = { image: 'reg.example.com/prod/app:v1', namespace: 'default' };
      await verifyImage(deps, { kind: 'policy', ...request });
      expect(knownVerification(deps, request)).toMatchObject({ allowed: true });
      // The enforced baseline's trust server is forgotten: that check must run again.
      notary.verified.delete(`reg.example.com/prod/app ${SERVER_B}`);
      expect(notary.verified.has(`reg.example.com/prod/app ${SERVER_A}`)).toBe(true);
      expect(knownVerification(deps, request)).toBeUndefined();
    });

    it('answers nothing when the verifier keeps nothing in memory', async () => {
      const remembering = rememberingVerifier();
      const forgetful: ImageVerifier<NotaryRequirement> = { kind: 'notary', verify: (image, requirement, now) => remembering.verify(image, requirement, now) };
      const deps = depsWith(forgetful);
      const request = { image: 'reg.example.com/team/app:v1', namespace: 'default' };
      await verifyImage(deps, { kind: 'policy', ...request });
      expect(knownVerification(deps, request)).toBeUndefined();
    });
  });

  describe('when the policies are not at hand', () => {
    it('answers nothing when they cannot be read now, and verifyImage denies with the reason', async () => {
      const stale = new TrustgateError(ErrorCode.POLICY_SOURCE_UNAVAILABLE, 'the cluster policies are too old');
      const notary = rememberingVerifier();
      const request = { image: 'reg.example.com/team/app:v1', namespace: 'default' };
      await verifyImage(depsWith(notary), { kind: 'policy', ...request });
      const failing = { ...depsWith(notary, () => { throw stale; }), policies: () => Promise.reject(stale) };
      expect(knownVerification(failing, request)).toBeUndefined();
      expect(await verifyImage(failing, { kind: 'policy', ...request })).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_SOURCE_UNAVAILABLE] });
    });

    it('answers nothing without policiesNow', async () => {
      const notary = rememberingVerifier();
      const request = { image: 'reg.example.com/team/app:v1', namespace: 'default' };
      await verifyImage(depsWith(notary), { kind: 'policy', ...request });
      expect(knownVerification(depsWith(notary, null), request)).toBeUndefined();
    });
  });

  describe('when the image reference is invalid', () => {
    it('answers nothing, and verifyImage denies with IMAGE_REF_INVALID', async () => {
      const deps = depsWith(rememberingVerifier());
      const request = { image: 'Reg.example.com/TEAM/app:v1', namespace: 'default' };
      expect(knownVerification(deps, request)).toBeUndefined();
      expect(await verifyImage(deps, { kind: 'policy', ...request })).toMatchObject({ allowed: false, codes: [ErrorCode.IMAGE_REF_INVALID] });
    });
  });
});
