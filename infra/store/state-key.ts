// The secret that authenticates cache entries of the embedded store, kept beside the
// database in the state directory. An adapter: it touches the disk.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { decodeStateKey } from '../../shared/cache/authenticated-store.js';

export const STATE_KEY_FILE_NAME = 'state.key';

// Reads `<stateDir>/state.key`, generating 32 random bytes into it (mode 0600) on first use.
// Processes starting together must agree on one key: each writes its candidate to a private
// temp file and hard-links it into place, which fails when another process got there first;
// the loser then reads the winner's key. A reader therefore never sees a half-written file.
// The key is on disk before its name is (the temp file is synced before the link, the folder
// after it): the database it authenticates is written later, so a power loss cannot leave a
// database whose key file is empty.
export function loadOrCreateStateKey(stateDir: string): Uint8Array {
  const file = join(stateDir, STATE_KEY_FILE_NAME);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const existing = readIfPresent(file);
    if (existing !== undefined) return decodeKeyFile(existing, file);
    const temp = join(stateDir, `.${STATE_KEY_FILE_NAME}.${randomBytes(8).toString('hex')}`);
    writeDurably(temp, `${randomBytes(32).toString('hex')}\n`);
    try {
      linkSync(temp, file);
      syncFolder(stateDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temp);
    }
    return decodeKeyFile(readFileSync(file, 'utf8'), file);
  } catch (error) {
    if (error instanceof TrustgateError) throw error;
    throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot read or create the state key in ${stateDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

// The key in the file's text. A damaged file is refused, never replaced: a new key would
// orphan every entry the old one authenticated, the trust pinned on first use included.
function decodeKeyFile(text: string, file: string): Uint8Array {
  try {
    return decodeStateKey(text);
  } catch {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `the state key file ${file} is damaged: expected the hex of at least 32 random bytes`);
  }
}

// Creates `file` (mode 0600, never an existing one) with `text`, synced to disk.
function writeDurably(file: string, text: string): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Syncs a folder's entries (a new name in it) to disk.
function syncFolder(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
