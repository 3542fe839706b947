// The carry-over key: a PEM PKCS#8 private key the team owns (optionally encrypted with a
// passphrase, as `openssl genpkey -aes256` writes it), of a kind cosign verifiers accept:
// ECDSA P-256/P-384 or RSA of at least 2048 bits (checked on its public half by the same
// rules the cosign verifier applies, so a signature made here verifies there).
// cosign's own encrypted format (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt + secretbox) is
// refused with a clear reason rather than half-supported.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../errors.js';
import { loadCosignKey } from '../trust/cosign/keys.js';

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  // 'ECDSA P-256', 'RSA 3072'.
  readonly description: string;
  // Hex SHA-256 of the public key's DER SPKI: the key hint bundles carry.
  readonly keyId: string;
}

const MAX_KEY_FILE_LENGTH = 16 * 1024;

export function loadSigningKey(pem: string, where: string, passphrase: string | undefined): SigningKey {
  if (pem.length > MAX_KEY_FILE_LENGTH) throw unsupported(`${where}: larger than a private key file can be`);
  if (pem.includes('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----') || pem.includes('-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----')) {
    throw unsupported(`${where}: cosign-encrypted keys are not read; give a PEM PKCS#8 key ("-----BEGIN PRIVATE KEY-----" or "-----BEGIN ENCRYPTED PRIVATE KEY-----")`);
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----') && !pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw unsupported(`${where}: expected a PEM PKCS#8 private key ("-----BEGIN PRIVATE KEY-----")`);
  }
  const encrypted = pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (encrypted && (passphrase === undefined || passphrase === '')) {
    throw unsupported(`${where} is encrypted: set its passphrase in COSIGN_PASSWORD`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (error) {
    throw new TrustgateError(ErrorCode.COSIGN_KEY_UNSUPPORTED, `${where}: not a readable private key${encrypted ? ' (or a wrong passphrase)' : ''}`, { cause: error });
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const { description } = loadCosignKey(publicKeyPem, where);
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  return { privateKey, publicKeyPem, description, keyId };
}

// A signature over SHA-256 of `data`: DER ECDSA, or RSA PKCS#1 v1.5, as cosign makes them.
export function signBytes(key: SigningKey, data: Uint8Array): Buffer {
  return sign('sha256', data, key.privateKey);
}

function unsupported(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.COSIGN_KEY_UNSUPPORTED, message);
}
