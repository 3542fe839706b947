// Persists the metadata a Notary client last trusted for one (trust server, GUN), so a
// restart or another process starts from the same anchor: the first-seen (or pinned) root
// is never silently replaced by whatever the server serves next, and versions can't roll
// back across restarts. Sits on the KvStore port; the backend decides where bytes live.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { KvStore } from '../../ports.js';
import type { TrustedMetadata } from './trusted-metadata.js';

export interface TrustedStateStore {
  load(server: string, gun: string): Promise<TrustedMetadata | undefined>;
  save(server: string, gun: string, metadata: TrustedMetadata): Promise<void>;
}

interface StoredState {
  readonly root: string;
  readonly timestamp?: string;
  readonly snapshot?: string;
  readonly targets?: string;
  readonly delegations: Readonly<Record<string, string>>;
}

export function trustedStateKey(server: string, gun: string): string {
  return `notary/trusted/${server}/${gun}`;
}

export function createTrustedStateStore(kv: KvStore): TrustedStateStore {
  return {
    async load(server, gun) {
      const key = trustedStateKey(server, gun);
      let item;
      try {
        item = await kv.get(key);
      } catch (error) {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot read trusted state for ${gun}: ${(error as Error).message}`, { cause: error });
      }
      return item === undefined ? undefined : fromStoredBytes(item.value, gun);
    },
    async save(server, gun, metadata) {
      const value = new TextEncoder().encode(JSON.stringify(toStored(metadata)));
      try {
        await kv.put(trustedStateKey(server, gun), { value, version: 0 });
      } catch (error) {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot write trusted state for ${gun}: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

function toStored(metadata: TrustedMetadata): StoredState {
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  return {
    root: b64(metadata.root),
    ...(metadata.timestamp ? { timestamp: b64(metadata.timestamp) } : {}),
    ...(metadata.snapshot ? { snapshot: b64(metadata.snapshot) } : {}),
    ...(metadata.targets ? { targets: b64(metadata.targets) } : {}),
    delegations: Object.fromEntries([...metadata.delegations].map(([role, bytes]) => [role, b64(bytes)])),
  };
}

// A stored entry that does not decode is an error, not an absence: treating it as absent
// would re-trust whatever root the server serves next (a silent trust reset).
function fromStoredBytes(value: Uint8Array, gun: string): TrustedMetadata {
  const corrupt = (why: string): TrustgateError =>
    new TrustgateError(ErrorCode.STATE_STORE_FAILED, `stored trusted state for ${gun} is corrupt: ${why}`);
  const json = parseJsonBytes(value, ErrorCode.STATE_STORE_FAILED, `stored trusted state for ${gun}`);
  if (!isPlainObject(json)) throw corrupt('not an object');
  const bytes = (field: string, raw: unknown): Uint8Array => {
    if (typeof raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw corrupt(`${field} is not base64`);
    return new Uint8Array(Buffer.from(raw, 'base64'));
  };
  const optional = (field: 'timestamp' | 'snapshot' | 'targets'): Uint8Array | undefined =>
    json[field] === undefined ? undefined : bytes(field, json[field]);
  const delegationsRaw = json['delegations'] ?? {};
  if (!isPlainObject(delegationsRaw)) throw corrupt('delegations is not an object');
  const delegations = new Map<string, Uint8Array>();
  for (const [role, raw] of Object.entries(delegationsRaw)) delegations.set(role, bytes(`delegations.${role}`, raw));
  const timestamp = optional('timestamp');
  const snapshot = optional('snapshot');
  const targets = optional('targets');
  return {
    root: bytes('root', json['root']),
    ...(timestamp ? { timestamp } : {}),
    ...(snapshot ? { snapshot } : {}),
    ...(targets ? { targets } : {}),
    delegations,
  };
}
