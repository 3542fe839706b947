import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../../shared/migrate/signing-key.js';
import { thrownError } from '../../support/trustgate-errors.js';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('loadSigningKey', () => {
  it('reads a PEM PKCS#8 ECDSA P-256 key and derives its public half', () => {
    const key = loadSigningKey(p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'key file', undefined);

    expect(key.description).toBe('ECDSA P-256');
    expect(key.publicKeyPem).toBe(p256.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  });

  describe('when the key is encrypted PKCS#8', () => {
    const pem = p256.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();

    it('reads it with its passphrase', () => {
      expect(loadSigningKey(pem, 'key file', 'secret').description).toBe('ECDSA P-256');
    });

    it('refuses it without one, or with a wrong one, with COSIGN_KEY_UNSUPPORTED', () => {
      expect(thrownError(() => loadSigningKey(pem, 'key file', undefined)).code).toBe('COSIGN_KEY_UNSUPPORTED');
      expect(thrownError(() => loadSigningKey(pem, 'key file', 'wrong')).code).toBe('COSIGN_KEY_UNSUPPORTED');
    });
  });

  it('refuses cosign-encrypted keys with COSIGN_KEY_UNSUPPORTED', () => {
    const pem = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n';

    expect(thrownError(() => loadSigningKey(pem, 'key file', 'secret')).code).toBe('COSIGN_KEY_UNSUPPORTED');
  });

  it('refuses Ed25519 keys, whose cosign signatures mean different things in different paths', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    expect(thrownError(() => loadSigningKey(ed, 'key file', undefined)).code).toBe('COSIGN_KEY_UNSUPPORTED');
  });

  it('refuses a public key given in place of the private one', () => {
    expect(thrownError(() => loadSigningKey(p256.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'key file', undefined)).code).toBe('COSIGN_KEY_UNSUPPORTED');
  });
});
