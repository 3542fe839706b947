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
// Security: the reason reaches denials and so kubectl users. Only text of our own (the GUN,
// dates, the OID's digits, a key type from the decoder's closed list) or a key ID of the
// shape key IDs have is repeated; the certificate's CN is chosen by the trust server, so a
// wrong one is "a different name", never the name itself.
export function assertRootCertificates(root: RootMetadata, gun: string, now: Date): void {
  const keyIds = root.roles.root.keyIds;
  if (keyIds.length === 0) throw rootCertInvalid('root role lists no keys');
  for (const listedId of keyIds) {
    const keyId = describeKeyId(listedId);
    const key = root.keys.get(listedId);
    if (!key) throw rootCertInvalid(`root key ${keyId}: expected the key in signed.keys, got none`);
    if (!key.certificate || (key.type !== 'ecdsa-x509' && key.type !== 'rsa-x509')) {
      throw rootCertInvalid(`root key ${keyId}: expected an x509 certificate key, got ${key.type}`);
    }
    const fields = readCertificateFields(new Uint8Array(key.certificate.raw));
    if (!fields) throw rootCertInvalid(`root key ${keyId}: certificate is not readable DER`);
    const names = fields.subjectCommonNames;
    if (names.length !== 1 || fields.unreadableCommonNames > 0 || names[0] !== gun) {
      throw rootCertInvalid(`root key ${keyId}: expected one certificate CN "${gun}", got ${describeCommonNames(names.length + fields.unreadableCommonNames)}`);
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

// A role's key list is not checked against the key map by the decoder, so an entry may be any
// string the server chose: repeat it only when it is shaped like a key ID (64 hex digits).
const KEY_ID_SHAPE = /^[0-9a-f]{64}$/;
function describeKeyId(keyId: string): string {
  return KEY_ID_SHAPE.test(keyId) ? keyId : 'with a malformed ID';
}

// How many CNs a certificate holds, in words; reached only when the CN is not the GUN alone.
function describeCommonNames(count: number): string {
  if (count === 0) return 'none';
  return count === 1 ? 'a different name' : `${count} names`;
}

function rootCertInvalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_ROOT_CERT_INVALID, message);
}
