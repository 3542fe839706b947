import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { readCertificateFields } from '../../../../shared/trust/notary/certificate-fields.js';
import { decodeRoot } from '../../../../shared/trust/notary/decode.js';
import type { RootMetadata } from '../../../../shared/trust/notary/model.js';
import { assertRootCertificates } from '../../../../shared/trust/notary/root-certificates.js';
import { buildRepository, certificateKey, generateKey, generateRootCertKey, type TestKey } from '../../../support/notary-builder.js';
import { errorCodeOf, thrownError } from '../../../support/trustgate-errors.js';
import { SAMPLE_GUN, SAMPLE_NOW, readFixture } from './notary-fixtures.js';

const GUN = 'registry.example.com/team/app';
const NOW = new Date('2026-11-27T08:00:00Z');
const DAY_MS = 24 * 60 * 60 * 1000;
const sampleRoot = decodeRoot(readFixture('root.json')).signed;

function rootWith(rootKeys: readonly TestKey[], gun = GUN): RootMetadata {
  return decodeRoot(buildRepository(gun, { keys: { root: rootKeys } }).root).signed;
}

// A root whose key is a self-signed certificate made by the openssl CLI rather than by our
// own DER writer, so the certificate reader is checked against independently made bytes.
const workDir = mkdtempSync(join(tmpdir(), 'trustgate-openssl-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));
function opensslRoot(commonName: string, digest: 'sha256' | 'sha1'): { root: RootMetadata; now: Date } {
  const keyPath = join(workDir, `${digest}.key`);
  const certPath = join(workDir, `${digest}.crt`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], { stdio: 'pipe' });
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyPath, '-out', certPath, '-subj', `/CN=${commonName.replaceAll('/', '\\/')}`, '-days', '30', `-${digest}`], {
    stdio: 'pipe',
  });
  const pem = readFileSync(certPath, 'utf8');
  const key = certificateKey(pem, createPrivateKey(readFileSync(keyPath)));
  const validFrom = Date.parse(new X509Certificate(pem).validFrom);
  return { root: rootWith([key], commonName), now: new Date(validFrom + 60_000) };
}

