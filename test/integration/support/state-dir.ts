// Reads what trustgate persisted in its state directory (TRUSTGATE_STATE_DIR): the file
// store keeps one `{key, version, value: base64}` JSON file per key, and the trusted
// state of a GUN is `{root: base64 root.json, timestamp?, snapshot?, ...}` under the key
// `notary/trusted/<server>/<gun>`.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface StoredRoot {
  readonly signed: { readonly version: number; readonly roles: { readonly root: { readonly keyids: readonly string[] } } };
}

// The root trustgate currently trusts for a GUN, or undefined when nothing is stored.
export async function readTrustedRoot(stateDir: string, gun: string): Promise<StoredRoot | undefined> {
  const state = await readTrustedState(stateDir, gun);
  const root = state?.['root'];
  return typeof root === 'string' ? (JSON.parse(Buffer.from(root, 'base64').toString('utf8')) as StoredRoot) : undefined;
}

async function readTrustedState(stateDir: string, gun: string): Promise<Record<string, unknown> | undefined> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch {
    return undefined;
  }
  for (const name of names.filter((file) => file.endsWith('.json'))) {
    const entry = JSON.parse(await readFile(join(stateDir, name), 'utf8')) as { key?: unknown; value?: unknown };
    if (typeof entry.key !== 'string' || !entry.key.startsWith('notary/trusted/') || !entry.key.endsWith(`/${gun}`)) continue;
    if (typeof entry.value !== 'string') continue;
    return JSON.parse(Buffer.from(entry.value, 'base64').toString('utf8')) as Record<string, unknown>;
  }
  return undefined;
}
