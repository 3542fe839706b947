// A trusted_root.json named on the command line (`--trusted-root FILE`), read within a bound
// and decoded once, the same way for every command that takes one.
// fs.promises rather than node:fs/promises: its modules load on first use, not when `trustgate
// verify` starts (a plain verify never reads a file this way).
import { promises as fsp } from 'node:fs';
import { decodeTrustedRoot } from '../shared/policy/trust-requirements.js';
import type { TrustedRootJson } from '../shared/trust/sigstore/trusted-root-source.js';
import { UsageError } from './cli-error.js';

// Largest bundle, trusted root or key file read.
export const MAX_INPUT_FILE_BYTES = 4 * 1024 * 1024;

// A bounded input file; unreadable or too large is a usage error.
export async function readInputFile(path: string, flag: string): Promise<Buffer> {
  const info = await fsp.stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) throw new UsageError(`${flag}: cannot read ${path}`);
  if (info.size > MAX_INPUT_FILE_BYTES) throw new UsageError(`${flag}: ${path} is larger than ${MAX_INPUT_FILE_BYTES} bytes`);
  return fsp.readFile(path);
}

// The root in `path`; a file that is not a Sigstore trusted root is POLICY_INVALID.
export async function readTrustedRootFile(path: string): Promise<TrustedRootJson> {
  return decodeTrustedRoot((await readInputFile(path, '--trusted-root')).toString('utf8'), `trusted root ${path}`);
}
