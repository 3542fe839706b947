// `npm run soak:hostile`: builds the CLI, bundles the hostile trust server soak (it reuses
// the integration test harness) and runs it against `trustgate serve`. Loopback only;
// SOAK_ROUNDS (default 4, at most 20).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit', cwd: root });
if (built.status !== 0) process.exit(built.status ?? 1);

mkdirSync(join(root, '.build'), { recursive: true });
const outfile = join(root, '.build/soak-hostile.mjs');
await build({
  absWorkingDir: root,
  entryPoints: ['scripts/bench/hostile-soak.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  plugins: [sourceLocation()],
});
const run = spawnSync(process.execPath, [outfile], { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 1);

// The harness finds the CLI and the fixtures relative to its own source files
// (import.meta.url); in one bundle every module would share the bundle's location, so
// each module keeps the URL of the file it came from.
function sourceLocation() {
  return {
    name: 'source-location',
    setup(builder) {
      builder.onLoad({ filter: /\.ts$/ }, async (args) => ({
        contents: (await readFile(args.path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: 'ts',
      }));
    },
  };
}
