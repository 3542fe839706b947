import { homedir } from 'node:os';
import { join } from 'node:path';

// Where first-seen roots and trusted metadata live: --state-dir, else TRUSTGATE_STATE_DIR,
// else a folder in the user's home.
export function resolveStateDir(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? env['TRUSTGATE_STATE_DIR'] ?? join(homedir(), '.trustgate');
}
