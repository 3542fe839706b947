// A simple signing signature checked against a keyring: the real signature skopeo wrote (the
// fixture), signatures made here with openpgp for keys that are wrong, expired or revoked,
// and hostile packet streams (tampered, truncated, a decompression bomb).
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { describe, expect, it } from 'vitest';
import { rejectionCodeOf } from '../../../support/trustgate-errors.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { readKeyring } from '../../../../shared/trust/simple/keyring.js';
import { unwrapSignedMessage } from '../../../../shared/trust/simple/packets.js';
import { decodeSimplePayload } from '../../../../shared/trust/simple/payload.js';
import { verifySimpleSignature } from '../../../../shared/trust/simple/signature.js';

const FIXTURES = new URL('../../../fixtures/simple-signing/', import.meta.url);
const SAMPLE_SIGNATURE = new Uint8Array(readFileSync(new URL('simple-signing-signature-1.bin', FIXTURES)));
const SAMPLE_KEY = new Uint8Array(readFileSync(new URL('simple-signing-pubkey.asc', FIXTURES)));
const SAMPLE_DIGEST = 'sha256:9fbbd45da42addf3b820839b5622b86ce2ae7c04c46896f5ea05d283becd5f7a';
// After the sample was signed (2026-11-27); every check below uses a fixed instant.
const NOW = new Date('2026-12-01T00:00:00Z');
const T0 = new Date('2026-01-01T00:00:00Z');
const encoder = new TextEncoder();


async function generate(options: { keyExpirationTime?: number } = {}) {
  return openpgp.generateKey({ type: 'ecc', userIDs: [{ name: 'signer', email: 'signer@example.com' }], date: T0, format: 'object', ...options });
}

// Signs `payload` as gpg does: a signed message inside a ZIP-compressed data packet.
async function sign(privateKey: openpgp.PrivateKey, payload: Uint8Array, date: Date): Promise<Uint8Array> {
  const message = await openpgp.createMessage({ binary: payload, format: 'binary' });
  const signed: unknown = await openpgp.sign({ message, signingKeys: privateKey, format: 'binary', date });
  const inner = deflateRawSync(signed as Uint8Array);
  return new Uint8Array([0xa3, 0x01, ...inner]);
}

async function keyringOf(...keys: openpgp.Key[]) {
  const armored = keys.map((key) => key.armor()).join('\n');
  return readKeyring(`test ring ${Math.random()}`, encoder.encode(armored));
}

function payloadFor(digest: string): Uint8Array {
  return encoder.encode(JSON.stringify({ critical: { identity: { 'docker-reference': 'reg.example.com/app:v1' }, image: { 'docker-manifest-digest': digest }, type: 'atomic container signature' }, optional: {} }));
}

