// Scratch directories for one test run, removed by the caller.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `trustgate-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
