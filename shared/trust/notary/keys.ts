// Notary v1 public keys: key IDs, decoding of every served key type into a verifying
// KeyObject, and PEM keys configured for signer pinning.
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { keyIdentity } from '../key-identity.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { KEY_TYPES, type KeyType, type PublicKey } from './model.js';

const P256 = 'prime256v1';
const MIN_RSA_BITS = 2048;
// Security: an RSA verification costs in proportion to the modulus size and the bit length
// of the public exponent, and the publisher chooses both. A 3072-bit key with a 3071-bit
// exponent costs thousands of times what a real one does (notary makes 2048 to 4096-bit
// keys with exponent 65537). Go's crypto/rsa refuses exponents above 2^31-1; so does
// trustgate, and moduli above 8192 bits.
const MAX_RSA_BITS = 8192;
const MAX_RSA_EXPONENT = 2n ** 31n - 1n;
// A P-256 key as Go's x509 (and so Notary) accepts it: the named-curve OID, then the point
// uncompressed (0x04 || X || Y). The only SPKI of a P-256 key trustgate accepts.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');
const P256_SPKI_BYTES = P256_SPKI_PREFIX.length + 64;
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

// Notary's key ID: hex sha256 of the canonical JSON of the key with its private part null.
// It is computed, never trusted from the document, so an ID always names one key.
export function computeKeyId(type: KeyType, publicBase64: string): string {
  const canonical = canonicalize({ keytype: type, keyval: { private: null, public: publicBase64 } });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

// Decodes keyval.public of a served key. Only the algorithms Notary signs with are accepted
// (Ed25519, ECDSA P-256, RSA >= 2048 bits): anything weaker or unexpected is refused here
// rather than left for the verifier to half-handle.
export function decodePublicKey(type: string, publicBase64: string): PublicKey {
  // The type is the publisher's text: name it only when it is one of ours.
  if (!isKeyType(type)) throw invalidKey(`unsupported key type: expected one of ${KEY_TYPES.join(', ')}, got another`);
  const bytes = decodeBase64(publicBase64);
  if (!bytes) throw invalidKey(`${type} key is not valid base64`);
  const id = computeKeyId(type, publicBase64);
  switch (type) {
    case 'ed25519': {
      if (bytes.length !== 32) throw invalidKey(`ed25519 key: expected 32 bytes, got ${bytes.length}`);
      const spki = new Uint8Array([...ED25519_SPKI_PREFIX, ...bytes]);
      return { id, type, publicBase64, ...keyFromSpki(spki, 'ed25519') };
    }
    case 'ecdsa':
    case 'rsa':
      return { id, type, publicBase64, ...keyFromSpki(bytes, type) };
    case 'ecdsa-x509':
    case 'rsa-x509': {
      const certificate = parseCertificatePem(new TextDecoder().decode(bytes));
      if (!certificate) throw invalidKey(`${type} key is not a PEM certificate`);
      const spki = exportSpki(certificate.publicKey);
      assertKeyStrength(certificate.publicKey, spki, type === 'ecdsa-x509' ? 'ecdsa' : 'rsa');
      return { id, type, publicBase64, key: certificate.publicKey, certificate, spki };
    }
  }
}

// Parsed configured keys by PEM text. Signer secrets come from configuration and repeat on
// every admission, so each distinct PEM is parsed once; bounded, in case configuration
// churns. Only successful parses are kept: a bad PEM is refused every time.
const parsedPems = createBoundedMemo<string, { readonly key: KeyObject; readonly spki: Uint8Array }>(256);

// A PEM public key or PEM certificate from configuration (signer secrets), as the key and
// its SPKI so it can be matched against served keys of any encoding. The result is shared
// between callers: read it, never modify it.
export function publicKeyFromPem(pem: string): { readonly key: KeyObject; readonly spki: Uint8Array } {
  const known = parsedPems.get(pem);
  if (known !== undefined) return known;
  const parsed = parsePublicKeyPem(pem);
  parsedPems.set(pem, parsed);
  return parsed;
}

function parsePublicKeyPem(pem: string): { readonly key: KeyObject; readonly spki: Uint8Array } {
  if (/-----BEGIN CERTIFICATE-----/.test(pem)) {
    const certificate = parseCertificatePem(pem);
    if (!certificate) throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'signer key: expected a PEM certificate, got an unreadable one');
    return { key: certificate.publicKey, spki: normalisedSpki(certificate.publicKey) };
  }
  // Only a public key block: a private key pasted into configuration is refused, not used.
  if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'signer key: expected a PEM public key or certificate');
  }
  try {
    const key = createPublicKey({ key: pem, format: 'pem' });
    return { key, spki: normalisedSpki(key) };
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'signer key: expected a PEM public key, got an unreadable one', { cause: error });
  }
}

