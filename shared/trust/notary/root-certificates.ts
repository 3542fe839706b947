// Checks on the certificates of a repository's root keys (Notary's trust pinning rules,
// certs.go ValidateRoot / ValidateCertificate), applied before a root is trusted.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { readCertificateFields } from './certificate-fields.js';
import type { RootMetadata } from './model.js';

// Signature algorithms accepted on a root certificate: ECDSA and RSA PKCS#1 v1.5 with
// SHA-2. An allow-list, so SHA-1 (1.2.840.113549.1.1.5, 1.2.840.10045.4.1), MD5
// (1.2.840.113549.1.1.4), MD2 and anything unknown are refused alike.
const ACCEPTED_SIGNATURE_ALGORITHMS: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10045.4.3.2', 'ecdsa-with-SHA256'],
  ['1.2.840.10045.4.3.3', 'ecdsa-with-SHA384'],
  ['1.2.840.10045.4.3.4', 'ecdsa-with-SHA512'],
  ['1.2.840.113549.1.1.11', 'sha256WithRSAEncryption'],
  ['1.2.840.113549.1.1.12', 'sha384WithRSAEncryption'],
  ['1.2.840.113549.1.1.13', 'sha512WithRSAEncryption'],
]);

// Every key of the root role must be an x509 key whose certificate names the GUN as its
// only subject CN, is valid at `now` and is signed with an accepted algorithm.
//
// Security: the CN binds a root key to one repository, so a root (and its keys) taken from
// another repository on the same server cannot be substituted for this one. Every root key
// must pass, not just enough for the threshold: a key we would refuse must not be able to
// co-sign a root rotation. Throws TRUST_ROOT_CERT_INVALID naming the key ID and the reason.
export function assertRootCertificates(root: RootMetadata, gun: string, now: Date): void {
  const keyIds = root.roles.root.keyIds;
  if (keyIds.length === 0) throw rootCertInvalid('root role lists no keys');
  for (const keyId of keyIds) {
    const key = root.keys.get(keyId);
    if (!key) throw rootCertInvalid(`root key ${keyId}: expected the key in signed.keys, got none`);
    if (!key.certificate || (key.type !== 'ecdsa-x509' && key.type !== 'rsa-x509')) {
      throw rootCertInvalid(`root key ${keyId}: expected an x509 certificate key, got ${key.type}`);
    }
    const fields = readCertificateFields(new Uint8Array(key.certificate.raw));
    if (!fields) throw rootCertInvalid(`root key ${keyId}: certificate is not readable DER`);
    const names = fields.subjectCommonNames;
    if (names.length !== 1 || fields.unreadableCommonNames > 0 || names[0] !== gun) {
      throw rootCertInvalid(`root key ${keyId}: expected certificate CN "${gun}", got ${names.map((n) => JSON.stringify(n)).join(', ') || 'none'}`);
    }
    if (now.getTime() < fields.notBefore.getTime()) {
      throw rootCertInvalid(`root key ${keyId}: certificate not valid before ${fields.notBefore.toISOString()}, now is ${now.toISOString()}`);
    }
    if (now.getTime() > fields.notAfter.getTime()) {
      throw rootCertInvalid(`root key ${keyId}: certificate expired at ${fields.notAfter.toISOString()}, now is ${now.toISOString()}`);
    }
    if (!ACCEPTED_SIGNATURE_ALGORITHMS.has(fields.signatureAlgorithmOid)) {
      throw rootCertInvalid(
        `root key ${keyId}: expected a certificate signed with ECDSA or RSA over SHA-2, got algorithm ${fields.signatureAlgorithmOid}`,
      );
    }
  }
}

function rootCertInvalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_ROOT_CERT_INVALID, message);
}
