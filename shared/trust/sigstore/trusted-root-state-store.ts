// What trustgate keeps of a Sigstore TUF mirror between refreshes, per mirror, on the same
// KvStore as the Notary cache (so a restarted process or another function instance starts
// from the last good state):
//   tuf/<role>     the last verified root, timestamp, snapshot and targets metadata
//   trusted-root   the last good trusted_root.json, its SHA-256 and the TUF versions that
//                  vouched for it
//   refresh        when the last refresh ran and how it ended
// Every write is conditional on a higher version (the role's TUF version; the targets
// version for the trusted root; the attempt time for the refresh record), so a slow or stale
// writer can never roll an entry back. Nothing read here is taken on trust: stored TUF
// metadata is re-verified by tuf-js on the next refresh (root against itself, the others
// against the root and for rollback), and the stored trusted root is re-hashed and
// re-decoded before it is served. The backend authenticates entries
// (shared/cache/authenticated-store.ts), so an entry read back is one trustgate wrote; a
// writer of the table can still put back an older authentic entry, which at worst serves a
// root TUF once vouched for until the next refresh replaces it.
import { createHash } from 'node:crypto';
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { ErrorCode, TrustgateError, isTrustgateError, type ErrorCode as Code } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { KvStore, Logger } from '../../ports.js';
import { decodeTrustedRoot } from './trusted-root-shape.js';
import type { TrustedRootJson } from './trusted-root-source.js';
import { TUF_ROLES, type TufMetadataFiles, type TufRole, type TufVersions } from './tuf-update.js';

export interface StoredTrustedRoot {
  readonly root: TrustedRootJson;
  readonly sha256: string;
  readonly length: number;
  readonly versions: TufVersions;
  // Epoch milliseconds (trustgate's clock) when TUF vouched for it.
  readonly fetchedAt: number;
}

export const RefreshResult = {
  // The mirror served a new trusted root, now in force.
  UPDATED: 'updated',
  // The mirror's metadata verified and names the root already in force.
  UNCHANGED: 'unchanged',
  // The mirror served something that failed verification (signature, rollback, expiry,
  // hash, an unusable root): the last good root stays.
  REJECTED: 'rejected',
  // The mirror or the store could not be used (network, deadline, budget): the last good
  // root stays.
  FAILED: 'failed',
} as const;
export type RefreshResult = (typeof RefreshResult)[keyof typeof RefreshResult];

export interface RefreshRecord {
  // Epoch milliseconds (trustgate's clock) when the refresh started.
  readonly at: number;
  readonly result: RefreshResult;
  readonly code?: Code;
  readonly message?: string;
}

export interface TrustedRootStateStore {
  loadMetadata(): Promise<Partial<TufMetadataFiles>>;
  loadTrustedRoot(): Promise<StoredTrustedRoot | undefined>;
  loadRefresh(): Promise<RefreshRecord | undefined>;
  saveMetadata(files: Readonly<Record<TufRole, Uint8Array>>, versions: TufVersions): Promise<void>;
  saveTrustedRoot(bytes: Uint8Array, stored: Omit<StoredTrustedRoot, 'root'>): Promise<void>;
  saveRefresh(record: RefreshRecord): Promise<void>;
}

type Part = `tuf/${TufRole}` | 'trusted-root' | 'refresh';

// JSON keeps the parts apart whatever the mirror URL holds.
export function trustedRootStateKey(mirror: string, part: Part): string {
  return `sigstore-root:${JSON.stringify([mirror, part])}`;
}

const encoder = new TextEncoder();

