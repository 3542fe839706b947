// The Notary v1 client workflow (TUF spec section 5, as the Notary reference client runs
// it): bring one repository's metadata up to date from a trust server, starting from what
// was trusted before, and refuse every document an attacker could substitute. Pure except
// for the injected MetadataSource; `now` is read once by the caller.
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { decodeRoot, decodeSnapshot, decodeTargets, decodeTimestamp } from './decode.js';
import { assertDirectChildren, createDelegationLoader, factsOf, parentRoleOf, type DelegationLoader, type VerifiedDelegation } from './delegations.js';
import {
  assertNoRollback,
  assertNotExpired,
  assertWithinCap,
  fetchPinnedMetadata,
  matchesFileMeta,
  reverifyStored,
} from './metadata-checks.js';
import {
  DEFAULT_SIZE_LIMITS,
  type AnyMetadata,
  type Envelope,
  type FileMeta,
  type RoleName,
  type RootMetadata,
  type SizeLimits,
  type SnapshotMetadata,
  type TargetsMetadata,
  type TimestampMetadata,
} from './model.js';
import {
  assertRootUsable,
  decodeStoredRoot,
  fetchLatestRoot,
  rotateRoot,
  trustRootOnFirstUse,
  type RootContext,
} from './root-trust.js';
import { verifyThreshold } from './signatures.js';
import { delegatedRoleNames } from './stored-role-names.js';
import type { MetadataLease } from './metadata-pool.js';
import type { MetadataSource } from './source.js';
import type { TrustedMetadata } from './trusted-metadata.js';
import { createBudgetedSource } from './update-budget.js';

export type { VerifiedDelegation } from './delegations.js';

export interface UpdateOptions {
  readonly gun: string;
  readonly source: MetadataSource;
  // undefined = first use.
  readonly trusted: TrustedMetadata | undefined;
  // Empty = trust on first use.
  readonly pinnedRootKeyIds: readonly string[];
  readonly now: Date;
  // Default DEFAULT_SIZE_LIMITS.
  readonly limits?: SizeLimits;
  // The update's deadline: every fetch, including later delegation loads, stops with it.
  readonly signal?: AbortSignal;
  // Reserves every fetch's bytes in the process-wide pool (metadata-pool.ts).
  readonly lease?: MetadataLease;
}

export interface VerifiedRepository {
  readonly gun: string;
  readonly root: Envelope<RootMetadata>;
  readonly timestamp: Envelope<TimestampMetadata>;
  readonly snapshot: Envelope<SnapshotMetadata>;
  readonly targets: Envelope<TargetsMetadata>;
  // Loads (by checksum from the snapshot) and fully verifies a delegation on first request,
  // memoised. undefined when no parent delegates that name or the snapshot does not list it.
  delegation(name: RoleName): Promise<VerifiedDelegation | undefined>;
  // Names of the roles `parent` delegates to (from its verified delegations), for walking.
  childRoles(parent: RoleName): Promise<readonly RoleName[]>;
  // What to persist now: the new trusted metadata including delegations loaded so far.
  trustedMetadata(): TrustedMetadata;
  // Bytes of the verified documents this object holds (top-level and delegations loaded so
  // far): what keeping it in memory costs, roughly.
  heldBytes(): number;
}

type TopLevelTargetRole = 'timestamp' | 'snapshot' | 'targets';

interface VerifiedTopLevel {
  readonly kind: 'verified';
  readonly timestamp: Envelope<TimestampMetadata>;
  readonly snapshot: Envelope<SnapshotMetadata>;
  readonly targets: Envelope<TargetsMetadata>;
}

// One pass over timestamp -> snapshot -> targets under a given root either verifies, or
// reports why the root itself may be out of date.
type PassResult =
  | VerifiedTopLevel
  | { readonly kind: 'root-changed'; readonly meta: FileMeta }
  | { readonly kind: 'keys-rejected'; readonly error: TrustgateError };

