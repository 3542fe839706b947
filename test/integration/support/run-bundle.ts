// Drives a built bundle as its platform does (see bundle-driver.mjs) in a child process
// whose environment is exactly `env`, as a deployed function's configuration would be.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './built-bundles.js';
import { makeTempDir, removeDir } from './temp-dir.js';

const DRIVER = join(dirname(fileURLToPath(import.meta.url)), 'bundle-driver.mjs');

export type BundleRun = { readonly loadError: string } | { readonly results: readonly ({ readonly value: unknown } | { readonly thrown: string })[] };

// For Lambda the bundle and the chunks it imports (its zip's content) are copied into a task
// folder laid out like /var/task, next to which only the AWS SDK resolves (the Node.js
// runtime provides it); nothing else from node_modules.
export async function runBundle(platform: 'lambda' | 'openwhisk', bundle: string, env: Record<string, string>, calls: readonly unknown[]): Promise<BundleRun> {
  const dir = await makeTempDir('bundle');
  try {
    const task = join(dir, 'task');
    const copy = join(task, 'function', basename(bundle));
    await mkdir(dirname(copy), { recursive: true });
    await cp(bundle, copy);
    if (platform === 'lambda') {
      const chunks = join(dirname(bundle), 'chunks');
      if (existsSync(chunks)) await cp(chunks, join(dirname(copy), 'chunks'), { recursive: true });
      await mkdir(join(task, 'node_modules'), { recursive: true });
      await symlink(join(PROJECT_ROOT, 'node_modules/@aws-sdk'), join(task, 'node_modules/@aws-sdk'));
    }
    const out = join(dir, 'result.json');
    const child = spawn(process.execPath, [DRIVER], { cwd: task, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdin.end(JSON.stringify({ platform, bundle: copy, calls, out }));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (status !== 0) throw new Error(`bundle driver exited ${String(status)}: ${stderr}`);
    return JSON.parse(await readFile(out, 'utf8')) as BundleRun;
  } finally {
    await removeDir(dir);
  }
}
