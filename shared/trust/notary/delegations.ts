// On-demand loading and verification of delegated targets roles (`targets/...`), memoised
// per update, plus the path rules that limit what each delegation may sign.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { decodeTargets, isDelegationName } from './decode.js';
import {
  assertNoRollback,
  assertNotExpired,
  fetchPinnedMetadata,
  matchesFileMeta,
  reverifyStored,
} from './metadata-checks.js';
import type { AnyMetadata, DelegationRole, Envelope, PublicKey, RoleName, SizeLimits, SnapshotMetadata, TargetsMetadata } from './model.js';
import { verifyThreshold } from './signatures.js';
import type { MetadataSource } from './source.js';
import type { DocumentFacts } from './trusted-metadata.js';

export interface VerifiedDelegation {
  readonly name: RoleName;
  readonly envelope: Envelope<TargetsMetadata>;
  // As declared by its parent (key IDs, threshold, paths).
  readonly role: DelegationRole;
  // The keys that may sign this role: the parent's delegation keys the role lists.
  readonly keys: ReadonlyMap<string, PublicKey>;
  // True when target `name` may be signed by this role: it matches this role's paths AND
  // every ancestor delegation's paths.
  allowsTarget(name: string): boolean;
}

export interface DelegationContext {
  readonly source: MetadataSource;
  readonly now: Date;
  readonly limits: SizeLimits;
  readonly snapshot: Envelope<SnapshotMetadata>;
  readonly targets: Envelope<TargetsMetadata>;
  readonly stored: ReadonlyMap<RoleName, Uint8Array>;
  // When set, the only roles whose stored floor is known (TrustedMetadata.floorsKnownOnlyFor).
  readonly floorsKnownOnlyFor?: ReadonlySet<RoleName> | undefined;
}

// Function properties, not methods: they close over the loader, so they may be handed on unbound.
export interface DelegationLoader {
  readonly delegation: (name: RoleName) => Promise<VerifiedDelegation | undefined>;
  readonly childRoles: (parent: RoleName) => Promise<readonly RoleName[]>;
  // Bytes of every delegation verified so far.
  readonly verifiedBytes: () => ReadonlyMap<RoleName, Uint8Array>;
  // Their decoded version and expiry, keyed by those bytes.
  readonly verifiedFacts: () => ReadonlyMap<Uint8Array, DocumentFacts>;
  // Their total size.
  readonly verifiedSize: () => number;
  // The roles a delegation verified so far delegates to; undefined when it was not verified.
  readonly verifiedChildren: (name: RoleName) => readonly RoleName[] | undefined;
}

const TARGETS = 'targets';

// The delegating role of `name` (`targets/a/b` -> `targets/a`), or undefined when `name` is
// not a well-formed delegation name (Notary's IsDelegation).
export function parentRoleOf(name: RoleName): RoleName | undefined {
  return isDelegationName(name) ? name.slice(0, name.lastIndexOf('/')) : undefined;
}

// Notary rejects a targets document that delegates to anything but its own direct children
// (tuf/data isValidTargetsStructure): otherwise `targets/alice` could declare
// `targets/releases/x` and graft keys of its choosing under a role it does not own.
export function assertDirectChildren(parent: RoleName, targets: TargetsMetadata): void {
  for (const role of targets.delegations.roles) {
    if (parentRoleOf(role.name) !== parent) {
      throw new TrustgateError(
        ErrorCode.TRUST_DELEGATION_INVALID,
        `${parent} delegates to ${JSON.stringify(role.name)}: expected a direct child ${parent}/<name>, got another role`,
      );
    }
  }
}

// Target names are matched by prefix against a role's paths; '' allows every name.
function matchesPaths(paths: readonly string[], target: string): boolean {
  return paths.some((prefix) => target.startsWith(prefix));
}

function keysOfRole(all: ReadonlyMap<string, PublicKey>, role: DelegationRole): ReadonlyMap<string, PublicKey> {
  const keys = new Map<string, PublicKey>();
  for (const id of role.keyIds) {
    const key = all.get(id);
    if (key !== undefined) keys.set(id, key);
  }
  return keys;
}

