// Signature verification of decoded Notary metadata: one signature against one key, and the
// threshold rule for a role.
import { constants, verify } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { sameKey, sameSpki } from './keys.js';
import type { AnyMetadata, Envelope, PublicKey, RoleKeys, RoleName, Signature } from './model.js';

const ED25519_SIGNATURE_BYTES = 64;
const P256_SIGNATURE_BYTES = 64;
const RSA_PSS_SALT_BYTES = 32;

// True when `signature` is a valid signature of `data` by `key`. The method must belong to
// the key's algorithm (Notary's verifier table): an 'eddsa' claim on an ECDSA key, or any
// unknown method, is invalid. Malformed signature bytes make node:crypto throw; that is an
// invalid signature, never an error that escapes.
export function isValidSignature(key: PublicKey, signature: Signature, data: Uint8Array): boolean {
  const { method, sig } = signature;
  try {
    switch (method) {
      case 'eddsa':
        return key.type === 'ed25519' && sig.length === ED25519_SIGNATURE_BYTES && verify(null, data, key.key, sig);
      case 'ecdsa':
        // Notary signs raw r||s (IEEE P1363), not DER; only that form is accepted.
        return (
          (key.type === 'ecdsa' || key.type === 'ecdsa-x509') &&
          sig.length === P256_SIGNATURE_BYTES &&
          verify('sha256', data, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig)
        );
      case 'rsapss':
        return (
          (key.type === 'rsa' || key.type === 'rsa-x509') &&
          verify('sha256', data, { key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: RSA_PSS_SALT_BYTES }, sig)
        );
      case 'rsapkcs1v15':
        return (
          (key.type === 'rsa' || key.type === 'rsa-x509') &&
          verify('sha256', data, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, sig)
        );
      default:
        return false;
    }
  } catch {
    return false;
  }
}

// Verifies `envelope.signatures` over `envelope.canonical` against the keys of `role` (only
// key IDs listed in role.keyIds, resolved through `keys`) and returns the IDs of the keys
// that validly signed, stopping as soon as role.threshold of them did.
//
// Security: a threshold counts keys, not signatures. A signer who repeats its signature, or
// a key listed under two IDs (e.g. as 'ecdsa' and as 'ecdsa-x509' of the same public key),
// counts once: distinct means distinct public key material (sameKey), whatever the ID
// (sigstore's containsDupes idea). Signatures by keys the role does not list are ignored, so
// a document cannot vouch for itself with keys it carries. Each distinct key gets one
// verification, its first signature (Notary signs once per key): repeated or padded
// signatures cost nothing more, so with the signature count bounded at decoding
// (decode.ts MAX_SIGNATURES) and key sizes bounded (keys.ts) one document's verification
// is bounded.
//
// Throws TRUST_THRESHOLD_NOT_MET when fewer than role.threshold distinct keys signed, or
// TRUST_SIGNATURE_INVALID instead when a listed key's signature also failed to verify
// (tampered content is then reported as such); role.threshold < 1 is TRUST_METADATA_INVALID.
export function verifyThreshold(
  envelope: Envelope<AnyMetadata>,
  keys: ReadonlyMap<string, PublicKey>,
  role: RoleKeys,
  roleName: RoleName,
): readonly string[] {
  if (!Number.isSafeInteger(role.threshold) || role.threshold < 1) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `${roleName} role: expected a threshold of at least 1, got ${role.threshold}`);
  }
  const listed = new Set(role.keyIds);
  const validKeyIds: string[] = [];
  const tried: PublicKey[] = [];
  let failed = 0;
  for (const signature of envelope.signatures) {
    if (validKeyIds.length >= role.threshold) break;
    const key = listed.has(signature.keyId) ? keys.get(signature.keyId) : undefined;
    if (!key || key.id !== signature.keyId || tried.some((other) => sameKey(other, key))) continue;
    tried.push(key);
    if (isValidSignature(key, signature, envelope.canonical)) validKeyIds.push(key.id);
    else failed += 1;
  }
  if (validKeyIds.length >= role.threshold) return validKeyIds;
  const counts = `expected ${role.threshold} valid signature(s) from distinct keys, got ${validKeyIds.length}`;
  if (failed > 0) {
    throw new TrustgateError(ErrorCode.TRUST_SIGNATURE_INVALID, `${roleName} signature does not verify: ${counts} (${failed} invalid)`);
  }
  throw new TrustgateError(ErrorCode.TRUST_THRESHOLD_NOT_MET, `${roleName} signature threshold not met: ${counts}`);
}

// True when `envelope` carries a valid signature by the key with this SPKI, whatever key ID
// or encoding (plain or x509) it is served under. Used for signer pinning.
export function isSignedBySpki(envelope: Envelope<AnyMetadata>, keys: ReadonlyMap<string, PublicKey>, spki: Uint8Array): boolean {
  return envelope.signatures.some((signature) => {
    const key = keys.get(signature.keyId);
    return key !== undefined && key.id === signature.keyId && sameSpki(key.spki, spki) && isValidSignature(key, signature, envelope.canonical);
  });
}
