// What trustgate keeps of a Notary repository between verifications, per (trust server,
// GUN), on the KvStore port:
//   root               the trust anchor: first seen (or pinned) and every verified rotation
//   meta/<role>        the last verified timestamp, snapshot, targets and delegations (a
//                      delegation's row is read back while a stored parent delegates it,
//                      listed in the snapshot or not: it is that role's version floor)
//   checked            when the trust server last confirmed this state (freshness window),
//                      and exactly which documents it confirmed: version and SHA-256 of
//                      root, timestamp, snapshot, targets and each delegation saved
// Every write is conditional on a higher version (the role's own TUF version, or the check
// time), so a slow or stale writer (another process, another container) can never roll an
// entry back. Nothing read here is trusted as is: update.ts re-verifies every document
// under the stored root before its versions anchor rollback checks or its bytes are reused,
// and the backend authenticates entries (authenticated-store.ts) so the root read back is
// the one trustgate wrote.
//
// Replay: a writer of the store without the state key cannot forge an entry, but can put
// back an older authenticated one it saw earlier. An older metadata row next to the current
// check time would otherwise be answered offline as "confirmed just now" (a revoked digest,
// for the whole freshness window). The check row therefore names the documents it confirms,
// under its own MAC, and load() reports a check time only when every stored document it
// names is exactly the one read back: a replayed row costs one trip to the trust server,
// never a stale answer. (Replaying the check row itself brings back an older check time
// bound to older documents: a window that has passed, or that replays an answer the
// trust server confirmed within the window, which the window allows anyway.)
import { createHash } from 'node:crypto';
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import { silentLogger, type KvItem, type KvStore, type Logger } from '../../ports.js';
import type { RoleName } from './model.js';
import { delegatedRoleNames } from './stored-role-names.js';
import type { DocumentFacts, TrustedMetadata } from './trusted-metadata.js';

export interface CachedRepository {
  readonly metadata: TrustedMetadata;
  // Epoch milliseconds of the last successful update from the trust server, when known.
  readonly checkedAt?: number;
}

export interface TrustedStateStore {
  // Rejects with STATE_STORE_FAILED when the store cannot be read; when the stored ROOT is
  // refused by authentication the error satisfies isAuthenticationFailure.
  load(server: string, gun: string): Promise<CachedRepository | undefined>;
  // Writes what is now trusted; `checkedAt` is the time the trust server confirmed it.
  save(server: string, gun: string, metadata: TrustedMetadata, checkedAt: number): Promise<void>;
}

type Slot = { readonly kind: 'root' } | { readonly kind: 'meta'; readonly role: RoleName } | { readonly kind: 'checked' };

// Metadata entries outlive their own expiry by this much: an expired document is never
// used (update.ts checks expiry against `now`), but its version still guards against
// rollback when the server publishes again.
const ROLLBACK_ANCHOR_GRACE_MS = 30 * 24 * 60 * 60 * 1000;

// JSON keeps the parts apart whatever they contain (GUNs and roles hold '/' and ':').
export function trustedStateKey(server: string, gun: string, slot: Slot): string {
  const part = slot.kind === 'meta' ? ['meta', slot.role] : [slot.kind];
  return `notary:${JSON.stringify([server, gun, ...part])}`;
}

