// File adapter: reads policy documents from disk for decodePolicyDocuments.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { ErrorCode, TrustgateError } from '../errors.js';
import type { PolicyFile } from './parse-policy-stream.js';

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

// Read a policy file, or every *.yaml / *.yml / *.json file directly inside a folder (not
// recursive, sorted by name so the result and its document numbers are reproducible).
// Symbolic links are followed: a mounted ConfigMap is a folder of links into `..data/`.
// Each `source` is the file's own name. Anything unreadable or not UTF-8 is CONFIG_INVALID.
export async function readPolicyFiles(path: string): Promise<PolicyFile[]> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return [{ source: basename(path), text: await readText(path) }];
    const names = (await readdir(path)).filter((name) => POLICY_EXTENSIONS.has(extname(name).toLowerCase())).sort(compareNames);
    const files: PolicyFile[] = [];
    for (const name of names) {
      const file = join(path, name);
      if ((await stat(file)).isFile()) files.push({ source: name, text: await readText(file) });
    }
    return files;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `cannot read policy files from "${path}": ${reason}`, { cause: error });
  }
}

// Invalid UTF-8 is refused rather than replaced, so a pattern never changes meaning silently.
async function readText(file: string): Promise<string> {
  return new TextDecoder('utf-8', { fatal: true }).decode(await readFile(file));
}

// Code-unit order, independent of the machine's locale.
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
