// An action's code as the OpenWhisk API takes it (exec.code), read from the manifest's
// `function` path: one JavaScript file, sent as plain code (exec.binary false), which the
// Node.js runtime evaluates at init without unpacking anything. The build makes each action
// such a file (dist/functions/<name>/openwhisk.js).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ConfigError } from '../cli-error.js';

export interface ActionCode {
  readonly code: string;
  readonly bytes: number;
}

// OpenWhisk refuses an action whose code is larger than 48 MB; refused here before any
// request, and never read beyond that.
export const MAX_ACTION_CODE_BYTES = 48 * 1024 * 1024;

// Throws ConfigError when the path is not a plain file (a folder or archive, as a zip action
// would be, or a symbolic link: whatever it points to, a credentials file say, would be
// uploaded as code) or is larger than OpenWhisk takes; a missing file throws the ENOENT error.
// The file is opened once, without following a link, and checked and read through that one
// descriptor, so it cannot be swapped between the check and the read.
export async function readActionCode(path: string): Promise<ActionCode> {
  if (path.endsWith('.zip')) throw notPlainCode(path);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw notPlainCode(path);
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notPlainCode(path);
    if (stats.size > MAX_ACTION_CODE_BYTES) throw tooLarge(path, stats.size);
    // At most one byte more than allowed, whatever the file grows to meanwhile.
    const buffer = Buffer.alloc(Math.min(stats.size, MAX_ACTION_CODE_BYTES) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > MAX_ACTION_CODE_BYTES) throw tooLarge(path, length);
    const data = buffer.subarray(0, length);
    return { code: data.toString('utf8'), bytes: data.length };
  } finally {
    await handle.close();
  }
}

function notPlainCode(path: string): ConfigError {
  return new ConfigError(`${path}: an action's function must be one JavaScript file (not a folder, archive or link), deployed as plain code`);
}

function tooLarge(path: string, bytes: number): ConfigError {
  return new ConfigError(`${path}: ${bytes} bytes, more than OpenWhisk's ${MAX_ACTION_CODE_BYTES} bytes for an action`);
}