export function createTrustedRootStateStore(kv: KvStore, mirror: string, logger: Logger): TrustedRootStateStore {
  const key = (part: Part): string => trustedRootStateKey(mirror, part);
  // An entry refused by authentication is dropped (the refresh starts without it) and said so.
  const read = async (part: Part): Promise<Uint8Array | undefined> => {
    try {
      return (await kv.get(key(part)))?.value;
    } catch (error) {
      if (!isAuthenticationFailure(error)) throw error;
      logger.warn('stored Sigstore TUF state refused', { code: ErrorCode.STATE_STORE_FAILED, mirror, part, reason: 'authentication failed' });
      return undefined;
    }
  };
  const write = (part: Part, value: Uint8Array, version: number): Promise<boolean> => kv.put(key(part), { value, version }, { onlyIfNewer: true });

  return {
    async loadMetadata() {
      const values = await Promise.all(TUF_ROLES.map((role) => read(`tuf/${role}`)));
      const files: Partial<Record<TufRole, Uint8Array>> = {};
      TUF_ROLES.forEach((role, index) => {
        const value = values[index];
        if (value !== undefined) files[role] = value;
      });
      return files;
    },

    // A stored root that does not hash to its record or no longer decodes is not served.
    async loadTrustedRoot() {
      const value = await read('trusted-root');
      if (value === undefined) return undefined;
      try {
        return decodeStoredTrustedRoot(value);
      } catch (error) {
        if (!isTrustgateError(error)) throw error;
        logger.warn('stored Sigstore trusted root refused', { code: error.code, mirror, message: error.message });
        return undefined;
      }
    },

    async loadRefresh() {
      const value = await read('refresh');
      if (value === undefined) return undefined;
      try {
        return decodeRefreshRecord(value);
      } catch {
        return undefined;
      }
    },

    async saveMetadata(files, versions) {
      await Promise.all(TUF_ROLES.map((role) => write(`tuf/${role}`, files[role], versions[role])));
    },

    async saveTrustedRoot(bytes, stored) {
      const record = { sha256: stored.sha256, length: stored.length, versions: stored.versions, fetchedAt: stored.fetchedAt, trustedRoot: Buffer.from(bytes).toString('base64') };
      await write('trusted-root', encoder.encode(JSON.stringify(record)), stored.versions.targets);
    },

    async saveRefresh(record) {
      await write('refresh', encoder.encode(JSON.stringify(record)), record.at);
    },
  };
}

function decodeStoredTrustedRoot(value: Uint8Array): StoredTrustedRoot {
  const record = parseJsonBytes(value, ErrorCode.SIGSTORE_ROOT_INVALID, 'stored trusted root record');
  const invalid = (): TrustgateError => new TrustgateError(ErrorCode.SIGSTORE_ROOT_INVALID, 'stored trusted root record is malformed');
  if (!isPlainObject(record) || typeof record['trustedRoot'] !== 'string' || typeof record['sha256'] !== 'string' || typeof record['fetchedAt'] !== 'number') throw invalid();
  const versions = record['versions'];
  if (!isPlainObject(versions) || !TUF_ROLES.every((role) => typeof versions[role] === 'number')) throw invalid();
  const bytes = Buffer.from(record['trustedRoot'], 'base64');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== record['sha256']) throw new TrustgateError(ErrorCode.SIGSTORE_ROOT_INVALID, `stored trusted root does not hash to its record: expected ${record['sha256'].slice(0, 64)}, got ${sha256}`);
  return {
    root: decodeTrustedRoot(bytes, 'stored trusted_root.json'),
    sha256,
    length: bytes.length,
    versions: versions as unknown as TufVersions,
    fetchedAt: record['fetchedAt'],
  };
}

function decodeRefreshRecord(value: Uint8Array): RefreshRecord {
  const record = parseJsonBytes(value, ErrorCode.STATE_STORE_FAILED, 'stored refresh record');
  const results: readonly string[] = Object.values(RefreshResult);
  if (!isPlainObject(record) || typeof record['at'] !== 'number' || typeof record['result'] !== 'string' || !results.includes(record['result'])) {
    throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'stored refresh record is malformed');
  }
  const code = record['code'];
  const message = record['message'];
  return {
    at: record['at'],
    result: record['result'] as RefreshResult,
    ...(typeof code === 'string' && Object.hasOwn(ErrorCode, code) ? { code: code as Code } : {}),
    ...(typeof message === 'string' ? { message: message.slice(0, 300) } : {}),
  };
}
