// The policy form of verify-image: the policy that applies to the image in the namespace,
// plus every enforced ClusterImagePolicy, decides what is verified. The verifier port answers
// from a table keyed by repository and trust server and records what it was asked.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { repositoryName, type ImageReference } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../../../shared/trust/verifier.js';
import { verifyImage, type VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { clusterPolicies, DIGEST_A, DIGEST_B, policySetOf, repository, SERVER_A, SERVER_B, VERIFY_CLOCK } from './verify-policy-fixtures.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
// The shared cluster policies (see verify-policy-fixtures.ts) with simple signing required for
// reg.example.com/simple/*, and team-a's ImagePolicy with alice's signer Secret.
const POLICIES = `${clusterPolicies(repository('reg.example.com/simple/*', '{simple: {requirements: [{type: signedBy, keySecret: gpg}]}}'))}---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team-a-policy, namespace: team-a}
spec:
  repositories:
    - name: reg.example.com/team/*
      policy: {trust: {enabled: true, trustServer: "${SERVER_A}", signerSecrets: [{name: alice-key}]}}
    - name: reg.example.com/nosecret/*
      policy: {trust: {enabled: true, trustServer: "${SERVER_A}", signerSecrets: [{name: ghost}]}}
    - name: reg.example.com/prod/*
---
apiVersion: v1
kind: Secret
metadata: {name: alice-key, namespace: team-a}
stringData:
  name: alice
  publicKey: |
${PEM.split('\n').map((line) => `    ${line}`).join('\n')}
`;

const SET: PolicySet = policySetOf(POLICIES);

// What each repository resolves to, per trust server when the servers disagree.
const TABLE: Readonly<Record<string, string | undefined>> = {
  'reg.example.com/team/app': DIGEST_A,
  'reg.example.com/prod/app': DIGEST_A,
  [`reg.example.com/prod/split ${SERVER_A}`]: DIGEST_A,
  [`reg.example.com/prod/split ${SERVER_B}`]: DIGEST_B,
  [`reg.example.com/prod/half ${SERVER_A}`]: DIGEST_A,
};

interface Call {
  readonly image: string;
  readonly requirement: NotaryRequirement;
}

function tableVerifier(calls: Call[]): ImageVerifier<NotaryRequirement> {
  return {
    kind: 'notary',
    verify(image: ImageReference, requirement: NotaryRequirement): Promise<VerifiedImage> {
      const name = repositoryName(image);
      calls.push({ image: name, requirement });
      const digest = TABLE[`${name} ${requirement.server ?? ''}`] ?? TABLE[name];
      if (digest === undefined) return Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, `no signed target for ${name}`));
      const signers = requirement.signers.length > 0 ? requirement.signers.map((s) => `targets/${s.name}`) : ['targets/releases'];
      return Promise.resolve({ digest, signers });
    },
  };
}

async function verify(image: string, namespace = 'default', set: PolicySet | null = SET): Promise<{ response: VerifyImageResponse; calls: Call[] }> {
  const calls: Call[] = [];
  const deps = {
    notary: tableVerifier(calls),
    clock: VERIFY_CLOCK,
    logger: silentLogger,
    ...(set === null ? {} : { policies: () => Promise.resolve(set) }),
  };
  return { response: await verifyImage(deps, { kind: 'policy', image, namespace }), calls };
}

