// Length and hash checks of downloaded metadata against the file meta that a signed
// parent (timestamp -> snapshot -> targets/delegations) recorded for it.
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';
import type { FileMeta, RoleName } from './model.js';

const SUPPORTED_HASHES = ['sha256', 'sha512'] as const;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// Throws TRUST_HASH_MISMATCH unless `bytes` has exactly the recorded length and every
// supported recorded hash. Every supported hash is checked, not just one: an attacker who
// could collide the weaker of two must not get to pick which one we look at. Unknown hash
// names are ignored, but at least one supported hash is required, otherwise nothing would
// bind the bytes to the signed parent (TRUST_METADATA_INVALID).
export function assertFileMeta(bytes: Uint8Array, expected: FileMeta, roleName: RoleName): void {
  const present = SUPPORTED_HASHES.filter((name) => expected.hashes.has(name));
  if (present.length === 0) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_INVALID,
      // The other hash names are the publisher's text: counted, never repeated.
      `${roleName} file meta: expected a sha256 or sha512 hash, got ${expected.hashes.size === 0 ? 'none' : `${expected.hashes.size} of other names`}`,
    );
  }
  if (bytes.length !== expected.length) {
    throw new TrustgateError(ErrorCode.TRUST_HASH_MISMATCH, `${roleName}: expected length ${expected.length}, got ${bytes.length}`);
  }
  for (const name of present) {
    const want = Buffer.from(expected.hashes.get(name) ?? new Uint8Array());
    const got = createHash(name).update(bytes).digest();
    if (!got.equals(want)) {
      throw new TrustgateError(
        ErrorCode.TRUST_HASH_MISMATCH,
        `${roleName}: expected ${name} ${want.toString('hex')}, got ${got.toString('hex')}`,
      );
    }
  }
}
