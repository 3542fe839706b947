// Reads what trustgate persisted in its state directory (TRUSTGATE_STATE_DIR): the SQLite
// database `trustgate.db`, table `kv (k, v, ver, exp)`, where each value is a 32-byte
// HMAC-SHA256 followed by the entry, and a GUN's trusted root is the raw root.json under
// the key `notary:["<server>","<gun>","root"]`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../../infra/store/open-store.js';
import { readSignStatus, type SignStatus } from '../../../shared/callback/sign-callback.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const MAC_BYTES = 32;

interface StoredRoot {
  readonly signed: { readonly version: number; readonly roles: { readonly root: { readonly keyids: readonly string[] } } };
}

export interface StoredEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly version: number;
}

// Every entry of the embedded store whose key belongs to `gun`, MAC stripped.
export function readStoredEntries(stateDir: string, gun: string): StoredEntry[] {
  const file = join(stateDir, 'trustgate.db');
  if (!existsSync(file)) return [];
  const db = new Database(file);
  try {
    const rows = db.prepare<{ k: string; v: Buffer; ver: number }>('SELECT k, v, ver FROM kv').all();
    return rows
      .filter((row) => row.k.startsWith('notary:') && (JSON.parse(row.k.slice('notary:'.length)) as string[])[1] === gun)
      .map((row) => ({ key: row.k, value: row.v.subarray(MAC_BYTES), version: row.ver }));
  } finally {
    db.close();
  }
}

// Overwrites one raw value (MAC included) as someone with write access to the file could.
export function writeRawEntry(stateDir: string, key: string, value: Buffer, version: number): void {
  const db = new Database(join(stateDir, 'trustgate.db'), { timeout: 5_000 });
  try {
    db.prepare('INSERT INTO kv (k, v, ver, exp) VALUES (?, ?, ?, NULL) ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = excluded.ver').run(key, value, version);
  } finally {
    db.close();
  }
}

// The root trustgate currently trusts for a GUN, or undefined when nothing is stored.
export function readTrustedRoot(stateDir: string, gun: string): StoredRoot | undefined {
  const entry = readStoredEntries(stateDir, gun).find((candidate) => candidate.key.endsWith(',"root"]'));
  return entry === undefined ? undefined : (JSON.parse(entry.value.toString('utf8')) as StoredRoot);
}

// The sign-callback record of one ref, read through the product's own store (MAC checked)
// from a state directory another process (a running `trustgate serve`) writes. Opened per
// read so no in-process cache can hide that process's latest write.
export async function readCallbackStatus(stateDir: string, gun: string, ref: string): Promise<SignStatus | undefined> {
  const store = openStore({ kind: 'sqlite', stateDir }, systemClock);
  try {
    return await readSignStatus(store.kv, gun, ref);
  } finally {
    store.close();
  }
}