describe('verifyImage (policy form)', () => {
  describe('when no policy matches the image', () => {
    it('denies with POLICY_NO_MATCH without contacting a trust server', async () => {
      const { response, calls } = await verify('other.example.com/app:v1');
      expect(response).toMatchObject({ allowed: false, digest: null, codes: ['POLICY_NO_MATCH'], policy: null });
      expect(calls).toEqual([]);
    });
  });

  describe('when the matching policy allows everything', () => {
    it('allows a tag without verification, with digest null', async () => {
      const { response, calls } = await verify('reg.example.com/open/app:v1');
      expect(response).toMatchObject({ allowed: true, digest: null, codes: [], signers: [] });
      expect(response.policy).toEqual({ kind: 'ClusterImagePolicy', name: 'trusted', pattern: 'reg.example.com/open/*' });
      expect(calls).toEqual([]);
    });

    it('allows a pinned image with its own digest', async () => {
      const { response } = await verify(`reg.example.com/open/app@${DIGEST_B}`);
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_B });
    });
  });

  describe('when the matching policy requires trust', () => {
    it("calls the verifier with the policy's trust server and no signers, and allows with the digest", async () => {
      const { response, calls } = await verify('reg.example.com/team/app:v1');
      expect(calls).toEqual([{ image: 'reg.example.com/team/app', requirement: { kind: 'notary', server: SERVER_A, signers: [], rootKeyIds: [] } }]);
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_A, signers: ['targets/releases'], mutateImage: true });
    });

    it("calls the verifier with the signer from the namespace's Secret, and the ImagePolicy's trust server as the namespace's choice", async () => {
      const { response, calls } = await verify('reg.example.com/team/app:v1', 'team-a');
      expect(calls.map((call) => call.requirement)).toEqual([
        { kind: 'notary', server: SERVER_A, serverFromCaller: true, signers: [{ name: 'alice', publicKeyPem: PEM.trim() }], rootKeyIds: [] },
      ]);
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_A, signers: ['targets/alice'] });
      expect(response.policy).toEqual({ kind: 'ImagePolicy', name: 'team-a-policy', namespace: 'team-a', pattern: 'reg.example.com/team/*' });
    });

    it('denies with the verifier code when the image is not signed', async () => {
      const { response } = await verify('reg.example.com/team/unsigned:v1');
      expect(response).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });
    });
  });

  describe('when the policy document pins root keys', () => {
    it('calls the verifier with the pinned key IDs', async () => {
      const pinned = decodePolicyDocuments([
        {
          source: 'pinned.yaml',
          text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: pinned
  annotations: {trustgate.dev/root-key-ids: "${'c'.repeat(64)}"}
spec:
  repositories:
    - name: reg.example.com/team/*
      policy: {trust: {enabled: true, trustServer: "${SERVER_A}"}}
`,
        },
      ]);
      const { response, calls } = await verify('reg.example.com/team/app:v1', 'default', pinned);
      expect(calls.map((call) => call.requirement)).toEqual([{ kind: 'notary', server: SERVER_A, signers: [], rootKeyIds: ['c'.repeat(64)] }]);
      expect(response.allowed).toBe(true);
    });
  });

  describe('when a signer secret named by the policy does not exist', () => {
    it('denies with POLICY_SECRET_MISSING without contacting a trust server', async () => {
      const { response, calls } = await verify('reg.example.com/nosecret/app:v1', 'team-a');
      expect(response).toMatchObject({ allowed: false, codes: ['POLICY_SECRET_MISSING'] });
      expect(calls).toEqual([]);
    });
  });

  describe('when the policy requires simple signing with a key Secret that does not exist', () => {
    it('denies with POLICY_SECRET_MISSING', async () => {
      const { response } = await verify('reg.example.com/simple/app:v1');
      expect(response).toMatchObject({ allowed: false, codes: ['POLICY_SECRET_MISSING'] });
    });
  });

  describe('when an enforced ClusterImagePolicy applies too', () => {
    it('denies an unsigned image the namespace policy allows', async () => {
      const { response, calls } = await verify('reg.example.com/prod/unsigned:v1', 'team-a');
      expect(response).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });
      expect(response.reasons[0]).toContain('baseline');
      expect(calls.map((call) => call.requirement.server)).toEqual([SERVER_B]);
    });

    it('allows a signed image through both the namespace policy and the enforced one', async () => {
      const { response } = await verify('reg.example.com/prod/app:v1', 'team-a');
      expect(response).toMatchObject({ allowed: true, digest: DIGEST_A });
    });

    it('reports both failures when neither requirement is met', async () => {
      const { response, calls } = await verify('reg.example.com/prod/unsigned:v1');
      expect(response.codes).toEqual(['TRUST_NO_SIGNED_TARGET', 'TRUST_NO_SIGNED_TARGET']);
      expect(response.reasons.some((reason) => reason.includes('ClusterImagePolicy trusted'))).toBe(true);
      expect(response.reasons.some((reason) => reason.includes('ClusterImagePolicy baseline'))).toBe(true);
      expect(calls.map((call) => call.requirement.server).sort()).toEqual([SERVER_A, SERVER_B]);
    });

    it('denies when only the matching policy is met', async () => {
      const { response } = await verify('reg.example.com/prod/half:v1');
      expect(response).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });
      expect(response.reasons[0]).toContain('baseline');
    });

    it('denies with TRUST_DIGEST_MISMATCH when the two resolve to different digests', async () => {
      const { response } = await verify('reg.example.com/prod/split:v1');
      expect(response).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_DIGEST_MISMATCH'] });
    });
  });

  describe('when no policies are configured', () => {
    it('denies with CONFIG_INVALID', async () => {
      const { response } = await verify('reg.example.com/team/app:v1', 'default', null);
      expect(response).toMatchObject({ allowed: false, codes: ['CONFIG_INVALID'] });
    });
  });
});
