// One spelling per public key: its numbers, whatever DER, PEM or point encoding it came in.
import { type KeyObject } from 'node:crypto';

const identities = new WeakMap<KeyObject, string>();

// A public key's numbers, one spelling per key: curve and point for EC (JWK x, y), modulus and
// exponent for RSA, the 32 bytes of an Ed25519 key.
// Security: DER is not one spelling per key. An EC point may be written uncompressed,
// compressed or hybrid, and its curve named or given by explicit parameters; node keeps the
// spelling it was given, so two SPKIs can hold one key. Keys that must be told apart (one
// authority counted once, the carry-over key found wherever it is trusted) are compared by
// this identity, never by their bytes.
export function keyIdentity(key: KeyObject): string {
  let identity = identities.get(key);
  if (identity === undefined) {
    const jwk = key.export({ format: 'jwk' });
    identity = JSON.stringify([jwk.kty, jwk.crv ?? null, jwk.x ?? null, jwk.y ?? null, jwk.n ?? null, jwk.e ?? null]);
    identities.set(key, identity);
  }
  return identity;
}
