import { ECDH, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { decodeRoot, decodeTargets } from '../../../../shared/trust/notary/decode.js';
import { canonicalPublicKeyId, computeKeyId, decodePublicKey, publicKeyFromPem } from '../../../../shared/trust/notary/keys.js';
import type { KeyType } from '../../../../shared/trust/notary/model.js';
import { generateKey, generateRootCertKey } from '../../../support/notary-builder.js';
import { createSelfSignedCertificate, toPem } from '../../../support/x509-certificate.js';
import { errorCodeOf, thrownError } from '../../../support/trustgate-errors.js';
import { fixtureJson } from './notary-fixtures.js';

type ServedKeys = Record<string, { keytype: KeyType; keyval: { public: string } }>;

// The same P-256 key with its point compressed (SPKI of 59 bytes, which node accepts and keeps).
function compressedSpki(spkiBase64: string): Uint8Array {
  const spki = Buffer.from(spkiBase64, 'base64');
  const point = spki.subarray(spki.length - 65);
  const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
  return Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), compressed]);
}

// The same P-256 key with the curve spelled out as explicit parameters (RFC 3279
// ECParameters, as `openssl ec -param_enc explicit` writes them) instead of its name: node
// reads it as prime256v1 and keeps the explicit form.
const EXPLICIT_P256_SPKI_PREFIX =
  '3082014b3082010306072a8648ce3d02013081f7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff' +
  '305b0420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b' +
  '031500c49d360886e704936a6678e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb' +
  '4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101034200';

function explicitCurveSpki(spkiBase64: string): Uint8Array {
  const spki = Buffer.from(spkiBase64, 'base64');
  return Buffer.concat([Buffer.from(EXPLICIT_P256_SPKI_PREFIX, 'hex'), spki.subarray(spki.length - 65)]);
}

// An ecdsa-x509 key value: a self-signed certificate over the given SPKI.
function certificateOf(spki: Uint8Array): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const now = new Date('2026-01-01T00:00:00Z');
  const der = createSelfSignedCertificate(privateKey, publicKey, { commonNames: ['example.com/app'], notBefore: now, notAfter: new Date('2036-01-01T00:00:00Z'), hash: 'sha256' });
  return b64(toPem(der));
}

const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');
const spkiOf = (publicKey: { export(o: { type: 'spki'; format: 'der' }): Buffer }): string => b64(publicKey.export({ type: 'spki', format: 'der' }));

describe('computeKeyId', () => {
  describe('when given the keys of the real root and targets', () => {
    it('computes the IDs notary-server lists them under', () => {
      const rootKeys = fixtureJson('root.json').signed.keys as ServedKeys;
      const delegationKeys = (fixtureJson('targets.json').signed.delegations as { keys: ServedKeys }).keys;
      const all = Object.entries({ ...rootKeys, ...delegationKeys });
      expect(all).toHaveLength(6);
      for (const [id, key] of all) expect(computeKeyId(key.keytype, key.keyval.public)).toBe(id);
    });
  });
});

