// What trustgate keeps of a Notary repository between verifications, per (trust server,
// GUN), on the KvStore port:
//   root               the trust anchor: first seen (or pinned) and every verified rotation
//   meta/<role>        the last verified timestamp, snapshot, targets and delegations
//   checked            when the trust server last confirmed this state (freshness window)
// Every write is conditional on a higher version (the role's own TUF version, or the check
// time), so a slow or stale writer (another process, another container) can never roll an
// entry back. Nothing read here is trusted as is: update.ts re-verifies every document
// under the stored root before its versions anchor rollback checks or its bytes are reused,
// and the backend authenticates entries (authenticated-store.ts) so the root read back is
// the one trustgate wrote.
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import { silentLogger, type KvItem, type KvStore, type Logger } from '../../ports.js';
import type { RoleName } from './model.js';
import type { TrustedMetadata } from './trusted-metadata.js';

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
      const delegationNames = snapshot === undefined ? [] : delegationsListedIn(snapshot.value);
      const delegationItems = await Promise.all(delegationNames.map((role) => readOptional(key({ kind: 'meta', role }), gun)));
      const delegations = new Map<RoleName, Uint8Array>();
      delegationNames.forEach((role, index) => {
        const item = delegationItems[index];
        if (item !== undefined) delegations.set(role, item.value);
      });
      const checkedAt = checked === undefined ? undefined : checked.version;
      return {
        metadata: {
          root: rootItem.value,
          ...(timestamp === undefined ? {} : { timestamp: timestamp.value }),
          ...(snapshot === undefined ? {} : { snapshot: snapshot.value }),
          ...(targets === undefined ? {} : { targets: targets.value }),
          delegations,
        },
        ...(checkedAt === undefined ? {} : { checkedAt }),
      };
    },

    async save(server, gun, metadata, checkedAt) {
      const key = (slot: Slot): string => trustedStateKey(server, gun, slot);
      const writes: Array<Promise<boolean>> = [];
      const putRole = (slot: Slot, bytes: Uint8Array, withExpiry: boolean): void => {
        const { version, expires } = versionAndExpiry(bytes, gun);
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
      writes.push(kv.put(key({ kind: 'checked' }), { value: new Uint8Array(0), version: checkedAt }, { onlyIfNewer: true }));
      const results = await Promise.allSettled(writes);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot write trusted state for ${gun}: ${(failed.reason as Error).message}`, { cause: failed.reason });
      }
    },
  };
}

// Version and expiry (epoch ms) of metadata this process has just verified.
function versionAndExpiry(bytes: Uint8Array, gun: string): { version: number; expires: number } {
  const json = parseJsonBytes(bytes, ErrorCode.INTERNAL, `verified metadata of ${gun}`);
  const signed = isPlainObject(json) ? json['signed'] : undefined;
  const version = isPlainObject(signed) ? signed['version'] : undefined;
  const expires = isPlainObject(signed) && typeof signed['expires'] === 'string' ? Date.parse(signed['expires']) : Number.NaN;
  if (typeof version !== 'number' || !Number.isFinite(expires)) {
    throw new TrustgateError(ErrorCode.INTERNAL, `verified metadata of ${gun} has no version or expiry`);
  }
  return { version, expires };
}

// Delegation names a cached snapshot lists. The snapshot is not trusted yet: a wrong list
// only means loading fewer or more entries, all of which are verified before any use.
function delegationsListedIn(snapshot: Uint8Array): RoleName[] {
  try {
    const json = parseJsonBytes(snapshot, ErrorCode.STATE_STORE_FAILED, 'cached snapshot');
    const signed = isPlainObject(json) ? json['signed'] : undefined;
    const meta = isPlainObject(signed) ? signed['meta'] : undefined;
    return isPlainObject(meta) ? Object.keys(meta).filter((name) => name.startsWith('targets/')).slice(0, 256) : [];
  } catch {
    return [];
  }
}