describe('verifySimpleSignature', () => {
  describe('with the signature skopeo wrote and its public key', () => {
    it('returns the signed payload and the signing key fingerprint', async () => {
      const keyring = await readKeyring('sample', SAMPLE_KEY);
      const verified = await verifySimpleSignature(SAMPLE_SIGNATURE, keyring, NOW);
      expect(verified.fingerprint).toBe('3882DFBD03B33E301AC8EE96A15AA16F8A4B4E93');
      expect(decodeSimplePayload(verified.payload)).toEqual({ dockerReference: '127.0.0.1:5000/lab/signed:v1', manifestDigest: SAMPLE_DIGEST });
    });
  });

  describe('when the signature was made by a key not in the keyring', () => {
    it('rejects with SIMPLE_SIGNATURE_INVALID', async () => {
      const other = await generate();
      expect(await rejectionCodeOf(verifySimpleSignature(SAMPLE_SIGNATURE, await keyringOf(other.publicKey), NOW))).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
    });
  });

  describe('when any key of a ring of several signed', () => {
    it('accepts it', async () => {
      const other = await generate();
      const sample = await readKeyring('sample', SAMPLE_KEY);
      const keyring = { source: 'ring', keys: [other.publicKey, ...sample.keys] };
      expect((await verifySimpleSignature(SAMPLE_SIGNATURE, keyring, NOW)).fingerprint).toBe('3882DFBD03B33E301AC8EE96A15AA16F8A4B4E93');
    });
  });

  describe('when a byte of the signed payload was changed', () => {
    it('rejects with SIMPLE_SIGNATURE_INVALID', async () => {
      const { privateKey, publicKey } = await generate();
      const message = await openpgp.createMessage({ binary: payloadFor(SAMPLE_DIGEST), format: 'binary' });
      const made: unknown = await openpgp.sign({ message, signingKeys: privateKey, format: 'binary', date: T0 });
      const signed = new Uint8Array(made as Uint8Array);
      // The digest's last hex digit sits inside the literal data packet.
      const at = Buffer.from(signed).indexOf('5f7a');
      signed[at] = '6'.charCodeAt(0);
      expect(await rejectionCodeOf(verifySimpleSignature(signed, await keyringOf(publicKey), NOW))).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
    });

    it('rejects the sample with a flipped bit in its compressed stream', async () => {
      const tampered = new Uint8Array(SAMPLE_SIGNATURE);
      tampered[100] = (tampered[100] ?? 0) ^ 0x01;
      expect(await rejectionCodeOf(verifySimpleSignature(tampered, await readKeyring('sample', SAMPLE_KEY), NOW))).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
    });
  });

  describe('when the signing key has expired by now', () => {
    it('rejects with SIMPLE_SIGNATURE_INVALID although it was valid when it signed', async () => {
      const { privateKey, publicKey } = await generate({ keyExpirationTime: 3600 });
      const signature = await sign(privateKey, payloadFor(SAMPLE_DIGEST), new Date(T0.getTime() + 60_000));
      const keyring = await keyringOf(publicKey);
      await expect(verifySimpleSignature(signature, keyring, new Date(T0.getTime() + 120_000))).resolves.toMatchObject({ fingerprint: publicKey.getFingerprint().toUpperCase() });
      expect(await rejectionCodeOf(verifySimpleSignature(signature, keyring, new Date(T0.getTime() + 7_200_000)))).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
    });
  });

  describe('when the signing key was revoked after it signed', () => {
    it('rejects with SIMPLE_SIGNATURE_INVALID', async () => {
      const { privateKey } = await generate();
      const signature = await sign(privateKey, payloadFor(SAMPLE_DIGEST), new Date(T0.getTime() + 60_000));
      const { publicKey: revoked } = await openpgp.revokeKey({ key: privateKey, format: 'object', date: new Date(T0.getTime() + 120_000) });
      expect(await rejectionCodeOf(verifySimpleSignature(signature, await keyringOf(revoked), new Date(T0.getTime() + 3_600_000)))).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
    });
  });
});

describe('unwrapSignedMessage', () => {
  it('refuses a compressed packet that inflates past the cap (a decompression bomb)', () => {
    const bomb = new Uint8Array([0xa3, 0x01, ...deflateRawSync(new Uint8Array(16 * 1024 * 1024))]);
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(() => unwrapSignedMessage(bomb)).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_SIGNATURE_INVALID }) as Error);
  });

  it('refuses a signature larger than the cap before parsing it', () => {
    const large = new Uint8Array(64 * 1024 + 1).fill(0xa3);
    expect(() => unwrapSignedMessage(large)).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_SIGNATURE_INVALID, message: expect.stringContaining('65537 bytes') as string }) as Error);
  });

  it('refuses a packet whose length runs past the end of the data', () => {
    // New-format literal data packet claiming 100 bytes, holding 3.
    expect(() => unwrapSignedMessage(new Uint8Array([0xcb, 100, 1, 2, 3]))).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_SIGNATURE_INVALID }) as Error);
  });

  it('refuses a packet stream that is not a signed message (a public key)', async () => {
    const { publicKey } = await generate();
    expect(() => unwrapSignedMessage(publicKey.write())).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_SIGNATURE_INVALID }) as Error);
  });

  it('refuses BZip2 compression', () => {
    expect(() => unwrapSignedMessage(new Uint8Array([0xa3, 0x03, 0x42, 0x5a]))).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_SIGNATURE_INVALID }) as Error);
  });

  it('answers only our codes for arbitrary bytes', () => {
    for (let seed = 0; seed < 200; seed += 1) {
      const bytes = new Uint8Array(1 + (seed % 40)).map((_, index) => (seed * 31 + index * 17) & 0xff);
      try {
        unwrapSignedMessage(bytes);
      } catch (error) {
        expect((error as TrustgateError).code).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
      }
    }
  });
});

describe('readKeyring', () => {
  it('refuses text that is not a keyring with POLICY_INVALID naming its source', async () => {
    const error = await readKeyring('secret "team/k" key "key" (simple.requirements[0].keySecret)', encoder.encode('not a key')).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: ErrorCode.POLICY_INVALID, message: expect.stringContaining('simple.requirements[0].keySecret') as string });
  });

  it('refuses a private key with POLICY_INVALID', async () => {
    const { privateKey } = await generate();
    const error = await readKeyring('private', encoder.encode(privateKey.armor())).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: ErrorCode.POLICY_INVALID });
  });

  it('reads a binary keyring', async () => {
    const { publicKey } = await generate();
    const keyring = await readKeyring('binary', publicKey.write());
    expect(keyring.keys.map((key) => key.getFingerprint())).toEqual([publicKey.getFingerprint()]);
  });
});
