import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, TrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { KvItem, KvPutOptions, KvStore } from '../ports.js';

export interface FileStoreOptions {
  // Epoch milliseconds; expiry is judged against it on every read.
  readonly now?: () => number;
}

// Shape of one entry on disk. The key is stored too, so a file is only believed for the
// key it was written for.
interface StoredEntry {
  readonly key: string;
  readonly version: number;
  readonly expiresAt?: number;
  readonly value: string;
}

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
const ENTRY_SUFFIX = '.json';
const TEMP_SUFFIX = '.tmp';

// A KvStore keeping one file per key in `directory`, for a single node without a database.
//
// Security and robustness:
// - File names are the SHA-256 of the key, never the key itself, so no key ('/', ':', '..',
//   NUL, very long) can name a path outside the directory or collide with another key's file.
// - The directory is created 0700 and entries 0600: cached trust state is only as
//   trustworthy as the directory's permissions, so only the owner may read or plant entries.
// - Writes go to a temp file in the same directory, are flushed, then renamed over the
//   entry: a reader sees the old entry or the new one, never half of either.
// - An entry that does not decode exactly (bad JSON, wrong types, wrong key, bad base64)
//   reads as absent: a damaged cache means a fresh fetch, not a wrong answer.
// - onlyIfNewer reads, compares and writes under a per-key lock in this process; across
//   processes sharing the directory it is best-effort (two writers can both pass the check).
//   A backend with a real conditional write (SQLite, DynamoDB) makes it atomic.
export function createFileStore(directory: string, options: FileStoreOptions = {}): KvStore {
  const now = options.now ?? Date.now;
  const locks = new Map<string, Promise<unknown>>();

  // Run one operation after any earlier one on the same file, so conditional puts and
  // deletes from this process never interleave.
  const withLock = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const previous = locks.get(name) ?? Promise.resolve();
    const current = previous.then(run, run);
    const settled = current.catch(() => undefined);
    locks.set(name, settled);
    try {
      return await current;
    } finally {
      if (locks.get(name) === settled) locks.delete(name);
    }
  };

  // The live item under a key, or undefined when missing, corrupt or expired.
  const read = async (key: string): Promise<KvItem | undefined> => {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(entryPath(directory, key));
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
      throw storeFailure('read', key, error);
    }
    const item = decodeEntry(bytes, key);
    if (item === undefined || (item.expiresAt !== undefined && item.expiresAt <= now())) return undefined;
    return item;
  };

  // Replace the entry atomically: temp file, flush, rename.
  const write = async (key: string, item: KvItem): Promise<void> => {
    const target = entryPath(directory, key);
    const temp = `${target}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`;
    try {
      await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
      const handle = await open(temp, 'wx', FILE_MODE);
      try {
        await handle.writeFile(encodeEntry(key, item));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw storeFailure('write', key, error);
    }
  };

  return {
    get: read,
    put(key, item, putOptions?: KvPutOptions) {
      return withLock(key, async () => {
        if (putOptions?.onlyIfNewer === true) {
          const current = await read(key);
          if (current !== undefined && current.version >= item.version) return false;
        }
        await write(key, item);
        return true;
      });
    },
    delete(key) {
      return withLock(key, async () => {
        try {
          await unlink(entryPath(directory, key));
        } catch (error) {
          if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
          throw storeFailure('delete', key, error);
        }
      });
    },
  };
}

// Hashing the UTF-16 code units keeps distinct JavaScript strings distinct (a UTF-8
// encoding would fold unpaired surrogates together).
function entryPath(directory: string, key: string): string {
  const name = createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex');
  return join(directory, `${name}${ENTRY_SUFFIX}`);
}

function encodeEntry(key: string, item: KvItem): string {
  const entry: StoredEntry = {
    key,
    version: item.version,
    ...(item.expiresAt !== undefined ? { expiresAt: item.expiresAt } : {}),
    value: Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength).toString('base64'),
  };
  return JSON.stringify(entry);
}

// Decode an entry strictly; anything unexpected is treated as no entry at all.
function decodeEntry(bytes: Uint8Array, key: string): KvItem | undefined {
  let parsed: unknown;
  try {
    parsed = parseJsonBytes(bytes, ErrorCode.STATE_STORE_FAILED, 'file store entry');
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  const { key: storedKey, version, expiresAt, value } = parsed;
  if (storedKey !== key) return undefined;
  if (typeof version !== 'number' || !Number.isFinite(version)) return undefined;
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) return undefined;
  if (typeof value !== 'string') return undefined;
  const decoded = Buffer.from(value, 'base64');
  // Buffer's decoder skips junk silently; re-encoding exposes any that was there.
  if (decoded.toString('base64') !== value) return undefined;
  return {
    value: new Uint8Array(decoded),
    version,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

// A STATE_STORE_FAILED error naming the operation, the key (cut short) and the OS error code.
function storeFailure(operation: string, key: string, cause: unknown): TrustgateError {
  const reason = errorCode(cause) ?? (cause instanceof Error ? cause.message : String(cause));
  const shownKey = key.length > 200 ? `${key.slice(0, 200)}...` : key;
  return new TrustgateError(
    ErrorCode.STATE_STORE_FAILED,
    `file store could not ${operation} key ${JSON.stringify(shownKey)}: ${reason}`,
    { cause },
  );
}
