import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { decodeSnapshot, decodeTimestamp } from '../../../../shared/trust/notary/decode.js';
import { assertFileMeta, sha256Hex } from '../../../../shared/trust/notary/hashes.js';
import type { FileMeta } from '../../../../shared/trust/notary/model.js';
import { errorCodeOf, thrownError } from '../../../support/trustgate-errors.js';
import { readFixture, toBytes } from './notary-fixtures.js';

const content = toBytes('{"signed":{}}');
const digest = (name: string, bytes: Uint8Array): Uint8Array => new Uint8Array(createHash(name).update(bytes).digest());

function meta(length: number, hashes: Record<string, Uint8Array>): FileMeta {
  return { length, hashes: new Map(Object.entries(hashes)) };
}

describe('sha256Hex', () => {
  it('returns the lower-case hex digest', () => {
    expect(sha256Hex(toBytes('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('assertFileMeta', () => {
  describe('when given the real snapshot and the meta the real timestamp records for it', () => {
    it('accepts it', () => {
      const { snapshot } = decodeTimestamp(readFixture('timestamp.json')).signed;
      expect(() => assertFileMeta(readFixture('snapshot.json'), snapshot, 'snapshot')).not.toThrow();
    });

    it('accepts the real delegations against the snapshot', () => {
      const { meta: snapshotMeta } = decodeSnapshot(readFixture('snapshot.json')).signed;
      for (const role of ['root', 'targets', 'targets/releases', 'targets/alice']) {
        const expected = snapshotMeta.get(role);
        expect(expected).toBeDefined();
        if (expected) expect(() => assertFileMeta(readFixture(`${role}.json`), expected, role)).not.toThrow();
      }
    });
  });

  describe('when only sha256 is recorded and it matches', () => {
    it('accepts it', () => {
      expect(() => assertFileMeta(content, meta(content.length, { sha256: digest('sha256', content) }), 'targets')).not.toThrow();
    });
  });

  describe('when an unsupported hash is recorded beside a matching sha256', () => {
    it('ignores the unsupported one', () => {
      const expected = meta(content.length, { sha256: digest('sha256', content), md5: new Uint8Array(16) });
      expect(() => assertFileMeta(content, expected, 'targets')).not.toThrow();
    });
  });

  describe('when the length differs', () => {
    it('rejects with TRUST_HASH_MISMATCH', () => {
      const longer = toBytes('{"signed":{}} ');
      const expected = meta(content.length, { sha256: digest('sha256', longer), sha512: digest('sha512', longer) });
      expect(errorCodeOf(() => assertFileMeta(longer, expected, 'snapshot'))).toBe(ErrorCode.TRUST_HASH_MISMATCH);
    });
  });

  describe('when the sha256 differs', () => {
    it('rejects with TRUST_HASH_MISMATCH', () => {
      const other = toBytes('{"signed":[]}');
      expect(other.length).toBe(content.length);
      const expected = meta(content.length, { sha256: digest('sha256', other) });
      expect(errorCodeOf(() => assertFileMeta(content, expected, 'snapshot'))).toBe(ErrorCode.TRUST_HASH_MISMATCH);
    });
  });

  describe('when the sha256 matches but the sha512 differs', () => {
    it('rejects with TRUST_HASH_MISMATCH', () => {
      const expected = meta(content.length, { sha256: digest('sha256', content), sha512: digest('sha512', toBytes('other')) });
      expect(errorCodeOf(() => assertFileMeta(content, expected, 'snapshot'))).toBe(ErrorCode.TRUST_HASH_MISMATCH);
    });
  });

  describe('when the sha512 matches but the sha256 differs', () => {
    it('rejects with TRUST_HASH_MISMATCH', () => {
      const expected = meta(content.length, { sha256: digest('sha256', toBytes('other')), sha512: digest('sha512', content) });
      expect(errorCodeOf(() => assertFileMeta(content, expected, 'snapshot'))).toBe(ErrorCode.TRUST_HASH_MISMATCH);
    });
  });

  describe('when no supported hash is recorded', () => {
    it.each([{}, { md5: new Uint8Array(16) }])('rejects %j with TRUST_METADATA_INVALID', (hashes) => {
      expect(errorCodeOf(() => assertFileMeta(content, meta(content.length, hashes), 'snapshot'))).toBe(ErrorCode.TRUST_METADATA_INVALID);
    });

    it('does not repeat the hash names the publisher chose', () => {
      const error = thrownError(() => assertFileMeta(content, meta(content.length, { 'APPROVED see https://evil.example': new Uint8Array(16) }), 'snapshot'));
      expect(error.code).toBe(ErrorCode.TRUST_METADATA_INVALID);
      expect(error.message).not.toContain('evil.example');
    });
  });
});
