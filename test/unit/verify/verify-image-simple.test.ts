// verify-image with Red Hat simple signing beside Notary: both required (they must agree on
// the digest), or alternatives under `verification.mode: any`. The verifier ports answer
// from tables (the simple signing verifier itself is tested against a real registry).
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { silentLogger } from '../../../shared/ports.js';
import type { NotaryRequirement, SimpleSigningRequirement } from '../../../shared/trust/verifier.js';
import { verifyImage } from '../../../shared/verify/verify-image.js';
import { DIGEST_A, DIGEST_B, tableVerifier, VERIFY_CLOCK, type VerifierTable } from './verify-policy-fixtures.js';


const POLICIES = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: signing, namespace: team}
spec:
  repositories:
    - name: reg.example.com/all/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}, simple: {requirements: [{type: signedBy, keySecret: gpg}]}}
    - name: reg.example.com/any/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}, simple: {requirements: [{type: signedBy, keySecret: gpg}]}, verification: {mode: any}}
---
apiVersion: v1
kind: Secret
metadata: {name: gpg, namespace: team}
stringData: {key: "-----BEGIN PGP PUBLIC KEY BLOCK-----"}
`;
const SET = decodePolicyDocuments([{ source: 'policies.yaml', text: POLICIES }]);

async function verify(image: string, notaryTable: VerifierTable, simpleTable: VerifierTable | undefined) {
  const simpleAsked: SimpleSigningRequirement[] = [];
  const response = await verifyImage(
    {
      notary: tableVerifier<NotaryRequirement>('notary', notaryTable, [], ErrorCode.SIMPLE_SIGNATURE_MISSING),
      ...(simpleTable === undefined ? {} : { simple: tableVerifier('simple', simpleTable, simpleAsked, ErrorCode.SIMPLE_SIGNATURE_MISSING) }),
      clock: VERIFY_CLOCK,
      logger: silentLogger,
      policies: () => Promise.resolve(SET),
    },
    { kind: 'policy', image, namespace: 'team' },
  );
  return { response, simpleAsked };
}

describe('verify-image with trust and simple signing together', () => {
  it('allows when both hold and agree on the digest, and names both kinds', async () => {
    const repo = 'reg.example.com/all/app';
    const { response, simpleAsked } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: DIGEST_A });
    expect(response).toMatchObject({ allowed: true, digest: DIGEST_A, verifiedBy: ['notary', 'simple'], signers: ['targets', 'simple:ABCD'] });
    expect(simpleAsked[0]).toMatchObject({ kind: 'simple', rules: [{ type: 'signedBy', keyring: { source: expect.stringContaining('team/gpg') as string } }] });
  });

  it('denies with TRUST_DIGEST_MISMATCH when they resolve the image to different digests', async () => {
    const repo = 'reg.example.com/all/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: DIGEST_B });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_DIGEST_MISMATCH] });
  });

  it('denies with the simple signing code when only trust holds', async () => {
    const repo = 'reg.example.com/all/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, { [repo]: ErrorCode.SIMPLE_IDENTITY_MISMATCH });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.SIMPLE_IDENTITY_MISMATCH] });
  });

  it('in mode any, admits on simple signing alone and names it', async () => {
    const repo = 'reg.example.com/any/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: ErrorCode.TRUST_NO_SIGNED_TARGET }, { [repo]: DIGEST_A });
    expect(response).toMatchObject({ allowed: true, digest: DIGEST_A, verifiedBy: ['simple'] });
  });

  it('in mode any, denies with both reasons when neither holds', async () => {
    const repo = 'reg.example.com/any/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: ErrorCode.TRUST_NO_SIGNED_TARGET }, { [repo]: ErrorCode.SIMPLE_REJECTED });
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.TRUST_NO_SIGNED_TARGET, ErrorCode.SIMPLE_REJECTED] });
  });

  it('denies with POLICY_UNSUPPORTED where the deployment has no simple signing verifier', async () => {
    const repo = 'reg.example.com/all/app';
    const { response } = await verify(`${repo}:v1`, { [repo]: DIGEST_A }, undefined);
    expect(response).toMatchObject({ allowed: false, codes: [ErrorCode.POLICY_UNSUPPORTED] });
  });
});
