// The sigstore-js check of one signature on the real cosign vectors (test/fixtures/cosign),
// each classic layer wrapped as a v0.1 bundle: keys with and without their Rekor entry, a
// keyless Fulcio + Rekor signature against Sigstore's public-good root, a private PKI
// certificate without a log entry; and negatives made from each by changing one thing.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../../../shared/trust/sigstore/trusted-root-source.js';
import { classicToBundle, usesTransparencyLog, type ClassicSignature } from '../../../../shared/trust/cosign/classic-bundle.js';
import { checkBundle } from '../../../../shared/trust/cosign/sigstore-check.js';
import { keyIdentity } from '../../../../shared/trust/key-identity.js';
import type { CosignAuthority, TlogMode } from '../../../../shared/trust/verifier.js';
import { fixture } from './support/memory-registry.js';

const FULCIO_SUBJECT = 'mitr@redhat.com';
const FULCIO_ISSUER = 'https://github.com/login/oauth';

function classic(path: string): ClassicSignature {
  const bytes = fixture(path);
  const json = JSON.parse(bytes.subarray(bytes.indexOf(10) + 1).toString('utf8')) as { payload: string; annotations: Record<string, string> };
  const a = json.annotations;
  return {
    payload: Buffer.from(json.payload, 'base64'),
    signature: a['dev.cosignproject.cosign/signature'] ?? '',
    ...(a['dev.sigstore.cosign/certificate'] === undefined ? {} : { certificate: a['dev.sigstore.cosign/certificate'] }),
    ...(a['dev.sigstore.cosign/chain'] === undefined ? {} : { chain: a['dev.sigstore.cosign/chain'] }),
    ...(a['dev.sigstore.cosign/bundle'] === undefined ? {} : { rekorBundle: a['dev.sigstore.cosign/bundle'] }),
  };
}

function check(signature: ClassicSignature, authority: CosignAuthority, tlog: TlogMode = 'auto', root = PUBLIC_GOOD_TRUSTED_ROOT) {
  return checkBundle({ bundle: classicToBundle(signature, 'publicKeyPem' in authority, usesTransparencyLog('publicKeyPem' in authority, tlog)), artifact: signature.payload, authority, trustedRoot: root, rootName: 'test root', tlog });
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof TrustgateError) return error.code;
    throw error;
  }
  throw new Error('expected a TrustgateError');
}

const key = (file: string): CosignAuthority => ({ name: file, publicKeyPem: fixture(file).toString('utf8') });
const keyless = (subject: string, issuer = FULCIO_ISSUER): CosignAuthority => ({ name: 'keyless', identities: [{ issuer, subject }] });

// The signer's key as the threshold counts it: SHA-256 of its SPKI DER.
// A signer's key is named by its numbers (key-identity.ts), not by its DER spelling.
const spkiId = (key: ReturnType<typeof createPublicKey>): string => createHash('sha256').update(keyIdentity(key)).digest('hex');
const keyIdOf = (file: string): string => spkiId(createPublicKey(fixture(file)));
const certificateKeyIdOf = (signature: ClassicSignature): string => spkiId(new X509Certificate(signature.certificate ?? '').publicKey);

