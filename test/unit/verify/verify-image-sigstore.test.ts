// verify-image with cosign beside Notary: a policy's `sigstore` authorities come from
// Secrets in the workload's namespace; `verification.mode: all` needs every configured kind,
// `any` admits on one and names it; kinds that pass must agree on the digest. The verifier
// ports answer from tables (the verifiers themselves are tested on their own).
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../../support/key-secrets.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { silentLogger } from '../../../shared/ports.js';
import { isKeyAuthority, type CosignRequirement, type ImageVerifier, type NotaryRequirement } from '../../../shared/trust/verifier.js';
import { verifyImage, type VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { decodeVerifyImageRequest } from '../../../shared/verify/verify-image-request.js';
import { DIGEST_A, DIGEST_B, tableVerifier, type VerifierTable } from './verify-policy-fixtures.js';

const pem = (type: 'ec' | 'ed25519') =>
  (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RELEASE_PEM = pem('ec');
const OTHER_PEM = pem('ec');

// One repository pattern per combination under test.
const POLICIES = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: signing, namespace: team}
spec:
  repositories:
    - name: reg.example.com/cosign-only/*
      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}
    - name: reg.example.com/all/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}, sigstore: {authorities: [{key: {secretName: release-key}}]}}
    - name: reg.example.com/any/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}, sigstore: {authorities: [{key: {secretName: release-key}}]}, verification: {mode: any}}
    - name: reg.example.com/any-simple/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}, simple: {requirements: [{type: signedBy, keySecret: ghost-gpg}]}, sigstore: {authorities: [{key: {secretName: release-key}}]}, verification: {mode: any}}
    - name: reg.example.com/ed/*
      policy: {sigstore: {authorities: [{key: {secretName: ed-key}}]}}
    - name: reg.example.com/nokey/*
      policy: {sigstore: {authorities: [{key: {secretName: ghost}}]}}
---
${cosignKeySecretYaml('release-key', 'team', RELEASE_PEM)}
---
${cosignKeySecretYaml('ed-key', 'team', pem('ed25519'))}
`;
const SET = decodePolicyDocuments([{ source: 'policies.yaml', text: POLICIES }]);

async function verify(image: string, notaryTable: VerifierTable, cosignTable: VerifierTable) {
  const notaryAsked: NotaryRequirement[] = [];
  const cosignAsked: CosignRequirement[] = [];
  const response: VerifyImageResponse = await verifyImage(
    {
      notary: tableVerifier('notary', notaryTable, notaryAsked, ErrorCode.TRUST_NO_SIGNED_TARGET),
      cosign: tableVerifier('cosign', cosignTable, cosignAsked, ErrorCode.TRUST_NO_SIGNED_TARGET),
      clock: { now: () => new Date('2026-12-01T00:00:00Z') },
      logger: silentLogger,
      policies: () => Promise.resolve(SET),
    },
    { kind: 'policy', image, namespace: 'team' },
  );
  return { response, notaryAsked, cosignAsked };
}

describe('verify-image with a sigstore policy', () => {
  it('admits a cosign-signed image with the key from the Secret and pins its digest', async () => {
    const { response, cosignAsked, notaryAsked } = await verify('reg.example.com/cosign-only/app:v1', {}, { 'reg.example.com/cosign-only/app': DIGEST_A });
    expect(response).toMatchObject({ allowed: true, digest: DIGEST_A, signers: ['cosign:key/release-key'], verifiedBy: ['cosign'], mutateImage: true });
    expect(cosignAsked).toEqual([{ kind: 'cosign', authorities: [{ name: 'key/release-key', publicKeyPem: RELEASE_PEM.trim() }], threshold: 1, tlog: 'auto' }]);
    expect(notaryAsked).toEqual([]);
  });

  it('denies an image the cosign verifier refuses, with its code', async () => {
    const { response } = await verify('reg.example.com/cosign-only/app:v1', {}, { 'reg.example.com/cosign-only/app': ErrorCode.COSIGN_SIGNATURE_INVALID });
    expect(response).toMatchObject({ allowed: false, digest: null, codes: [ErrorCode.COSIGN_SIGNATURE_INVALID] });
  });

  it('in mode all, requires both kinds and lists every failure', async () => {
    const repo = 'reg.example.com/all/app';
    expect((await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: DIGEST_A })).response).toMatchObject({ allowed: true, verifiedBy: ['notary', 'cosign'] });
    expect((await verify(`${repo}:v1`, { [repo]: DIGEST_A }, {})).response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET] });
    expect((await verify(`${repo}:v1`, {}, { [repo]: ErrorCode.COSIGN_SIGNATURE_MISSING })).response.codes).toEqual([ErrorCode.TRUST_NO_SIGNED_TARGET, ErrorCode.COSIGN_SIGNATURE_MISSING]);
  });

  it('in mode any, admits on either kind and names the kind that admitted', async () => {
    const repo = 'reg.example.com/any/app';
    expect((await verify(`${repo}:v1`, { [repo]: DIGEST_A }, {})).response).toMatchObject({ allowed: true, digest: DIGEST_A, verifiedBy: ['notary'], codes: [] });
    expect((await verify(`${repo}:v1`, {}, { [repo]: DIGEST_A })).response).toMatchObject({ allowed: true, digest: DIGEST_A, verifiedBy: ['cosign'], codes: [] });
  });

  it('in mode any, denies when no kind passes and gives every reason', async () => {
    const repo = 'reg.example.com/any/app';
    const { response } = await verify(`${repo}:v1`, {}, { [repo]: ErrorCode.COSIGN_DIGEST_MISMATCH });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET, ErrorCode.COSIGN_DIGEST_MISMATCH] });
  });

  it('in mode any, denies when the passing kinds resolve the image to different digests', async () => {
    const repo = 'reg.example.com/any/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: DIGEST_B });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_DIGEST_MISMATCH] });
  });

  it('in mode any, still denies a simple signing requirement that cannot be built (its key Secret missing) even when a kind passes', async () => {
    const repo = 'reg.example.com/any-simple/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: DIGEST_A });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_SECRET_MISSING] });
  });

  it('refuses an Ed25519 key from a Secret before any registry is asked', async () => {
    const { response, cosignAsked } = await verify('reg.example.com/ed/app:v1', {}, { 'reg.example.com/ed/app': DIGEST_A });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.COSIGN_KEY_UNSUPPORTED] });
    expect(cosignAsked).toEqual([]);
  });

  it('denies when the key Secret is missing', async () => {
    const { response } = await verify('reg.example.com/nokey/app:v1', {}, { 'reg.example.com/nokey/app': DIGEST_A });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_SECRET_MISSING] });
  });
});

describe('verify-image explicit form with cosign keys', () => {
  it('checks only cosign when the request names keys and no trust', () => {
    const request = decodeVerifyImageRequest({ image: 'reg.example.com/a:v1', cosign: { keys: [{ name: 'cosign.pub', publicKey: RELEASE_PEM }] } });
    expect(request).toMatchObject({ kind: 'explicit', cosignOnly: true, cosign: [{ threshold: 1, authorities: [{ name: 'cosign.pub' }] }] });
  });

  it('requires a key signature and a keyless one when the request names keys and identities, one of the keys being enough', () => {
    const identity = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:org/app' };
    const request = decodeVerifyImageRequest({
      image: 'reg.example.com/a:v1',
      cosign: { keys: [{ name: 'a', publicKey: RELEASE_PEM }, { name: 'b', publicKey: OTHER_PEM }], identities: [identity] },
    });
    expect(request).toMatchObject({
      cosign: [
        { threshold: 1, authorities: [{ name: 'a' }, { name: 'b' }] },
        { threshold: 1, authorities: [{ name: 'keyless', identities: [identity] }] },
      ],
    });
  });

  it('counts only keys towards the threshold when the request names identities too', () => {
    const identity = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:org/app' };
    const problems = (input: unknown) => {
      try {
        decodeVerifyImageRequest(input);
      } catch (error) {
        return (error as TrustgateError).problems.map((problem) => problem.path);
      }
      return [];
    };
    expect(problems({ image: 'a', cosign: { keys: [{ name: 'k', publicKey: RELEASE_PEM }], identities: [identity], threshold: 2 } })).toEqual(['cosign.threshold']);
    expect(problems({ image: 'a', cosign: { identities: [identity], threshold: 1 } })).toEqual([]);
    expect(problems({ image: 'a', cosign: { keys: [{ name: 'a', publicKey: RELEASE_PEM }, { name: 'b', publicKey: OTHER_PEM }], identities: [identity], threshold: 2 } })).toEqual([]);
  });

  it('denies an image signed by the key alone when the request names an identity too', async () => {
    const identity = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:org/app' };
    const request = decodeVerifyImageRequest({ image: 'reg.example.com/a:v1', cosign: { keys: [{ name: 'k', publicKey: RELEASE_PEM }], identities: [identity] } });
    // A verifier whose key authorities pass and whose keyless ones find no signature.
    const cosign: ImageVerifier<CosignRequirement> = {
      kind: 'cosign',
      verify: (_image, requirement) =>
        requirement.authorities.every(isKeyAuthority)
          ? Promise.resolve({ digest: DIGEST_A, signers: ['cosign:k'] })
          : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'no keyless signature')),
    };
    const deps = { notary: tableVerifier<NotaryRequirement>('notary', {}, [], ErrorCode.TRUST_NO_SIGNED_TARGET), cosign, clock: { now: () => new Date('2026-12-01T00:00:00Z') }, logger: silentLogger };
    expect(await verifyImage(deps, request)).toMatchObject({ allowed: false, codes: [ErrorCode.COSIGN_SIGNATURE_MISSING] });
  });

  it('requires Notary and cosign both when the request names trust and keys', async () => {
    const request = decodeVerifyImageRequest({ image: 'reg.example.com/both/app:v1', trust: { server: 'https://notary.example.com' }, cosign: { keys: [{ name: 'k', publicKey: RELEASE_PEM }] } });
    const deps = (notary: VerifierTable, cosign: VerifierTable) => ({
      notary: tableVerifier<NotaryRequirement>('notary', notary, [], ErrorCode.TRUST_NO_SIGNED_TARGET),
      cosign: tableVerifier<CosignRequirement>('cosign', cosign, [], ErrorCode.TRUST_NO_SIGNED_TARGET),
      clock: { now: () => new Date('2026-12-01T00:00:00Z') },
      logger: silentLogger,
    });
    const repo = 'reg.example.com/both/app';
    expect(await verifyImage(deps({ [repo]: DIGEST_A }, { [repo]: DIGEST_A }), request)).toMatchObject({ allowed: true, verifiedBy: ['notary', 'cosign'] });
    expect(await verifyImage(deps({ [repo]: DIGEST_A }, {}), request)).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET] });
    expect(await verifyImage(deps({}, { [repo]: DIGEST_A }), request)).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET] });
  });

  it('refuses an Ed25519 key and a threshold above the keys as invalid requests', () => {
    const invalid = (input: unknown) => {
      try {
        decodeVerifyImageRequest(input);
      } catch (error) {
        return (error as TrustgateError).problems.map((problem) => problem.path);
      }
      return [];
    };
    expect(invalid({ image: 'a', cosign: { keys: [{ name: 'ed', publicKey: pem('ed25519') }] } })).toEqual(['cosign.keys[0].publicKey']);
    expect(invalid({ image: 'a', cosign: { keys: [{ name: 'k', publicKey: RELEASE_PEM }], threshold: 2 } })).toEqual(['cosign.threshold']);
    expect(invalid({ image: 'a', namespace: 'team', cosign: { keys: [] } })).toEqual(['cosign']);
  });
});
