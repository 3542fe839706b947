// Establishing and advancing trust in a repository's root: trust on first use or a stored
// anchor, root-key pinning, and the version-by-version root rotation walk.
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { decodeRoot } from './decode.js';
import { canonicalPublicKeyId } from './keys.js';
import { assertNotExpired, assertWithinCap } from './metadata-checks.js';
import type { Envelope, PublicKey, RootMetadata, SizeLimits } from './model.js';
import { assertRootCertificates } from './root-certificates.js';
import { verifyThreshold } from './signatures.js';
import type { MetadataSource } from './source.js';

export interface RootContext {
  readonly gun: string;
  readonly source: MetadataSource;
  readonly pinnedRootKeyIds: readonly string[];
  readonly now: Date;
  readonly limits: SizeLimits;
}

// A root must be signed by a threshold of the keys its own root role lists.
function verifySelfSigned(root: Envelope<RootMetadata>): void {
  verifyThreshold(root, root.signed.keys, root.signed.roles.root, 'root');
}

// The anchor this update starts from. A stored root is kept as is, never replaced by what
// the server serves (that would turn every update into trust on first use); if it is
// unreadable the state is broken and we stop rather than silently re-trust.
export function decodeStoredRoot(bytes: Uint8Array, gun: string): Envelope<RootMetadata> {
  try {
    const root = decodeRoot(bytes);
    verifySelfSigned(root);
    return root;
  } catch (error) {
    throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `stored trusted root for ${gun} is unusable: expected a self-signed root, got ${(error as Error).message}`, { cause: error });
  }
}

// Fetch `root.json` (latest), or undefined on 404.
export async function fetchLatestRoot(ctx: RootContext): Promise<Envelope<RootMetadata> | undefined> {
  const bytes = await ctx.source.fetchMetadata('root', { kind: 'latest' }, ctx.limits.root);
  if (bytes === undefined) return undefined;
  assertWithinCap(bytes, ctx.limits.root, 'root');
  return decodeRoot(bytes);
}

// Trust on first use (Notary's behaviour without a pinned or cached root): the latest root
// must be consistent with itself (self-signed to threshold by distinct keys) and its
// certificates must name this GUN and be valid now; otherwise anybody able to answer for
// the server could plant a root for a different repository.
export async function trustRootOnFirstUse(ctx: RootContext): Promise<Envelope<RootMetadata>> {
  const root = await fetchLatestRoot(ctx);
  if (root === undefined) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_MISSING, `no trust data for ${ctx.gun}: expected root.json, got 404`);
  }
  verifySelfSigned(root);
  assertRootCertificates(root.signed, ctx.gun, ctx.now);
  return root;
}

// The checks every root must pass before this update trusts it: not expired (a freeze on the
// root), certificates valid, and, when root keys are pinned, a threshold of root-role
// signatures by pinned keys (Notary trust pinning; a pinned id may name the x509 or the
// plain form of a key, which have different ids).
export function assertRootUsable(ctx: RootContext, root: Envelope<RootMetadata>): void {
  assertNotExpired(root.signed, 'root', ctx.now);
  assertRootCertificates(root.signed, ctx.gun, ctx.now);
  if (ctx.pinnedRootKeyIds.length > 0) assertPinnedRootKeys(root, ctx.pinnedRootKeyIds, ctx.gun);
}

function assertPinnedRootKeys(root: Envelope<RootMetadata>, pinned: readonly string[], gun: string): void {
  const pinnedSet = new Set(pinned.map((id) => id.toLowerCase()));
  const pinnedKeys = new Map<string, PublicKey>();
  for (const [id, key] of root.signed.keys) {
    if (pinnedSet.has(id) || pinnedSet.has(canonicalPublicKeyId(key))) pinnedKeys.set(id, key);
  }
  const role = root.signed.roles.root;
  try {
    verifyThreshold(root, pinnedKeys, { keyIds: role.keyIds.filter((id) => pinnedKeys.has(id)), threshold: role.threshold }, 'root');
  } catch (error) {
    if (!isTrustgateError(error)) throw error;
    throw new TrustgateError(
      ErrorCode.TRUST_ROOT_KEY_MISMATCH,
      `root of ${gun} is not signed by the pinned root keys: expected ${role.threshold} signature(s) by ${pinned.join(', ')}, got ${error.message}`,
      { cause: error },
    );
  }
}