// Notary's "canonical key ID": an x509 key is identified by the ID its bare public key would
// have as a plain 'ecdsa'/'rsa' key, so a pinned key ID survives certificate renewal.
export function canonicalPublicKeyId(key: PublicKey): string {
  if (key.type === 'ecdsa-x509') return computeKeyId('ecdsa', encodeBase64(key.spki));
  if (key.type === 'rsa-x509') return computeKeyId('rsa', encodeBase64(key.spki));
  return key.id;
}

// Byte equality of two SPKIs (public keys are not secret: no constant-time need).
export function sameSpki(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

// True when two keys are the same public key, whatever key ID or encoding they came under.
// Compared by their numbers (keyIdentity), not their DER: a threshold must not count one key
// twice because it was spelled twice.
export function sameKey(a: PublicKey, b: PublicKey): boolean {
  return a.key === b.key || keyIdentity(a.key) === keyIdentity(b.key);
}

// The SPKI of a configured key (signer secrets) in the one form served keys are accepted in
// (an EC point uncompressed under the named curve), so a key configured in another spelling
// of the same numbers still matches.
function normalisedSpki(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ec') return exportSpki(key);
  try {
    return exportSpki(createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' }));
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'signer key: expected an EC key on a named curve, got another', { cause: error });
  }
}

function keyFromSpki(spki: Uint8Array, kind: 'ed25519' | 'ecdsa' | 'rsa'): { key: KeyObject; spki: Uint8Array } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw invalidKey(`${kind} key is not a DER SubjectPublicKeyInfo`, error);
  }
  // Re-exported so equal keys compare equal whatever encoding they were served in.
  const exported = exportSpki(key);
  assertKeyStrength(key, exported, kind);
  return { key, spki: exported };
}

// `spki` is `key` exported (node keeps the point form and curve encoding it was given).
function assertKeyStrength(key: KeyObject, spki: Uint8Array, kind: 'ed25519' | 'ecdsa' | 'rsa'): void {
  const details = key.asymmetricKeyDetails ?? {};
  if (kind === 'ed25519' && key.asymmetricKeyType !== 'ed25519') {
    throw invalidKey(`ed25519 key: expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  if (kind === 'ecdsa' && (key.asymmetricKeyType !== 'ec' || details.namedCurve !== P256)) {
    throw invalidKey(`ecdsa key: expected a P-256 key, got ${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? ''}`.trim());
  }
  // Security: node accepts a compressed point and explicit curve parameters, and keeps them;
  // one key in two spellings would be two SPKIs, two key IDs, and (compared by SPKI) two
  // signers toward a threshold. Go's x509 accepts neither; nor does trustgate.
  if (kind === 'ecdsa' && !(spki.length === P256_SPKI_BYTES && P256_SPKI_PREFIX.equals(spki.subarray(0, P256_SPKI_PREFIX.length)))) {
    throw invalidKey('ecdsa key: expected the P-256 named curve and an uncompressed point, got another encoding');
  }
  if (kind === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
      throw invalidKey(`rsa key: expected an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, got ${key.asymmetricKeyType ?? 'unknown'} ${bits} bits`);
    }
    const exponent = details.publicExponent ?? 0n;
    if (exponent < 3n || exponent > MAX_RSA_EXPONENT) {
      throw invalidKey(`rsa key: expected a public exponent from 3 to 2^31-1, got one of ${exponent.toString(2).length} bits`);
    }
  }
}

// One certificate in PEM and nothing else; undefined when node cannot read it.
function parseCertificatePem(pem: string): X509Certificate | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function exportSpki(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

function invalidKey(message: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, message, cause === undefined ? {} : { cause });
}
