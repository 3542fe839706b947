// How many signature verifications verifyThreshold spends: node:crypto's verify is wrapped
// (still the real one) so each call is counted.
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { decodeTargets } from '../../../../shared/trust/notary/decode.js';
import { decodePublicKey } from '../../../../shared/trust/notary/keys.js';
import type { PublicKey } from '../../../../shared/trust/notary/model.js';
import { verifyThreshold } from '../../../../shared/trust/notary/signatures.js';
import { generateKey, signMetadata, type TestKey } from '../../../support/notary-builder.js';
import { errorCodeOf } from '../../../support/trustgate-errors.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, verify: vi.fn(actual.verify) };
});

const verifications = vi.mocked(crypto.verify);

const BODY = { _type: 'Targets', delegations: { keys: {}, roles: [] }, expires: '2030-01-01T00:00:00Z', targets: {}, version: 1 };

function keyMap(...keys: TestKey[]): Map<string, PublicKey> {
  return new Map(keys.map((key) => [key.id, decodePublicKey(key.type, key.publicBase64)]));
}

function bogus(key: TestKey): { keyid: string; method: string; sig: string } {
  return { keyid: key.id, method: key.method, sig: crypto.randomBytes(64).toString('base64') };
}

// The number of verifications one verifyThreshold call makes, and its error code if any.
function count(run: () => unknown): { calls: number; code: string | undefined } {
  verifications.mockClear();
  const code = errorCodeOf(run);
  return { calls: verifications.mock.calls.length, code };
}

describe('verifyThreshold', () => {
  describe('when one listed key carries many signatures', () => {
    it('verifies only its first one', () => {
      const key = generateKey('ecdsa');
      const envelope = decodeTargets(signMetadata(BODY, [], { extraSignatures: Array.from({ length: 40 }, () => bogus(key)) }));
      expect(count(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toEqual({
        calls: 1,
        code: ErrorCode.TRUST_SIGNATURE_INVALID,
      });
    });
  });

  describe('when the threshold is met before the last signature', () => {
    it('stops verifying', () => {
      const [a, b, c] = [generateKey('ecdsa'), generateKey('ed25519'), generateKey('ecdsa')];
      const envelope = decodeTargets(signMetadata(BODY, [a, b, c]));
      expect(count(() => verifyThreshold(envelope, keyMap(a, b, c), { keyIds: [a.id, b.id, c.id], threshold: 2 }, 'targets'))).toEqual({
        calls: 2,
        code: undefined,
      });
    });
  });

  describe('when the signatures are by many keys the role does not list', () => {
    it('verifies none of them', () => {
      const listed = generateKey('ecdsa');
      const strangers = Array.from({ length: 10 }, () => generateKey('ecdsa'));
      const envelope = decodeTargets(signMetadata(BODY, strangers));
      expect(count(() => verifyThreshold(envelope, keyMap(listed, ...strangers), { keyIds: [listed.id], threshold: 1 }, 'targets'))).toEqual({
        calls: 0,
        code: ErrorCode.TRUST_THRESHOLD_NOT_MET,
      });
    });
  });
});
