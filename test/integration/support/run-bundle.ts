// Drives a built bundle as its platform does (see bundle-driver.mjs) in a child process, with
// `env` as the function's configuration: the process environment of a Lambda function, the
// init-time parameters of an OpenWhisk action (the runtime exports them at init).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readActionCode } from '../../../cli/openwhisk/action-code.js';
import { PROJECT_ROOT } from './built-bundles.js';
import { makeTempDir, removeDir } from './temp-dir.js';

const DRIVER = join(dirname(fileURLToPath(import.meta.url)), 'bundle-driver.mjs');

export type BundleRun = { readonly loadError: string } | { readonly results: readonly ({ readonly value: unknown } | { readonly thrown: string })[] };

// For Lambda the bundle and the chunks it imports (its zip's content) are copied into a task
// folder laid out like /var/task, next to which only the AWS SDK resolves (the Node.js
// runtime provides it); nothing else from node_modules. For OpenWhisk `bundle` is the
// action's built file, sent as `trustgate deploy openwhisk` sends it (plain code) to the
// runtime's init, which runs in the task folder, far from the project's node_modules.
export async function runBundle(platform: 'lambda' | 'openwhisk', bundle: string, env: Record<string, string>, calls: readonly unknown[]): Promise<BundleRun> {
  const dir = await makeTempDir('bundle');
  try {
    const task = join(dir, 'task');
    await mkdir(task, { recursive: true });
    const out = join(dir, 'result.json');
    let input: Record<string, unknown>;
    if (platform === 'lambda') {
      const copy = join(task, 'function', basename(bundle));
      await mkdir(dirname(copy), { recursive: true });
      await cp(bundle, copy);
      const chunks = join(dirname(bundle), 'chunks');
      if (existsSync(chunks)) await cp(chunks, join(dirname(copy), 'chunks'), { recursive: true });
      await mkdir(join(task, 'node_modules'), { recursive: true });
      await symlink(join(PROJECT_ROOT, 'node_modules/@aws-sdk'), join(task, 'node_modules/@aws-sdk'));
      input = { platform, bundle: copy, calls, out };
    } else {
      const { code } = await readActionCode(bundle);
      input = { platform, message: { code, binary: false, main: 'main', env: withoutStartupEnv(env) }, calls, out };
    }
    const childEnv = { PATH: process.env['PATH'] ?? '', ...(platform === 'lambda' ? env : startupEnv(env)) };
    const child = spawn(process.execPath, [DRIVER], { cwd: task, env: childEnv, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdin.end(JSON.stringify(input));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (status !== 0) throw new Error(`bundle driver exited ${String(status)}: ${stderr}`);
    return JSON.parse(await readFile(out, 'utf8')) as BundleRun;
  } finally {
    await removeDir(dir);
  }
}

// Node reads NODE_EXTRA_CA_CERTS when its process starts, before any /init: for an OpenWhisk
// action it is part of the runtime's own environment, not an init-time parameter.
const STARTUP_VARIABLES = new Set(['NODE_EXTRA_CA_CERTS']);

function startupEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([key]) => STARTUP_VARIABLES.has(key)));
}

function withoutStartupEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !STARTUP_VARIABLES.has(key)));
}
