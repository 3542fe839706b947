// The embedded KvStore: one SQLite file shared by every trustgate process on a machine (the
// CLI and a running `trustgate serve` at the same time). An adapter: it touches the disk.
//
// Why SQLite: the store must be correct across processes, not only within one. SQLite's
// write lock is per transaction (file locks), so any number of processes can open the same
// file at once; LevelDB-based stores lock their whole folder for one process, and a folder
// of JSON files can only do a best-effort compare-and-write. WAL mode lets readers run while
// one writer commits; the busy timeout makes a writer wait for the lock instead of failing.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { ErrorCode, TrustgateError } from '../errors.js';
import type { Clock, KvItem, KvPutOptions, KvStore } from '../ports.js';
import { encodeStoreKey } from './store-key.js';

export interface SqliteStoreOptions {
  // The component's clock: expiry is judged against it on every read and conditional write.
  readonly clock: Clock;
  // How long a write waits for another process's lock (default 5 s).
  readonly busyTimeoutMs?: number;
}

export interface SqliteStore extends KvStore {
  close(): void;
}

// The database file's name inside a state directory.
export const SQLITE_FILE_NAME = 'trustgate.db';

interface Row {
  readonly v: Buffer;
  readonly ver: number;
  readonly exp: number | null;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS kv (
  k TEXT PRIMARY KEY NOT NULL,
  v BLOB NOT NULL,
  ver INTEGER NOT NULL,
  exp INTEGER
) WITHOUT ROWID`;

// The condition of an onlyIfNewer put, evaluated by SQLite inside the one statement that
// also writes: no other process can commit between the check and the write, so a stale
// writer can never roll an entry back (the upsert is atomic under SQLite's write lock).
const PUT_IF_NEWER = `INSERT INTO kv (k, v, ver, exp) VALUES (@k, @v, @ver, @exp)
  ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = excluded.ver, exp = excluded.exp
  WHERE kv.ver < excluded.ver OR (kv.exp IS NOT NULL AND kv.exp <= @now)`;
const PUT = `INSERT INTO kv (k, v, ver, exp) VALUES (@k, @v, @ver, @exp)
  ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = excluded.ver, exp = excluded.exp`;

// Opens (creating when needed) the database at `file`. The folder is made 0700 and the file
// 0600 before SQLite opens it (its -wal and -shm files take the same mode): whoever can
// write this file can plant cache entries, so only the owner may.
export function openSqliteStore(file: string, options: SqliteStoreOptions): SqliteStore {
  const now = (): number => options.clock.now().getTime();
  let db: Database;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, 'a', 0o600));
    const { Sqlite, nativeBinding } = loadSqlite();
    db = new Sqlite(file, { timeout: options.busyTimeoutMs ?? 5_000, ...(nativeBinding === undefined ? {} : { nativeBinding }) });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
  } catch (error) {
    throw storeFailure('open', file, error);
  }
  const select = db.prepare<Row>('SELECT v, ver, exp FROM kv WHERE k = ?');
  const putIfNewer = db.prepare(PUT_IF_NEWER);
  const put = db.prepare(PUT);
  const remove = db.prepare('DELETE FROM kv WHERE k = ?');

  // Each operation is one synchronous statement; failures become STATE_STORE_FAILED.
  const run = <T>(operation: string, key: string, body: () => T): Promise<T> => {
    try {
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(storeFailure(operation, key, error));
    }
  };

  return {
    get(key) {
      return run('read', key, () => {
        const row = select.get(encodeStoreKey(key));
        if (row === undefined || (row.exp !== null && row.exp <= now())) return undefined;
        return toItem(row);
      });
    },
    put(key, item: KvItem, putOptions?: KvPutOptions) {
      return run('write', key, () => {
        const params = {
          k: encodeStoreKey(key),
          // A view, not a copy: SQLite copies the value into its own pages anyway.
          v: Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength),
          ver: item.version,
          exp: item.expiresAt ?? null,
        };
        if (putOptions?.onlyIfNewer !== true) {
          put.run(params);
          return true;
        }
        return putIfNewer.run({ ...params, now: now() }).changes === 1;
      });
    },
    delete(key) {
      return run('delete', key, () => {
        remove.run(encodeStoreKey(key));
      });
    },
    close() {
      db.close();
    },
  };
}

function toItem(row: Row): KvItem {
  return {
    value: new Uint8Array(row.v),
    version: row.ver,
    ...(row.exp === null ? {} : { expiresAt: row.exp }),
  };
}

// A STATE_STORE_FAILED error naming the operation, the key (cut short) and SQLite's code.
function storeFailure(operation: string, key: string, cause: unknown): TrustgateError {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  const reason = code ?? (cause instanceof Error ? cause.message : String(cause));
  const shownKey = key.length > 200 ? `${key.slice(0, 200)}...` : key;
  return new TrustgateError(ErrorCode.STATE_STORE_FAILED, `sqlite store could not ${operation} ${JSON.stringify(shownKey)}: ${reason}`, { cause });
}

// better-sqlite3 is a native addon, loaded when a SQLite store is opened rather than when
// this module is imported: the function bundles (Lambda, OpenWhisk) carry no native addons
// and never open one, yet share the store factory with the CLI.
//
// In a bundle, `require` is the bundler's: the CLI bundle inlines better-sqlite3's
// JavaScript (a dozen small CommonJS files a cold command would otherwise resolve, read and
// compile one by one) and the function bundles leave it external. Run from source (tests),
// there is no `require` and the package is loaded from node_modules.
//
// Left to itself, better-sqlite3 finds its addon through the `bindings` package, which
// walks a stack trace to find the package and then requires candidate build folders one
// after another, each miss a thrown MODULE_NOT_FOUND: a few milliseconds of every cold
// command. The addon of the installed package (build/Release, where `bindings` ends up) is
// handed over directly; only an install without it is left to that search, which does not
// work from a bundle that inlined the package (opening the store then fails,
// STATE_STORE_FAILED).
function loadSqlite(): { readonly Sqlite: typeof Database; readonly nativeBinding?: string } {
  const requireHere = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: bundled, this is the inlined package
  const Sqlite = (typeof require === 'function' ? require('better-sqlite3') : requireHere('better-sqlite3')) as typeof Database;
  const addon = join(dirname(requireHere.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  return existsSync(addon) ? { Sqlite, nativeBinding: addon } : { Sqlite };
}
