// Runs one measurement script of scripts/bench/ (`npm run bench`: bench, every figure side by
// side, see bench.ts, /admit alone with BENCH_ONLY=admit; `npm run soak:hostile`:
// hostile-soak; `npm run bench:start`: cli-start; `npm run bench:admit`: admit-inprocess, the
// /admit endpoint alone in process): builds the CLI and functions (admit-inprocess needs
// neither), bundles the script (it reuses the integration test harness around the real
// servers) and runs it. Loopback only.
//   hostile-soak: SOAK_ROUNDS (default 4, at most 20), SOAK_NODE_OPTIONS, SOAK_KINDS;
//   cli-start: BENCH_START_RUNS (default 15, at most 100);
//   admit-inprocess: BENCH_REVIEWS (default 100,000, at most 1,000,000).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const name = process.argv[2];
if (!['bench', 'hostile-soak', 'cli-start', 'admit-inprocess'].includes(name)) {
  console.error('usage: node scripts/run-bench.mjs bench|hostile-soak|cli-start|admit-inprocess');
  process.exit(2);
}

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (name !== 'admit-inprocess') {
  const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit', cwd: root });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

mkdirSync(join(root, '.build'), { recursive: true });
const outfile = join(root, '.build', `${name}.mjs`);
await build({
  absWorkingDir: root,
  entryPoints: [`scripts/bench/${name}.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  // Packages are loaded from node_modules as they are (the AWS SDK's CommonJS needs require).
  packages: 'external',
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
