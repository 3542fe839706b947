// The secret that authenticates cache entries of the embedded store, kept beside the
// database in the state directory. An adapter: it touches the disk.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { decodeStateKey } from '../../shared/cache/authenticated-store.js';

export const STATE_KEY_FILE_NAME = 'state.key';

// Reads `<stateDir>/state.key`, generating 32 random bytes into it (mode 0600) on first use.
// Processes starting together must agree on one key: each writes its candidate to a private
// temp file and hard-links it into place, which fails when another process got there first;
// the loser then reads the winner's key. A reader therefore never sees a half-written file.
export function loadOrCreateStateKey(stateDir: string): Uint8Array {
  const file = join(stateDir, STATE_KEY_FILE_NAME);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const existing = readIfPresent(file);
    if (existing !== undefined) return decodeStateKey(existing);
    const temp = join(stateDir, `.${STATE_KEY_FILE_NAME}.${randomBytes(8).toString('hex')}`);
    writeFileSync(temp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temp);
    }
    return decodeStateKey(readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof TrustgateError) throw error;
    throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cannot read or create the state key in ${stateDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
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