// Runs the workflow: anchor the root (stored, or trust on first use), verify timestamp,
// snapshot and targets under it, and rotate the root at most once when the snapshot names a
// different root or the current root's keys no longer verify timestamp/snapshot (Notary
// downloads a new root on both), then verify again under the rotated root.
// Every document, including the delegations the resolution loads later, comes through one
// budgeted source: the update as a whole reads at most `limits.updateBytes`.
export async function updateRepository(options: UpdateOptions): Promise<VerifiedRepository> {
  const limits = options.limits ?? DEFAULT_SIZE_LIMITS;
  const ctx: RootContext = {
    gun: options.gun,
    source: createBudgetedSource(options.source, limits.updateBytes, options.gun, options.signal, options.lease),
    pinnedRootKeyIds: options.pinnedRootKeyIds,
    now: options.now,
    limits,
  };
  let root: Envelope<RootMetadata>;
  if (options.trusted === undefined) {
    root = await trustRootOnFirstUse(ctx);
    assertRootUsable(ctx, root);
  } else {
    root = decodeStoredRoot(options.trusted.root, options.gun);
  }

  let rotated = false;
  for (;;) {
    const pass = await verifyTopLevel(ctx, root, options.trusted);
    if (pass.kind === 'verified') {
      // Expiry, certificates and pinning of the root that ends up trusted, re-checked on
      // every update, whether it came from the store, the server or a rotation.
      assertRootUsable(ctx, root);
      return toVerifiedRepository(ctx, root, pass, options.trusted);
    }
    if (rotated) {
      if (pass.kind === 'keys-rejected') throw pass.error;
      throw new TrustgateError(
        ErrorCode.TRUST_ROOT_ROTATION_INVALID,
        `root rotation for ${ctx.gun} refused: expected the snapshot to list root version ${root.signed.version} after rotating, got another root`,
      );
    }
    rotated = true;
    root = pass.kind === 'root-changed' ? await rotateToPinnedRoot(ctx, root, pass.meta) : await rotateToLatestRoot(ctx, root, pass.error);
  }
}

// The snapshot (verified under the current root) names a root with other bytes: fetch that
// exact root by checksum and walk to it.
async function rotateToPinnedRoot(ctx: RootContext, root: Envelope<RootMetadata>, meta: FileMeta): Promise<Envelope<RootMetadata>> {
  const bytes = await fetchPinnedMetadata(ctx.source, 'root', meta, ctx.limits.root);
  return rotateRoot(ctx, root, decodeRoot(bytes));
}

// Timestamp or snapshot keys were rejected: they may have been rotated by a newer root the
// current one cannot yet see. Only a strictly newer `root.json` is worth a retry; otherwise
// the original rejection stands.
async function rotateToLatestRoot(ctx: RootContext, root: Envelope<RootMetadata>, rejection: TrustgateError): Promise<Envelope<RootMetadata>> {
  const latest = await fetchLatestRoot(ctx);
  if (latest === undefined || latest.signed.version <= root.signed.version) throw rejection;
  return rotateRoot(ctx, root, latest);
}

// The signature check of a top-level role, returning a key rejection instead of throwing it
// so the caller can decide whether a root rotation explains it.
function keyRejection(envelope: Envelope<AnyMetadata>, root: Envelope<RootMetadata>, roleName: TopLevelTargetRole): TrustgateError | undefined {
  try {
    verifyThreshold(envelope, root.signed.keys, root.signed.roles[roleName], roleName);
    return undefined;
  } catch (error) {
    if (isTrustgateError(error) && (error.code === ErrorCode.TRUST_SIGNATURE_INVALID || error.code === ErrorCode.TRUST_THRESHOLD_NOT_MET)) {
      return error;
    }
    throw error;
  }
}

function verifyUnder(root: Envelope<RootMetadata>, roleName: TopLevelTargetRole): (envelope: Envelope<AnyMetadata>) => void {
  return (envelope) => verifyThreshold(envelope, root.signed.keys, root.signed.roles[roleName], roleName);
}