describe('decodePublicKey', () => {
  describe('when given a supported key', () => {
    it.each(['ed25519', 'ecdsa', 'rsa'] as const)('decodes a %s key with its ID and SPKI', (type) => {
      const key = generateKey(type);
      const decoded = decodePublicKey(key.type, key.publicBase64);
      expect(decoded).toMatchObject({ id: key.id, type, publicBase64: key.publicBase64 });
      expect(decoded.certificate).toBeUndefined();
      expect(b64(decoded.spki)).toBe(b64(publicKeyFromPem(key.publicKeyPem).spki));
    });

    it.each(['ecdsa', 'rsa'] as const)('decodes a %s-x509 certificate key to its public key', (algorithm) => {
      const key = generateRootCertKey('example.com/app', { algorithm });
      const decoded = decodePublicKey(key.type, key.publicBase64);
      expect(decoded.type).toBe(`${algorithm}-x509`);
      expect(decoded.certificate?.subject).toBe('CN=example.com/app');
      expect(b64(decoded.spki)).toBe(b64(publicKeyFromPem(key.publicKeyPem).spki));
    });
  });

  describe('when the key is not one Notary accepts', () => {
    // Public-only RSA keys: a real 2048-bit modulus with another exponent, or an odd number
    // of the given size as modulus. Nobody can sign with them; they only have to be listed.
    const modulus = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n ?? '';
    const hugeExponent = (BigInt(`0x${Buffer.from(modulus, 'base64url').toString('hex')}`) >> 1n) | 1n;
    const rsaWithExponent = (e: bigint): string =>
      spkiOf(createPublicKey({ key: { kty: 'RSA', n: modulus, e: Buffer.from(e.toString(16).padStart(2 * Math.ceil(e.toString(16).length / 2), '0'), 'hex').toString('base64url') }, format: 'jwk' }));
    const rsaWithModulusBits = (bits: number): string => {
      const n = randomBytes(Math.ceil(bits / 8));
      n[0] = (n[0] ?? 0) | 0x80;
      n[n.length - 1] = (n[n.length - 1] ?? 0) | 1;
      return spkiOf(createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' }));
    };
    const p384 = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
    const rsa1024 = spkiOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    const ed25519Spki = spkiOf(generateKeyPairSync('ed25519').publicKey);
    const ecdsaSpki = generateKey('ecdsa').publicBase64;
    const rsaCert = generateRootCertKey('example.com/app', { algorithm: 'rsa' }).publicBase64;
    const ecCert = generateRootCertKey('example.com/app').publicBase64;
    it.each([
      ['an unknown key type', 'dsa', ecdsaSpki],
      ['a non-base64 value', 'ecdsa', 'not base64!'],
      ['an ed25519 key of 31 bytes', 'ed25519', b64(new Uint8Array(31))],
      ['an ed25519 key given as SPKI', 'ed25519', ed25519Spki],
      ['an ecdsa P-384 key', 'ecdsa', p384],
      ['an ecdsa field holding an Ed25519 SPKI', 'ecdsa', ed25519Spki],
      ['an ecdsa field holding an RSA key', 'ecdsa', rsa1024],
      ['an rsa key of 1024 bits', 'rsa', rsa1024],
      ['an rsa field holding an ECDSA key', 'rsa', ecdsaSpki],
      ['garbage DER', 'ecdsa', b64(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))],
      ['an ecdsa-x509 key that is not PEM', 'ecdsa-x509', b64('hello')],
      ['an ecdsa-x509 key holding a PEM public key', 'ecdsa-x509', b64(generateKey('ecdsa').publicKeyPem)],
      ['an ecdsa-x509 key holding an RSA certificate', 'ecdsa-x509', rsaCert],
      ['an rsa-x509 key holding an ECDSA certificate', 'rsa-x509', ecCert],
      ['an x509 key holding two certificates', 'ecdsa-x509', b64(Buffer.from(ecCert, 'base64').toString() + Buffer.from(ecCert, 'base64').toString())],
      ['an rsa key with a public exponent above 2^31-1 (each verification far dearer)', 'rsa', rsaWithExponent(2n ** 31n + 1n)],
      ['an rsa key with a public exponent of nearly its modulus size', 'rsa', rsaWithExponent(hugeExponent)],
      ['an rsa key with a modulus above 8192 bits', 'rsa', rsaWithModulusBits(8200)],
      ['an ecdsa key with its point compressed', 'ecdsa', b64(compressedSpki(ecdsaSpki))],
      ['an ecdsa key with explicit curve parameters', 'ecdsa', b64(explicitCurveSpki(ecdsaSpki))],
      ['an ecdsa-x509 certificate of a compressed point', 'ecdsa-x509', certificateOf(compressedSpki(ecdsaSpki))],
    ])('rejects %s with TRUST_METADATA_INVALID', (_name, type, value) => {
      expect(errorCodeOf(() => decodePublicKey(type, value))).toBe(ErrorCode.TRUST_METADATA_INVALID);
    });

    it('does not repeat a key type the publisher chose', () => {
      const error = thrownError(() => decodePublicKey('APPROVED see https://evil.example', b64('x')));
      expect(error.code).toBe(ErrorCode.TRUST_METADATA_INVALID);
      expect(error.message).not.toContain('evil.example');
    });
  });
});

