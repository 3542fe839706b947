// One public key, many spellings: keys are told apart by their numbers, and a cosign key is
// accepted only in the one spelling cosign itself reads.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { loadCosignKey } from '../../../shared/trust/cosign/keys.js';
import { keyIdentity } from '../../../shared/trust/key-identity.js';
import { spellP256 } from '../../support/ec-point-spellings.js';

const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const uncompressedPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const compressedPem = spellP256(pair.publicKey, 'compressed');
const hybridPem = spellP256(pair.publicKey, 'hybrid');

describe('key identity', () => {
  it('is the same for one P-256 key written with an uncompressed, compressed or hybrid point', () => {
    const spellings = [uncompressedPem, compressedPem, hybridPem].map((pem) => createPublicKey(pem));

    expect(new Set(spellings.map((key) => key.export({ type: 'spki', format: 'der' }).toString('hex'))).size).toBe(3);
    expect(new Set(spellings.map(keyIdentity)).size).toBe(1);
  });

  it('is the same for one RSA key written as PKCS#1 or SPKI', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const pkcs1 = createPublicKey(rsa.export({ type: 'pkcs1', format: 'pem' }).toString());

    expect(keyIdentity(pkcs1)).toBe(keyIdentity(rsa));
  });

  it('tells two keys apart', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

    expect(keyIdentity(other)).not.toBe(keyIdentity(pair.publicKey));
  });
});

describe('loading a cosign key', () => {
  it('accepts a key cosign generated, and P-256 and P-384 keys with uncompressed points', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

    expect(loadCosignKey(readFileSync(new URL('../../fixtures/cosign/cosign.pub', import.meta.url), 'utf8'), 'fixture').description).toBe('ECDSA P-256');
    expect(loadCosignKey(uncompressedPem, 'key').description).toBe('ECDSA P-256');
    expect(loadCosignKey(p384, 'key').description).toBe('ECDSA P-384');
  });

  it.each([
    ['a compressed point', compressedPem],
    ['a hybrid point', hybridPem],
  ])('refuses a key written with %s, which cosign cannot read (COSIGN_KEY_UNSUPPORTED)', (_what, pem) => {
    expect(() => loadCosignKey(pem, 'key')).toThrow(expect.objectContaining({ code: ErrorCode.COSIGN_KEY_UNSUPPORTED }));
  });
});