describe('a key-signed classic signature', () => {
  it('verifies with its key and without a log entry', () => {
    expect(check(classic('valid/signature-1'), key('cosign.pub'))).toEqual({ keyId: keyIdOf('cosign.pub') });
  });

  it('is refused for another key', () => {
    expect(codeOf(() => check(classic('valid/signature-1'), key('cosign2.pub')))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('is refused when the payload is changed by one byte', () => {
    const signature = classic('valid/signature-1');
    const payload = Buffer.from(signature.payload);
    payload.writeUInt8((payload.at(-2) ?? 0) ^ 1, payload.length - 2);
    expect(codeOf(() => check({ ...signature, payload }, key('cosign.pub')))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('is refused when the policy requires a transparency log and it has no entry', () => {
    expect(codeOf(() => check(classic('valid/signature-1'), key('cosign.pub'), 'required'))).toBe(ErrorCode.COSIGN_TLOG_INVALID);
  });
});

describe('a key-signed classic signature with a Rekor bundle', () => {
  it('verifies its Rekor entry (SET) against the public-good root when the log is required', () => {
    expect(check(classic('key-rekor/signature-1'), key('cosign2.pub'), 'required')).toEqual({ keyId: keyIdOf('cosign2.pub') });
  });

  it('is refused when the log is required and the SET is altered', () => {
    const signature = classic('key-rekor/signature-1');
    const bundle = JSON.parse(signature.rekorBundle ?? '') as { SignedEntryTimestamp: string; Payload: { integratedTime: number } };
    bundle.Payload.integratedTime += 1;
    expect(codeOf(() => check({ ...signature, rekorBundle: JSON.stringify(bundle) }, key('cosign2.pub'), 'required'))).toBe(ErrorCode.COSIGN_TLOG_INVALID);
  });

  it('is refused when the log is required and the entry was logged for another signature', () => {
    const other = classic('valid/signature-1');
    const signature = classic('key-rekor/signature-1');
    expect(codeOf(() => check({ ...other, rekorBundle: signature.rekorBundle ?? '' }, key('cosign.pub'), 'required'))).toBe(ErrorCode.COSIGN_TLOG_INVALID);
  });

  it('ignores the entry when the policy does not ask for the log', () => {
    const signature = classic('key-rekor/signature-1');
    expect(check({ ...signature, rekorBundle: '{"garbage":true}' }, key('cosign2.pub'), 'auto')).toEqual({ keyId: keyIdOf('cosign2.pub') });
  });
});

describe('a keyless Fulcio + Rekor classic signature', () => {
  it('verifies against the public-good root for its issuer and subject', () => {
    const signature = classic('fulcio-rekor/signature-1');
    expect(check(signature, keyless(FULCIO_SUBJECT))).toEqual({ keyId: certificateKeyIdOf(signature), issuer: FULCIO_ISSUER, subject: FULCIO_SUBJECT });
  });

  it('matches an identity given as regular expressions, anchored at both ends', () => {
    const authority: CosignAuthority = { name: 'keyless', identities: [{ issuerRegExp: 'https://github\\.com/login/.*', subjectRegExp: '.*@redhat\\.com' }] };
    expect(check(classic('fulcio-rekor/signature-1'), authority).subject).toBe(FULCIO_SUBJECT);
    const partial: CosignAuthority = { name: 'keyless', identities: [{ issuerRegExp: 'https://github\\.com', subjectRegExp: 'mitr' }] };
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), partial))).toBe(ErrorCode.COSIGN_IDENTITY_MISMATCH);
  });

  it('is refused for another subject or another issuer', () => {
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), keyless('someone@redhat.com')))).toBe(ErrorCode.COSIGN_IDENTITY_MISMATCH);
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), keyless(FULCIO_SUBJECT, 'https://accounts.google.com')))).toBe(ErrorCode.COSIGN_IDENTITY_MISMATCH);
  });

  it('is refused without its Rekor entry (keyless always needs the log)', () => {
    const full = classic('fulcio-rekor/signature-1');
    const signature: ClassicSignature = { payload: full.payload, signature: full.signature, certificate: full.certificate ?? '', chain: full.chain ?? '' };
    expect(codeOf(() => check(signature, keyless(FULCIO_SUBJECT)))).toBe(ErrorCode.COSIGN_TLOG_INVALID);
  });

  it('is refused against a root that does not name its Fulcio CA', () => {
    const root = { ...PUBLIC_GOOD_TRUSTED_ROOT, certificateAuthorities: [] };
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), keyless(FULCIO_SUBJECT), 'auto', root))).toBe(ErrorCode.COSIGN_CERTIFICATE_INVALID);
  });

  it('is refused when the certificate is swapped for the key-signed vector (its signature no longer matches)', () => {
    const fulcio = classic('fulcio-rekor/signature-1');
    const other = classic('key-rekor/signature-1');
    expect(codeOf(() => check({ ...fulcio, signature: other.signature }, keyless(FULCIO_SUBJECT)))).not.toBe('');
  });

  it('does not count for a key authority', () => {
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), key('cosign.pub')))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });
});

describe('a private-PKI certificate signature without a log entry', () => {
  it('is refused for a keyless authority: no transparency-log proof of the signing time', () => {
    const root = { ...PUBLIC_GOOD_TRUSTED_ROOT };
    expect(codeOf(() => check(classic('pki/signature-1'), keyless('any', 'any'), 'auto', root))).toBe(ErrorCode.COSIGN_TLOG_INVALID);
  });
});

describe('a trusted root', () => {
  it('that is not one is a POLICY_INVALID naming where it came from', () => {
    expect(codeOf(() => check(classic('fulcio-rekor/signature-1'), keyless(FULCIO_SUBJECT), 'auto', { mediaType: 'x', tlogs: 'no' }))).toBe(ErrorCode.POLICY_INVALID);
  });
});

