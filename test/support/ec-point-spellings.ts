// One P-256 public key in the other spellings DER allows: its point compressed (02/03 || X)
// or hybrid (06/07 || X || Y) under the named curve. node reads them all as the same key.
import { ECDH, type KeyObject } from 'node:crypto';

const EC_PUBLIC_KEY_OID = '06072a8648ce3d0201';
const P256_OID = '06082a8648ce3d030107';

// The PEM SPKI of the P-256 `key` with its point written in `form`.
export function spellP256(key: KeyObject, form: 'compressed' | 'hybrid'): string {
  const jwk = key.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const spelled = ECDH.convertKey(point, 'prime256v1', undefined, undefined, form) as Buffer;
  const algorithm = `30${derLength((EC_PUBLIC_KEY_OID.length + P256_OID.length) / 2)}${EC_PUBLIC_KEY_OID}${P256_OID}`;
  const body = `${algorithm}03${derLength(spelled.length + 1)}00${spelled.toString('hex')}`;
  const der = Buffer.from(`30${derLength(body.length / 2)}${body}`, 'hex');
  return `-----BEGIN PUBLIC KEY-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PUBLIC KEY-----\n`;
}

// A DER length of under 256 bytes.
function derLength(length: number): string {
  return length < 128 ? length.toString(16).padStart(2, '0') : `81${length.toString(16).padStart(2, '0')}`;
}
