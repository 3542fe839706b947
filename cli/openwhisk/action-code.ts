// An action's code as the OpenWhisk API takes it (exec.code), read from the manifest's
// `function` path: one JavaScript file, sent as plain code (exec.binary false), which the
// Node.js runtime evaluates at init without unpacking anything. The build makes each action
// such a file (dist/functions/<name>/openwhisk.js).
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../cli-error.js';

export interface ActionCode {
  readonly code: string;
  readonly bytes: number;
}

// OpenWhisk refuses an action whose code is larger than 48 MB; refused here before any
// request, and before the whole file is read.
export const MAX_ACTION_CODE_BYTES = 48 * 1024 * 1024;

// Throws ConfigError when the path is not a plain file (a folder or archive, as a zip action
// would be) or is larger than OpenWhisk takes; a missing file throws the ENOENT error.
export async function readActionCode(path: string): Promise<ActionCode> {
  const stats = await stat(path);
  if (!stats.isFile() || path.endsWith('.zip')) {
    throw new ConfigError(`${path}: an action's function must be one JavaScript file, deployed as plain code`);
  }
  if (stats.size > MAX_ACTION_CODE_BYTES) throw new ConfigError(`${path}: ${stats.size} bytes, more than OpenWhisk's ${MAX_ACTION_CODE_BYTES} bytes for an action`);
  const data = await readFile(path);
  return { code: data.toString('utf8'), bytes: data.length };
}