// Walk from the trusted root to `target` one version at a time (TUF spec 5.3: each
// version N+1 must be signed by a threshold of version N's root keys AND a threshold of its
// own). Skipping versions would let keys that were revoked on the way vouch for the end of
// the chain. `target` is already fetched (latest or by the snapshot's checksum); the
// versions between come from `{v}.root.json`.
export async function rotateRoot(
  ctx: RootContext,
  trusted: Envelope<RootMetadata>,
  target: Envelope<RootMetadata>,
): Promise<Envelope<RootMetadata>> {
  const from = trusted.signed.version;
  const to = target.signed.version;
  if (to < from) {
    throw new TrustgateError(ErrorCode.TRUST_ROLLBACK, `root of ${ctx.gun} rolled back: expected version >= ${from}, got ${to}`);
  }
  if (to === from) {
    // The same signed content may be served with other signature bytes (ECDSA signatures
    // are randomised); it is the same root if its trusted keys still sign it. Different
    // content under the same version is never a valid rotation.
    if (!Buffer.from(trusted.canonical).equals(Buffer.from(target.canonical))) {
      throw rotationError(ctx.gun, `expected the trusted root or version > ${from}, got different content for version ${from}`);
    }
    try {
      verifyThreshold(target, trusted.signed.keys, trusted.signed.roles.root, 'root');
    } catch (error) {
      throw rotationError(ctx.gun, `root version ${from} is not signed by its root keys`, error);
    }
    return target;
  }
  // TUF spec 5.3.3: a fixed upper bound on the root versions one update walks, checked
  // before any fetch, so a server announcing version 2^53 costs one request, not millions.
  if (to - from > ctx.limits.rootRotations) {
    throw rotationError(ctx.gun, `expected at most ${ctx.limits.rootRotations} root versions per update, got a rotation from version ${from} to ${to}`);
  }
  let previous = trusted;
  for (let version = from + 1; version <= to; version += 1) {
    const next = version === to ? target : await fetchRootVersion(ctx, version);
    assertRotationStep(ctx, previous, next, version);
    previous = next;
  }
  return previous;
}

async function fetchRootVersion(ctx: RootContext, version: number): Promise<Envelope<RootMetadata>> {
  const bytes = await ctx.source.fetchMetadata('root', { kind: 'version', version }, ctx.limits.root);
  if (bytes === undefined) throw rotationError(ctx.gun, `expected ${version}.root.json, got 404`);
  assertWithinCap(bytes, ctx.limits.root, 'root');
  try {
    return decodeRoot(bytes);
  } catch (error) {
    throw rotationError(ctx.gun, `${version}.root.json does not decode`, error);
  }
}

// One link of the rotation chain: exact next version, cross-signed by the previous root's
// keys and self-signed, certificates naming this GUN and valid now. An intermediate root's
// own expiry is not checked (only the final root's matters, TUF spec 5.3.10).
function assertRotationStep(
  ctx: RootContext,
  previous: Envelope<RootMetadata>,
  next: Envelope<RootMetadata>,
  expectedVersion: number,
): void {
  if (next.signed.version !== expectedVersion) {
    throw rotationError(ctx.gun, `expected version ${expectedVersion}, got ${next.signed.version}`);
  }
  try {
    verifyThreshold(next, previous.signed.keys, previous.signed.roles.root, 'root');
  } catch (error) {
    throw rotationError(ctx.gun, `root version ${expectedVersion} is not signed by the root keys of version ${previous.signed.version}`, error);
  }
  try {
    verifySelfSigned(next);
    assertRootCertificates(next.signed, ctx.gun, ctx.now);
  } catch (error) {
    throw rotationError(ctx.gun, `root version ${expectedVersion} is not valid on its own`, error);
  }
}

function rotationError(gun: string, detail: string, cause?: unknown): TrustgateError {
  const suffix = cause instanceof Error ? `: ${cause.message}` : '';
  return new TrustgateError(
    ErrorCode.TRUST_ROOT_ROTATION_INVALID,
    `root rotation for ${gun} refused: ${detail}${suffix}`,
    cause === undefined ? {} : { cause },
  );
}