// TUF spec 5.4-5.6 under one root. Stored documents are re-verified under this root before
// their bytes are reused. The stored timestamp and snapshot anchor rollback checks only when
// they verify under this root: a rotation of their keys is how a repository recovers from a
// fast-forward attack on them (TUF spec 5.3.11 deletes them then). The stored targets'
// version is its floor whether or not it verifies under this root: the store authenticates
// the row, written after it verified. Otherwise a root that removes a targets key (or
// raises the threshold) would end the floor, and a server holding the snapshot and
// timestamp keys could pair it with an old targets the remaining keys once signed.
async function verifyTopLevel(ctx: RootContext, root: Envelope<RootMetadata>, trusted: TrustedMetadata | undefined): Promise<PassResult> {
  const storedTimestamp = reverifyStored(trusted?.timestamp, (bytes) => withCheck(decodeTimestamp(bytes), verifyUnder(root, 'timestamp')));
  const storedSnapshot = reverifyStored(trusted?.snapshot, (bytes) => withCheck(decodeSnapshot(bytes), verifyUnder(root, 'snapshot')));
  const storedTargetsFloor = reverifyStored(trusted?.targets, decodeTargets);
  const storedTargets =
    storedTargetsFloor === undefined ? undefined : reverifyStored(storedTargetsFloor.raw, () => withCheck(storedTargetsFloor, verifyUnder(root, 'targets')));

  // 5.4: the timestamp is always fetched fresh: it is what tells us whether anything changed.
  const timestampBytes = await ctx.source.fetchMetadata('timestamp', { kind: 'latest' }, ctx.limits.timestamp);
  if (timestampBytes === undefined) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_MISSING, `no trust data for ${ctx.gun}: expected timestamp.json, got 404`);
  }
  assertWithinCap(timestampBytes, ctx.limits.timestamp, 'timestamp');
  const timestamp = decodeTimestamp(timestampBytes);
  const timestampRejected = keyRejection(timestamp, root, 'timestamp');
  if (timestampRejected) return { kind: 'keys-rejected', error: timestampRejected };
  assertNoRollback('timestamp', timestamp.signed.version, storedTimestamp?.signed.version);
  assertNotExpired(timestamp.signed, 'timestamp', ctx.now);

  // 5.5: the snapshot the timestamp pins, reused when the stored one is exactly that file.
  let snapshot: Envelope<SnapshotMetadata>;
  if (storedSnapshot !== undefined && matchesFileMeta(storedSnapshot.raw, timestamp.signed.snapshot, 'snapshot')) {
    snapshot = storedSnapshot;
  } else {
    snapshot = decodeSnapshot(await fetchPinnedMetadata(ctx.source, 'snapshot', timestamp.signed.snapshot, ctx.limits.snapshot));
    const snapshotRejected = keyRejection(snapshot, root, 'snapshot');
    if (snapshotRejected) return { kind: 'keys-rejected', error: snapshotRejected };
  }
  assertNoRollback('snapshot', snapshot.signed.version, storedSnapshot?.signed.version);
  assertNotExpired(snapshot.signed, 'snapshot', ctx.now);

  // Notary lists the root in the snapshot: a different hash means the root was rotated.
  const rootMeta = snapshot.signed.meta.get('root');
  if (rootMeta !== undefined && !matchesFileMeta(root.raw, rootMeta, 'root')) return { kind: 'root-changed', meta: rootMeta };

  // 5.6: the targets the snapshot pins.
  const targetsMeta = snapshot.signed.meta.get('targets');
  if (targetsMeta === undefined) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `snapshot of ${ctx.gun} does not list targets: expected a "targets" entry, got none`);
  }
  let targets: Envelope<TargetsMetadata>;
  if (storedTargets !== undefined && matchesFileMeta(storedTargets.raw, targetsMeta, 'targets')) {
    targets = storedTargets;
  } else {
    targets = decodeTargets(await fetchPinnedMetadata(ctx.source, 'targets', targetsMeta, ctx.limits.targets));
    verifyUnder(root, 'targets')(targets);
  }
  assertNoRollback('targets', targets.signed.version, storedTargetsFloor?.signed.version);
  assertNotExpired(targets.signed, 'targets', ctx.now);
  assertDirectChildren('targets', targets.signed);
  return { kind: 'verified', timestamp, snapshot, targets };
}

function withCheck<T>(value: T, check: (value: T) => void): T {
  check(value);
  return value;
}