// Builds the loader over a verified snapshot and top-level targets. Each delegation is
// loaded at most once; a parent is always verified before its children, so a child's keys
// and paths come only from verified metadata (TUF spec 5.6.7: preorder delegation walk).
export function createDelegationLoader(ctx: DelegationContext): DelegationLoader {
  const memo = new Map<RoleName, Promise<VerifiedDelegation | undefined>>();
  const verified = new Map<RoleName, Uint8Array>();
  const facts = new Map<Uint8Array, DocumentFacts>();
  const children = new Map<RoleName, readonly RoleName[]>();
  let looked = 0;
  let verifiedSize = 0;

  async function parentTargets(name: RoleName): Promise<{ targets: Envelope<TargetsMetadata>; parent?: VerifiedDelegation } | undefined> {
    const parentName = parentRoleOf(name);
    if (parentName === undefined) return undefined;
    if (parentName === TARGETS) return { targets: ctx.targets };
    const parent = await delegation(parentName);
    return parent === undefined ? undefined : { targets: parent.envelope, parent };
  }

  async function load(name: RoleName): Promise<VerifiedDelegation | undefined> {
    const parentInfo = await parentTargets(name);
    if (parentInfo === undefined) return undefined;
    const { targets: parentEnvelope, parent } = parentInfo;
    const role = parentEnvelope.signed.delegations.roles.find((candidate) => candidate.name === name);
    const meta = ctx.snapshot.signed.meta.get(name);
    if (role === undefined || meta === undefined) return undefined;

    const keys = keysOfRole(parentEnvelope.signed.delegations.keys, role);
    // A role its parent leaves with fewer keys than its threshold can sign nothing: Notary
    // publishes `"keyids": null` once a role's only key is removed ("it will not be usable
    // until keys are added to it"), and its client passes such a role over. So does this
    // loader, as it does a role the snapshot does not list, instead of failing every lookup
    // that walks past it (targets/releases first, for every tag). Security: decided by the
    // verified parent alone, before the role's own document is read, so only the parent's
    // keys can make a role unusable; an unusable role vouches for nothing, and its stored
    // row (its floor) is kept while the parent delegates it.
    if (keys.size < role.threshold) return undefined;
    const verifyRole = (envelope: Envelope<TargetsMetadata>): void => {
      verifyThreshold(envelope, keys, role, name);
    };
    if (ctx.floorsKnownOnlyFor !== undefined && !ctx.floorsKnownOnlyFor.has(name)) {
      throw new TrustgateError(
        ErrorCode.TRUST_METADATA_TOO_LARGE,
        `too many stored delegations: expected ${name} among the ${ctx.floorsKnownOnlyFor.size} whose version floor was read back, got a role beyond them`,
      );
    }
    // The rollback anchor: the stored document of this role, kept (trusted-state-store.ts
    // load, update.ts trustedMetadata) for as long as its parent delegates it, even across
    // snapshots that did not list it. Its version is the floor whether or not the stored
    // bytes still verify under the parent's current keys: the row was written only after
    // it verified, and the store authenticates it. Otherwise a parent that removes a key
    // of the role (or raises its threshold) would end the floor, and a trust server could
    // pair the new parent with an old document the remaining keys once signed. Verifying
    // again only decides whether the stored bytes can be reused. (So a floor pushed up by
    // a compromised key is undone only by a higher version, not by a key change, nor by
    // removing the role and delegating it afresh: the row is kept, since deleting a floor on
    // one process's view of a parent would let a slower process delete a newer row another
    // wrote. A role delegated again from version 1 is accepted once, while the stored
    // targets does not delegate it, and meets its old floor from the next run on.)
    const storedEnvelope = reverifyStored(ctx.stored.get(name), decodeTargets);
    const reusable =
      storedEnvelope === undefined
        ? undefined
        : reverifyStored(storedEnvelope.raw, () => {
            verifyRole(storedEnvelope);
            return storedEnvelope;
          });
    const envelope =
      reusable !== undefined && matchesFileMeta(reusable.raw, meta, name)
        ? reusable
        : decodeTargets(await fetchPinnedMetadata(ctx.source, name, meta, ctx.limits.targets));
    if (envelope !== reusable) verifyRole(envelope);
    assertNoRollback(name, envelope.signed.version, storedEnvelope?.signed.version);
    assertNotExpired(envelope.signed, name, ctx.now);
    assertDirectChildren(name, envelope.signed);
    verified.set(name, envelope.raw);
    facts.set(envelope.raw, factsOf(envelope));
    verifiedSize += envelope.raw.length;
    children.set(
      name,
      envelope.signed.delegations.roles.map((child) => child.name),
    );

    const allowedByAncestors = parent === undefined ? () => true : (target: string) => parent.allowsTarget(target);
    return {
      name,
      envelope,
      role,
      keys,
      allowsTarget: (target: string) => matchesPaths(role.paths, target) && allowedByAncestors(target),
    };
  }

  // Every distinct name looked at counts against the cap, whether or not it turns out to be
  // delegated and listed: a walk past thousands of declared but unlisted children (the
  // explanation of an unsigned tag walks every child) is bounded as a fetch would be.
  function delegation(name: RoleName): Promise<VerifiedDelegation | undefined> {
    let pending = memo.get(name);
    if (pending === undefined) {
      looked += 1;
      if (looked > ctx.limits.delegationCount) {
        return Promise.reject(
          new TrustgateError(
            ErrorCode.TRUST_METADATA_TOO_LARGE,
            `too many delegations: expected at most ${ctx.limits.delegationCount} per update, got more when loading ${name}`,
          ),
        );
      }
      pending = load(name);
      memo.set(name, pending);
    }
    return pending;
  }

  async function childRoles(parent: RoleName): Promise<readonly RoleName[]> {
    const envelope = parent === TARGETS ? ctx.targets : (await delegation(parent))?.envelope;
    return envelope === undefined ? [] : envelope.signed.delegations.roles.map((role) => role.name);
  }

  return { delegation, childRoles, verifiedBytes: () => verified, verifiedFacts: () => facts, verifiedSize: () => verifiedSize, verifiedChildren: (name) => children.get(name) };
}

// What the store needs of a verified document besides its bytes.
export function factsOf(envelope: Envelope<AnyMetadata>): DocumentFacts {
  return { version: envelope.signed.version, expires: envelope.signed.expires.getTime() };
}
