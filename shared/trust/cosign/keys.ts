// Public keys a cosign authority names: PEM SPKI, ECDSA P-256 or P-384, or RSA of at least
// 2048 bits, loaded with node:crypto. Ed25519 is refused: cosign signs Ed25519 keys as
// Ed25519ph in some paths and pure Ed25519 in others, so a signature could verify here and
// not in cosign (or the reverse); an authority must mean the same thing everywhere.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';

// A loaded key and the hash its signatures are made over.
export interface CosignKey {
  readonly key: KeyObject;
  readonly description: string;
}

const MAX_PEM_LENGTH = 16 * 1024;
const MIN_RSA_BITS = 2048;
const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: 'ECDSA P-256', secp384r1: 'ECDSA P-384' };

// Parses one PEM public key and checks it is a kind cosign keys come in. `where` names the
// key's origin (a Secret, a file) for the message.
export function loadCosignKey(pem: string, where: string): CosignKey {
  if (pem.length > MAX_PEM_LENGTH || !pem.trimStart().startsWith('-----BEGIN ')) {
    throw unsupported(`${where}: expected a PEM public key ("-----BEGIN PUBLIC KEY-----")`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new TrustgateError(ErrorCode.COSIGN_KEY_UNSUPPORTED, `${where}: not a readable PEM public key`, { cause: error });
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    const name = Object.hasOwn(EC_CURVES, curve) ? EC_CURVES[curve] : undefined;
    if (name === undefined) throw unsupported(`${where}: ECDSA curve ${curve || 'unknown'} is not supported, expected P-256 or P-384`);
    if (!isCanonicalEcSpki(key)) {
      throw unsupported(`${where}: ECDSA key must name its curve and give its point uncompressed (as cosign writes keys), got another encoding`);
    }
    return { key, description: name };
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw unsupported(`${where}: RSA key of ${bits} bits is too weak, expected at least ${MIN_RSA_BITS}`);
    return { key, description: `RSA ${bits}` };
  }
  if (type === 'ed25519') {
    throw unsupported(`${where}: Ed25519 keys are not supported (cosign's Ed25519 signing is inconsistent), expected ECDSA P-256/P-384 or RSA`);
  }
  throw unsupported(`${where}: ${type ?? 'unknown'} keys are not supported, expected ECDSA P-256/P-384 or RSA`);
}

// Whether an EC key is written as cosign (Go's crypto/x509) writes and reads it: the named
// curve, the point uncompressed (0x04 || X || Y).
// Security: node also reads a compressed or hybrid point and explicit curve parameters, and
// keeps that spelling; one key would then have several SPKIs, and anything comparing keys by
// their bytes would take it for several keys. Go's x509 refuses those spellings, so cosign
// could never use such a key: refusing it loses nothing and leaves one SPKI per key.
function isCanonicalEcSpki(key: KeyObject): boolean {
  try {
    const given = key.export({ type: 'spki', format: 'der' });
    const canonical = createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' }).export({ type: 'spki', format: 'der' });
    return given.equals(canonical);
  } catch {
    return false;
  }
}

// True when `signature` (DER ECDSA, or RSA PKCS#1 v1.5) is valid for SHA-256 of `payload`.
// A malformed signature is simply not valid: node:crypto throws on some encodings.
export function verifySignature(key: CosignKey, payload: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', payload, key.key, signature);
  } catch {
    return false;
  }
}

function unsupported(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.COSIGN_KEY_UNSUPPORTED, message);
}