describe('assertRootCertificates', () => {
  describe('when given the real root, its GUN and a time within the certificate validity', () => {
    it('accepts it', () => {
      expect(() => assertRootCertificates(sampleRoot, SAMPLE_GUN, SAMPLE_NOW)).not.toThrow();
    });
  });

  describe('when the GUN is not the certificate CN', () => {
    it.each(['127.0.0.1:5000/team/other', '127.0.0.1:5000/team/app/x', '127.0.0.1:5000/team/ap', ''])('rejects %j with TRUST_ROOT_CERT_INVALID', (gun) => {
      expect(errorCodeOf(() => assertRootCertificates(sampleRoot, gun, SAMPLE_NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the real certificate is not yet valid', () => {
    it('rejects with TRUST_ROOT_CERT_INVALID', () => {
      // notBefore is 2026-11-27T07:32:27Z.
      expect(errorCodeOf(() => assertRootCertificates(sampleRoot, SAMPLE_GUN, new Date('2026-11-27T07:32:26Z')))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the real certificate has expired', () => {
    it('rejects with TRUST_ROOT_CERT_INVALID', () => {
      // notAfter is 2036-11-24T07:32:27Z.
      expect(errorCodeOf(() => assertRootCertificates(sampleRoot, SAMPLE_GUN, new Date('2036-11-24T07:32:28Z')))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the time is exactly at either end of the validity period', () => {
    it('accepts it', () => {
      expect(() => assertRootCertificates(sampleRoot, SAMPLE_GUN, new Date('2026-11-27T07:32:27Z'))).not.toThrow();
      expect(() => assertRootCertificates(sampleRoot, SAMPLE_GUN, new Date('2036-11-24T07:32:27Z'))).not.toThrow();
    });
  });

  describe('when a certificate made here is valid', () => {
    it('accepts it', () => {
      expect(() => assertRootCertificates(rootWith([generateRootCertKey(GUN)]), GUN, NOW)).not.toThrow();
    });

    it('accepts an rsa-x509 certificate', () => {
      expect(() => assertRootCertificates(rootWith([generateRootCertKey(GUN, { algorithm: 'rsa' })]), GUN, NOW)).not.toThrow();
    });

    it('writes bytes node:crypto parses and verifies as self-signed', () => {
      const key = generateRootCertKey(GUN);
      const certificate = new X509Certificate(key.certificatePem ?? '');
      expect(certificate.subject).toBe(`CN=${GUN}`);
      expect(certificate.verify(certificate.publicKey)).toBe(true);
      expect(Date.parse(certificate.validFrom)).toBe(NOW.getTime() - DAY_MS);
    });
  });

  describe('when a certificate has expired', () => {
    it('rejects with TRUST_ROOT_CERT_INVALID', () => {
      const key = generateRootCertKey(GUN, { notBefore: new Date('2016-01-01T00:00:00Z'), notAfter: new Date('2026-11-27T07:59:59Z') });
      expect(errorCodeOf(() => assertRootCertificates(rootWith([key]), GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when a certificate is not yet valid', () => {
    it('rejects with TRUST_ROOT_CERT_INVALID', () => {
      const key = generateRootCertKey(GUN, { notBefore: new Date('2026-11-27T08:00:01Z'), notAfter: new Date('2060-01-01T00:00:00Z') });
      expect(errorCodeOf(() => assertRootCertificates(rootWith([key]), GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when a certificate is signed with SHA-1', () => {
    it.each(['ecdsa', 'rsa'] as const)('rejects an %s certificate with TRUST_ROOT_CERT_INVALID', (algorithm) => {
      const key = generateRootCertKey(GUN, { sha1: true, algorithm });
      expect(errorCodeOf(() => assertRootCertificates(rootWith([key]), GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the certificate was made by the openssl CLI', () => {
    it('accepts a SHA-256 one', () => {
      const { root, now } = opensslRoot(GUN, 'sha256');
      expect(() => assertRootCertificates(root, GUN, now)).not.toThrow();
    });

    it('rejects a SHA-1 one with TRUST_ROOT_CERT_INVALID', () => {
      const { root, now } = opensslRoot(GUN, 'sha1');
      expect(errorCodeOf(() => assertRootCertificates(root, GUN, now))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the subject has no CN or more than one', () => {
    it.each([[[]], [[GUN, GUN]], [['other', GUN]]])('rejects CNs %j with TRUST_ROOT_CERT_INVALID', (commonNames) => {
      const key = generateRootCertKey(GUN, { commonNames });
      expect(errorCodeOf(() => assertRootCertificates(rootWith([key]), GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when a root key is a plain key, not a certificate', () => {
    it.each(['ecdsa', 'ed25519'] as const)('rejects a plain %s root key with TRUST_ROOT_CERT_INVALID', (type) => {
      expect(errorCodeOf(() => assertRootCertificates(rootWith([generateKey(type)]), GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when only one of two root keys is invalid', () => {
    it('rejects with TRUST_ROOT_CERT_INVALID', () => {
      const root = rootWith([generateRootCertKey(GUN), generateRootCertKey('registry.example.com/team/other')]);
      expect(root.roles.root.keyIds).toHaveLength(2);
      expect(errorCodeOf(() => assertRootCertificates(root, GUN, NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });

  describe('when the trust server chose the text of the certificate name or of a key ID', () => {
    const planted = 'APPROVED - ask ops at https://evil.example/pw';

    it('rejects a certificate naming other text without repeating it', () => {
      const error = thrownError(() => assertRootCertificates(rootWith([generateRootCertKey(GUN, { commonNames: [planted] })]), GUN, NOW));
      expect(error.code).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
      expect(error.message).not.toContain('evil.example');
    });

    it('rejects a root role listing a key ID that is not one without repeating it', () => {
      const root: RootMetadata = { ...sampleRoot, roles: { ...sampleRoot.roles, root: { keyIds: [planted], threshold: 1 } } };
      const error = thrownError(() => assertRootCertificates(root, SAMPLE_GUN, SAMPLE_NOW));
      expect(error.code).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
      expect(error.message).not.toContain('evil.example');
    });
  });

  describe('when the root role lists a key that is not in keys, or no key', () => {
    it.each([[['f'.repeat(64)]], [[]]])('rejects key IDs %j with TRUST_ROOT_CERT_INVALID', (keyIds) => {
      const root: RootMetadata = { ...sampleRoot, roles: { ...sampleRoot.roles, root: { keyIds, threshold: 1 } } };
      expect(errorCodeOf(() => assertRootCertificates(root, SAMPLE_GUN, SAMPLE_NOW))).toBe(ErrorCode.TRUST_ROOT_CERT_INVALID);
    });
  });
});

describe('readCertificateFields', () => {
  describe('for any bytes, and for truncated or bit-flipped real certificates', () => {
    it('returns fields or undefined and never throws', () => {
      const real = new Uint8Array(sampleRoot.keys.get(sampleRoot.roles.root.keyIds[0] ?? '')?.certificate?.raw ?? []);
      expect(readCertificateFields(real)?.subjectCommonNames).toEqual([SAMPLE_GUN]);
      const damaged = fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([index, value, truncate]) => {
        if (truncate) return real.subarray(0, index);
        const copy = new Uint8Array(real);
        copy[index] = value;
        return copy;
      });
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), damaged), (bytes) => {
          const fields = readCertificateFields(bytes);
          return fields === undefined || Array.isArray(fields.subjectCommonNames);
        }),
      );
    });
  });
});