export function createTrustedStateStore(kv: KvStore, logger: Logger = silentLogger): TrustedStateStore {
  // A refused non-root entry is dropped (refetched and re-verified), and said so.
  const readOptional = async (key: string, gun: string): Promise<KvItem | undefined> => {
    try {
      return await kv.get(key);
    } catch (error) {
      if (!isAuthenticationFailure(error)) throw error;
      logger.warn('cached trust metadata refused', { gun, key, reason: 'authentication failed' });
      return undefined;
    }
  };

  return {
    async load(server, gun) {
      const key = (slot: Slot): string => trustedStateKey(server, gun, slot);
      const [rootItem, timestamp, snapshot, targets, checked] = await Promise.all([
        kv.get(key({ kind: 'root' })),
        readOptional(key({ kind: 'meta', role: 'timestamp' }), gun),
        readOptional(key({ kind: 'meta', role: 'snapshot' }), gun),
        readOptional(key({ kind: 'meta', role: 'targets' }), gun),
        readOptional(key({ kind: 'checked' }), gun),
      ]);
      if (rootItem === undefined) return undefined;
      const { delegations, floorsKnownOnlyFor } = await readDelegations(
        (role) => readOptional(key({ kind: 'meta', role }), gun),
        targets === undefined ? [] : releasesFirst(delegatedRoleNames(targets.value)),
      );
      if (floorsKnownOnlyFor !== undefined) {
        logger.warn('cached trust metadata holds more delegations than are read back, delegations beyond them are refused', { gun, read: floorsKnownOnlyFor.size });
      }
      const metadata: TrustedMetadata = {
        root: rootItem.value,
        ...(timestamp === undefined ? {} : { timestamp: timestamp.value }),
        ...(snapshot === undefined ? {} : { snapshot: snapshot.value }),
        ...(targets === undefined ? {} : { targets: targets.value }),
        delegations,
        ...(floorsKnownOnlyFor === undefined ? {} : { floorsKnownOnlyFor }),
      };
      let checkedAt: number | undefined;
      if (checked !== undefined) {
        if (confirms(checked.value, metadata)) checkedAt = checked.version;
        else logger.warn('cached trust metadata is not what the trust server last confirmed, asking it again', { gun, reason: 'freshness record does not match' });
      }
      return { metadata, ...(checkedAt === undefined ? {} : { checkedAt }) };
    },

    async save(server, gun, metadata, checkedAt) {
      const key = (slot: Slot): string => trustedStateKey(server, gun, slot);
      const writes: Array<Promise<boolean>> = [];
      // Version and expiry come from the verification that decoded each document; one it
      // did not decode is parsed once (a targets file may be megabytes; its parse tree is
      // many times that), shared by its row and the check row.
      const facts = new Map<Uint8Array, DocumentFacts>(metadata.facts ?? []);
      const factsOf = (bytes: Uint8Array): DocumentFacts => {
        let known = facts.get(bytes);
        if (known === undefined) {
          known = versionAndExpiry(bytes, gun);
          facts.set(bytes, known);
        }
        return known;
      };
      const putRole = (slot: Slot, bytes: Uint8Array, withExpiry: boolean): void => {
        const { version, expires } = factsOf(bytes);
        const expiresAt = withExpiry ? expires + ROLLBACK_ANCHOR_GRACE_MS : undefined;
        writes.push(kv.put(key(slot), { value: bytes, version, ...(expiresAt === undefined ? {} : { expiresAt }) }, { onlyIfNewer: true }));
      };
      // The root never expires from the cache: losing it would mean trusting on first use again.
      putRole({ kind: 'root' }, metadata.root, false);
      for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
        const bytes = metadata[role];
        if (bytes !== undefined) putRole({ kind: 'meta', role }, bytes, true);
      }
      for (const [role, bytes] of metadata.delegations) putRole({ kind: 'meta', role }, bytes, true);
      writes.push(kv.put(key({ kind: 'checked' }), { value: encodeConfirmation(metadata, factsOf), version: checkedAt }, { onlyIfNewer: true }));
      const results = await Promise.allSettled(writes);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot write trusted state for ${gun}: ${(failed.reason as Error).message}`, { cause: failed.reason });
      }
    },
  };
}

// What a check row confirms: per role, [version, SHA-256 hex] of the exact bytes verified.
type Confirmation = Record<string, readonly [number, string]>;

// The check row's value for `metadata` (which this process has just verified).
function encodeConfirmation(metadata: TrustedMetadata, factsOf: (bytes: Uint8Array) => DocumentFacts): Uint8Array {
  const fingerprint = (bytes: Uint8Array): readonly [number, string] => [factsOf(bytes).version, createHash('sha256').update(bytes).digest('hex')];
  const roles: Confirmation = {};
  roles['root'] = fingerprint(metadata.root);
  for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
    const bytes = metadata[role];
    if (bytes !== undefined) roles[role] = fingerprint(bytes);
  }
  for (const [role, bytes] of metadata.delegations) roles[role] = fingerprint(bytes);
  return new TextEncoder().encode(JSON.stringify({ roles }));
}

// True when the check row names exactly the stored root, timestamp, snapshot and targets
// (each present on both sides, same version and hash) and every stored delegation it names.
// A stored delegation it does not name is harmless offline: update.ts reuses a delegation
// only when the (confirmed) snapshot pins its hash. A check row without the list (or any
// other shape) confirms nothing. The row is authenticated but is still outside input:
// decoded defensively, never trusted for more than equality.
function confirms(value: Uint8Array, metadata: TrustedMetadata): boolean {
  let roles: unknown;
  try {
    const json = parseJsonBytes(value, ErrorCode.STATE_STORE_FAILED, 'freshness record');
    roles = isPlainObject(json) ? json['roles'] : undefined;
  } catch {
    return false;
  }
  if (!isPlainObject(roles)) return false;
  const matches = (role: string, bytes: Uint8Array | undefined): boolean => {
    const named = Object.hasOwn(roles, role) ? roles[role] : undefined;
    if (bytes === undefined || named === undefined) return bytes === undefined && named === undefined;
    if (!Array.isArray(named) || named.length !== 2) return false;
    const [version, hash] = fingerprintOrUndefined(bytes);
    return named[0] === version && named[1] === hash;
  };
  if (!(['root', 'timestamp', 'snapshot', 'targets'] as const).every((role) => matches(role, role === 'root' ? metadata.root : metadata[role]))) return false;
  return [...metadata.delegations].every(([role, bytes]) => !Object.hasOwn(roles, role) || matches(role, bytes));
}

// A stored document's fingerprint; a document without a readable version matches nothing.
function fingerprintOrUndefined(bytes: Uint8Array): readonly [number | undefined, string] {
  const hash = createHash('sha256').update(bytes).digest('hex');
  try {
    return [versionAndExpiry(bytes, 'stored metadata').version, hash];
  } catch {
    return [undefined, hash];
  }
}

// Version and expiry (epoch ms) of metadata this process has just verified.
function versionAndExpiry(bytes: Uint8Array, gun: string): DocumentFacts {
  const json = parseJsonBytes(bytes, ErrorCode.INTERNAL, `verified metadata of ${gun}`);
  const signed = isPlainObject(json) ? json['signed'] : undefined;
  const version = isPlainObject(signed) ? signed['version'] : undefined;
  const expires = isPlainObject(signed) && typeof signed['expires'] === 'string' ? Date.parse(signed['expires']) : Number.NaN;
  if (typeof version !== 'number' || !Number.isFinite(expires)) {
    throw new TrustgateError(ErrorCode.INTERNAL, `verified metadata of ${gun} has no version or expiry`);
  }
  return { version, expires };
}

// The delegation rows to read back: every role the stored targets delegates, then, level by
// level, every role a delegation read back delegates. Rows of roles the snapshot no longer
// lists are read too: while a parent still delegates a role, its stored version stays the
// floor a later document of that role must not go below (update.ts), whatever the snapshot
// omitted in between. Names only the stored snapshot lists are not read: a role no stored
// parent delegates has no row worth reading (update.ts keeps a row only while its parent
// delegates the role), and the snapshot key alone could list any number of them.
//
// At most MAX_STORED_DELEGATIONS names are looked up (one row read each). When stored
// parents delegate more, the rows not read could hold floors: the result then names the
// roles whose floor is known, and update.ts refuses any other delegation instead of loading
// it without its floor (fail closed). Parents are read before their children and the
// top-level targets' roles first (targets/releases, where Docker Content Trust looks first,
// ahead of them all), so in a repository that large the roles nearest the top keep working.
// It takes parents delegating over 256 roles in all; one update looks at 64 at most.
const MAX_STORED_DELEGATIONS = 256;

// `names` with targets/releases, if there, moved to the front.
function releasesFirst(names: readonly RoleName[]): RoleName[] {
  return [...names.filter((name) => name === 'targets/releases'), ...names.filter((name) => name !== 'targets/releases')];
}

interface StoredDelegations {
  readonly delegations: Map<RoleName, Uint8Array>;
  readonly floorsKnownOnlyFor?: ReadonlySet<RoleName>;
}

async function readDelegations(read: (role: RoleName) => Promise<KvItem | undefined>, first: readonly RoleName[]): Promise<StoredDelegations> {
  const delegations = new Map<RoleName, Uint8Array>();
  const seen = new Set<RoleName>();
  let level = first;
  let cut = false;
  while (level.length > 0) {
    const fresh = [...new Set(level)].filter((name) => !seen.has(name));
    const names = fresh.slice(0, MAX_STORED_DELEGATIONS - seen.size);
    if (names.length < fresh.length) cut = true;
    if (names.length === 0) break;
    for (const name of names) seen.add(name);
    const items = await Promise.all(names.map(read));
    const next: RoleName[] = [];
    names.forEach((name, index) => {
      const item = items[index];
      if (item === undefined) return;
      delegations.set(name, item.value);
      next.push(...delegatedRoleNames(item.value));
    });
    level = next;
  }
  return cut ? { delegations, floorsKnownOnlyFor: seen } : { delegations };
}