describe('publicKeyFromPem', () => {
  describe('when given a PEM public key', () => {
    it('returns the key and its SPKI', () => {
      const key = generateKey('ecdsa');
      const { key: keyObject, spki } = publicKeyFromPem(key.publicKeyPem);
      expect(keyObject.asymmetricKeyType).toBe('ec');
      expect(b64(spki)).toBe(key.publicBase64);
    });
  });

  describe('when given a PEM public key in another spelling of the same P-256 key', () => {
    it('returns the SPKI served keys are accepted in', () => {
      const key = generateKey('ecdsa');
      for (const spki of [compressedSpki(key.publicBase64), explicitCurveSpki(key.publicBase64)]) {
        const pem = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
        expect(b64(publicKeyFromPem(pem).spki)).toBe(key.publicBase64);
      }
    });
  });

  describe('when given a PEM certificate', () => {
    it('returns the certificate public key', () => {
      const key = generateRootCertKey('example.com/app');
      expect(b64(publicKeyFromPem(key.certificatePem ?? '').spki)).toBe(b64(publicKeyFromPem(key.publicKeyPem).spki));
    });
  });

  describe('when given something else', () => {
    const privatePem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    it.each([
      ['garbage', 'not a key'],
      ['a private key', privatePem],
      ['a corrupted public key', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'],
      ['a corrupted certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    ])('rejects %s with CONFIG_INVALID', (_name, pem) => {
      expect(errorCodeOf(() => publicKeyFromPem(pem))).toBe(ErrorCode.CONFIG_INVALID);
    });
  });
});

describe('canonicalPublicKeyId', () => {
  describe('when the key is an x509 certificate key', () => {
    it('is the ID the same public key has as a plain ecdsa key', () => {
      const root = decodeRoot(new TextEncoder().encode(JSON.stringify(fixtureJson('root.json')))).signed;
      const certKey = root.keys.get(root.roles.root.keyIds[0] ?? '');
      expect(certKey?.type).toBe('ecdsa-x509');
      if (!certKey) return;
      const plainId = computeKeyId('ecdsa', b64(certKey.spki));
      expect(canonicalPublicKeyId(certKey)).toBe(plainId);
      expect(plainId).not.toBe(certKey.id);
    });

    it.each([
      ['ec', 'ecdsa-x509'],
      ['rsa', 'rsa-x509'],
    ] as const)('is the same for a renewed certificate of one %s key', (algorithm, type) => {
      const { privateKey, publicKey } =
        algorithm === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const certificate = (notBefore: string, notAfter: string): string =>
        b64(toPem(createSelfSignedCertificate(privateKey, publicKey, { commonNames: ['example.com/app'], notBefore: new Date(notBefore), notAfter: new Date(notAfter), hash: 'sha256' })));
      const original = decodePublicKey(type, certificate('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'));
      const renewed = decodePublicKey(type, certificate('2027-01-01T00:00:00Z', '2037-01-01T00:00:00Z'));
      expect(renewed.id).not.toBe(original.id);
      expect(canonicalPublicKeyId(renewed)).toBe(canonicalPublicKeyId(original));
      expect(canonicalPublicKeyId(original)).toBe(computeKeyId(algorithm === 'ec' ? 'ecdsa' : 'rsa', spkiOf(publicKey)));
    });
  });

  describe('when the key is a plain key', () => {
    it('is its key ID', () => {
      const targets = decodeTargets(new TextEncoder().encode(JSON.stringify(fixtureJson('targets.json')))).signed;
      const alice = targets.delegations.keys.get('2c945ef6e99168475c7463bbb1e794887aed0833d60200f3dbe84189b4da058d');
      expect(alice && canonicalPublicKeyId(alice)).toBe('2c945ef6e99168475c7463bbb1e794887aed0833d60200f3dbe84189b4da058d');
    });
  });
});

describe('decodePublicKey on arbitrary input', () => {
  it('returns a key or throws TRUST_METADATA_INVALID, nothing else', () => {
    const types = fc.constantFrom('ed25519', 'ecdsa', 'rsa', 'ecdsa-x509', 'rsa-x509', 'other');
    const values = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 300 }).map((bytes) => b64(bytes)));
    fc.assert(
      fc.property(types, values, (type, value) => {
        const code = errorCodeOf(() => decodePublicKey(type, value));
        return code === undefined || code === ErrorCode.TRUST_METADATA_INVALID;
      }),
    );
  });
});
