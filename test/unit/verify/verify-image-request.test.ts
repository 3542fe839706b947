import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodeVerifyImageRequest } from '../../../shared/verify/verify-image-request.js';
import { thrownError } from '../../support/trustgate-errors.js';

const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function problemsOf(input: unknown): string[] {
  const error = thrownError(() => decodeVerifyImageRequest(input));
  expect(error.code).toBe(ErrorCode.REQUEST_INVALID);
  return error.problems.map((p) => p.path);
}

describe('decodeVerifyImageRequest', () => {
  describe('when the request is well formed', () => {
    it('decodes image, server, signers and root key IDs', () => {
      const request = decodeVerifyImageRequest({
        image: 'nginx',
        trust: { server: 'https://notary.example.com/', signers: [{ name: 'alice', publicKey: pem }], rootKeyIds: ['a'.repeat(64)] },
      });
      expect(request).toEqual({
        kind: 'explicit',
        image: 'nginx',
        trust: { server: 'https://notary.example.com', signers: [{ name: 'alice', publicKeyPem: pem }], rootKeyIds: ['a'.repeat(64)] },
      });
    });

    it('defaults the trust section to no server, no signers and no pinned keys', () => {
      expect(decodeVerifyImageRequest({ image: 'nginx' })).toEqual({ kind: 'explicit', image: 'nginx', trust: { signers: [], rootKeyIds: [] } });
    });
  });

  describe('when the request names a namespace', () => {
    it('decodes the policy form', () => {
      expect(decodeVerifyImageRequest({ image: 'nginx', namespace: 'team-a' })).toEqual({ kind: 'policy', image: 'nginx', namespace: 'team-a' });
    });

    it('refuses a namespace together with an explicit trust section', () => {
      expect(problemsOf({ image: 'nginx', namespace: 'team-a', trust: {} })).toEqual(['trust']);
    });

    it('refuses a namespace that is not a Kubernetes name', () => {
      expect(problemsOf({ image: 'nginx', namespace: 'Team_A' })).toEqual(['namespace']);
    });
  });

  describe('when fields are malformed', () => {
    it('lists every bad field at once', () => {
      const paths = problemsOf({
        image: 7,
        extra: true,
        trust: { server: 'ftp://x', signers: [{ name: '../x', publicKey: 'nope' }], rootKeyIds: ['ABC'] },
      });
      expect(paths).toEqual(
        expect.arrayContaining(['image', 'extra', 'trust.server', 'trust.signers[0].name', 'trust.signers[0].publicKey', 'trust.rootKeyIds[0]']),
      );
    });

    it('refuses a body that is not an object', () => {
      expect(problemsOf([1, 2])).toEqual(['']);
    });

    it('refuses a plain-http trust server that is not on loopback', () => {
      expect(problemsOf({ image: 'nginx', trust: { server: 'http://notary.example.com' } })).toEqual(['trust.server']);
    });
  });
});

describe('decodeVerifyImageRequest with registry credentials', () => {
  it('reads registryCredentials in the policy form', () => {
    const request = decodeVerifyImageRequest({ image: 'reg.example/app', namespace: 'team', registryCredentials: [{ registry: 'reg.example', username: 'u', password: 'p' }] });
    expect(request).toMatchObject({ kind: 'policy', credentials: [{ key: 'reg.example', credential: { username: 'u', password: 'p' } }] });
  });

  it('refuses them in the explicit form, and entries without a usable credential, naming no value', () => {
    for (const input of [
      { image: 'reg.example/app', registryCredentials: [{ registry: 'reg.example', username: 'u', password: 'pw-x1' }] },
      { image: 'reg.example/app', namespace: 'team', registryCredentials: [{ registry: 'reg.example', password: 'pw-x1' }] },
      { image: 'reg.example/app', namespace: 'team', registryCredentials: [{ registry: 'reg.example', username: 'u', password: 'pw-x1\r\nX: y' }] },
    ]) {
      const error = thrownError(() => decodeVerifyImageRequest(input));
      expect(error.code).toBe(ErrorCode.REQUEST_INVALID);
      expect(error.message).not.toContain('pw-x1');
    }
  });
});