function toVerifiedRepository(
  ctx: RootContext,
  root: Envelope<RootMetadata>,
  top: VerifiedTopLevel,
  trusted: TrustedMetadata | undefined,
): VerifiedRepository {
  const stored = trusted?.delegations ?? new Map<RoleName, Uint8Array>();
  const loader = createDelegationLoader({
    source: ctx.source,
    now: ctx.now,
    limits: ctx.limits,
    snapshot: top.snapshot,
    targets: top.targets,
    stored,
    floorsKnownOnlyFor: trusted?.floorsKnownOnlyFor,
  });
  return {
    gun: ctx.gun,
    root,
    timestamp: top.timestamp,
    snapshot: top.snapshot,
    targets: top.targets,
    delegation: loader.delegation,
    childRoles: loader.childRoles,
    heldBytes: () => root.raw.length + top.timestamp.raw.length + top.snapshot.raw.length + top.targets.raw.length + loader.verifiedSize(),
    // Delegations verified in this update, plus stored ones not loaded this time that are
    // kept for their rollback protection (re-verified before any use), while the whole state
    // stays within one update's byte budget: what one repository occupies in the store
    // cannot grow from update to update. See keepsStoredDelegation for which are kept.
    trustedMetadata(): TrustedMetadata {
      const delegations = new Map(loader.verifiedBytes());
      let size = root.raw.length + top.timestamp.raw.length + top.snapshot.raw.length + top.targets.raw.length;
      for (const bytes of delegations.values()) size += bytes.length;
      const kept = new Map<RoleName, Uint8Array>();
      // A kept parent's stored document (up to a few MB) is parsed once for all its children.
      const keptChildren = new Map<RoleName, ReadonlySet<RoleName>>();
      // Parents before children: whether a role is still delegated depends on its parent.
      for (const [name, bytes] of [...stored].sort(([a], [b]) => depthOf(a) - depthOf(b))) {
        if (delegations.has(name) || size + bytes.length > ctx.limits.updateBytes) continue;
        if (!top.snapshot.signed.meta.has(name) && !isStillDelegated(name, top.targets, loader, kept, keptChildren)) continue;
        delegations.set(name, bytes);
        kept.set(name, bytes);
        size += bytes.length;
      }
      const facts = new Map(loader.verifiedFacts());
      for (const envelope of [root, top.timestamp, top.snapshot, top.targets]) facts.set(envelope.raw, factsOf(envelope));
      // Rows the store did not read back stay unknown until it reads them: the restriction
      // carries over to an update started from this state in memory.
      const floorsKnownOnlyFor = trusted?.floorsKnownOnlyFor;
      return {
        root: root.raw,
        timestamp: top.timestamp.raw,
        snapshot: top.snapshot.raw,
        targets: top.targets.raw,
        delegations,
        facts,
        ...(floorsKnownOnlyFor === undefined ? {} : { floorsKnownOnlyFor }),
      };
    },
  };
}

function depthOf(name: RoleName): number {
  return name.split('/').length;
}

// Whether a stored delegation that the new snapshot does not list keeps its row (and so its
// version floor): yes while its parent still delegates it, the parent being the verified
// top-level targets, a delegation verified in this update, or itself a stored delegation
// kept this way (its stored document, verified when it was saved, read for the names once
// per update: `keptChildren` memoises them per parent).
//
// Security: the snapshot and timestamp keys (which notary-server holds) suffice to publish
// a snapshot that omits a delegation; if that made trustgate forget the delegation's
// version, a later snapshot could bring back an old, revoked document of it. The floor
// therefore lives as long as the delegation itself, which only the parent's keys can end;
// the role is unusable while unlisted (its targets are not found). TUF 5.5.5 (every role the
// old snapshot lists must stay listed) is not enforced: a legitimate `notary delegation
// remove` drops the role from its parent and the snapshot at once, and must not lock the
// repository out; a removed role is forgotten, so re-adding it later starts afresh.
function isStillDelegated(
  name: RoleName,
  targets: Envelope<TargetsMetadata>,
  loader: DelegationLoader,
  kept: ReadonlyMap<RoleName, Uint8Array>,
  keptChildren: Map<RoleName, ReadonlySet<RoleName>>,
): boolean {
  const parent = parentRoleOf(name);
  if (parent === undefined) return false;
  if (parent === 'targets') return targets.signed.delegations.roles.some((role) => role.name === name);
  const verifiedChildren = loader.verifiedChildren(parent);
  if (verifiedChildren !== undefined) return verifiedChildren.includes(name);
  const keptParent = kept.get(parent);
  if (keptParent === undefined) return false;
  let names = keptChildren.get(parent);
  if (names === undefined) {
    names = new Set(delegatedRoleNames(keptParent));
    keptChildren.set(parent, names);
  }
  return names.has(name);
}
