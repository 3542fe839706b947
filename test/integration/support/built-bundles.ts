// The built function bundles the deployment tests drive: `npm test` builds before running,
// and a test run on its own builds once here when a bundle it needs is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

// The Lambda entry file, or the OpenWhisk action's file (deployed as plain code).
export function bundlePath(name: string, platform: 'lambda' | 'openwhisk'): string {
  return join(PROJECT_ROOT, 'dist/functions', name, platform === 'lambda' ? 'aws.mjs' : 'openwhisk.js');
}

export function ensureBuilt(paths: readonly string[]): void {
  if (paths.every((path) => existsSync(path))) return;
  const build = spawnSync(process.execPath, [join(PROJECT_ROOT, 'scripts/build.mjs')], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
}
