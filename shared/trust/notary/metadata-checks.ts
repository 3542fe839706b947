// Checks shared by every step of the Notary client workflow: freshness (expiry, rollback),
// size caps on what a server sends, and fetching a file pinned by a checksum in already
// verified metadata.
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { assertFileMeta } from './hashes.js';
import type { FileMeta, RoleName } from './model.js';
import type { MetadataSource } from './source.js';

// A document is expired once `now` reaches its expiry. Accepting expired metadata would let
// an attacker replay an old, validly signed state forever (TUF spec 5.4.4 / 5.5.6 / 5.6.5:
// freeze attack).
export function assertNotExpired(signed: { readonly expires: Date }, roleName: RoleName, now: Date): void {
  if (now.getTime() >= signed.expires.getTime()) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_EXPIRED,
      `${roleName} metadata expired: expected expiry after ${now.toISOString()}, got ${signed.expires.toISOString()}`,
    );
  }
}

// A newer download must never carry a lower version than what was trusted before
// (TUF spec 5.4.3.1 / 5.5.5 / 5.6.4: rollback attack).
export function assertNoRollback(roleName: RoleName, version: number, trustedVersion: number | undefined): void {
  if (trustedVersion !== undefined && version < trustedVersion) {
    throw new TrustgateError(
      ErrorCode.TRUST_ROLLBACK,
      `${roleName} metadata rolled back: expected version >= ${trustedVersion}, got ${version}`,
    );
  }
}

// The source is asked to stop reading past `maxBytes`; checking again here means a source
// that ignores the cap still cannot hand the decoder an oversized document.
export function assertWithinCap(bytes: Uint8Array, maxBytes: number, roleName: RoleName): void {
  if (bytes.length > maxBytes) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_TOO_LARGE,
      `${roleName} metadata too large: expected at most ${maxBytes} bytes, got ${bytes.length}`,
    );
  }
}

// True when `bytes` are exactly the file `expected` describes (length and every hash).
export function matchesFileMeta(bytes: Uint8Array, expected: FileMeta, roleName: RoleName): boolean {
  try {
    assertFileMeta(bytes, expected, roleName);
    return true;
  } catch (error) {
    if (isTrustgateError(error) && error.code === ErrorCode.TRUST_HASH_MISMATCH) return false;
    throw error;
  }
}

// The sha256 (hex) a file is fetched by. Notary serves `{role}.{sha256}.json`, so a
// description without a usable sha256 cannot pin anything.
export function checksumOf(meta: FileMeta, roleName: RoleName): string {
  const digest = meta.hashes.get('sha256');
  if (digest === undefined || digest.length !== 32) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_INVALID,
      `${roleName} file description has no usable sha256: expected 32 bytes, got ${digest === undefined ? 'none' : digest.length}`,
    );
  }
  return Buffer.from(digest).toString('hex');
}

// Fetch the file `meta` pins, by its checksum, reading at most min(meta.length, limit)
// bytes, and require it to match the pinned length and hashes. Downloading by checksum and
// checking the hash is what ties snapshot to timestamp and targets to snapshot: a server
// cannot mix files from different repository states (TUF spec 5.5.2 / 5.6.2: mix-and-match).
export async function fetchPinnedMetadata(
  source: MetadataSource,
  roleName: RoleName,
  meta: FileMeta,
  limit: number,
): Promise<Uint8Array> {
  if (meta.length > limit) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_TOO_LARGE,
      `${roleName} metadata too large: expected at most ${limit} bytes, got a declared length of ${meta.length}`,
    );
  }
  const sha256Hex = checksumOf(meta, roleName);
  const bytes = await source.fetchMetadata(roleName, { kind: 'checksum', sha256Hex }, meta.length);
  if (bytes === undefined) {
    throw new TrustgateError(
      ErrorCode.TRUST_METADATA_MISSING,
      `${roleName} metadata missing: expected ${roleName}.${sha256Hex}.json, got 404`,
    );
  }
  assertWithinCap(bytes, meta.length, roleName);
  assertFileMeta(bytes, meta, roleName);
  return bytes;
}

// Decode and verify stored bytes, or undefined when they no longer verify. Stored metadata
// that fails under the current root (or is corrupt) is simply not trusted: it neither
// anchors rollback checks nor is reused (TUF spec 5.2: only verified metadata is trusted).
export function reverifyStored<T>(bytes: Uint8Array | undefined, load: (bytes: Uint8Array) => T): T | undefined {
  if (bytes === undefined) return undefined;
  try {
    return load(bytes);
  } catch (error) {
    if (isTrustgateError(error)) return undefined;
    throw error;
  }
}
