// Measures how long the `trustgate` command takes to start, next to a bare Node start
// (`node -e 0`): `--help` (no command loaded), `policy lint` on the example policies and
// `verify --help` (the verify command's code loaded, nothing verified). Runs are alternated,
// one of each in turn, so that the shared machine's noise falls on all of them alike; the
// medians and their ratios to bare Node are printed. Bundled and run by scripts/run-bench.mjs
// (`npm run bench:start`); not a test. BENCH_START_RUNS: runs of each (default 15, at most 100).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const RUNS = Math.max(1, Math.min(Number(process.env['BENCH_START_RUNS'] ?? 15), 100));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/trustgate.cjs', import.meta.url));

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  // The exit status the command is expected to end with (a wrong one means it did not run).
  readonly status: number;
}

const CASES: readonly Case[] = [
  { name: 'node -e 0', args: ['-e', '0'], status: 0 },
  { name: 'trustgate --help', args: [CLI, '--help'], status: 0 },
  { name: 'trustgate policy lint examples/policies', args: [CLI, 'policy', 'lint', 'examples/policies'], status: 0 },
  // `verify` has no --help of its own: it loads its command and answers with the usage (exit 2).
  { name: 'trustgate verify --help', args: [CLI, 'verify', '--help'], status: 2 },
];

// One run of a case, in milliseconds of wall time from spawn to exit.
function timeOnce(item: Case): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, item.args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (run.status !== item.status) throw new Error(`${item.name}: expected exit ${item.status}, got ${String(run.status)}\n${run.stderr}`);
  return elapsed;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function main(): void {
  // One warm-up of each: the first start reads the files from disk.
  for (const item of CASES) timeOnce(item);
  const samples = new Map(CASES.map((item) => [item.name, [] as number[]]));
  for (let round = 0; round < RUNS; round += 1) {
    for (const item of CASES) samples.get(item.name)?.push(timeOnce(item));
  }
  const floor = median(samples.get(CASES[0]?.name ?? '') ?? []);
  console.log(`CLI start, ${RUNS} alternated runs each, medians (ratio to node -e 0):`);
  for (const item of CASES) {
    const value = median(samples.get(item.name) ?? []);
    console.log(`  ${item.name.padEnd(42)} ${value.toFixed(1).padStart(7)} ms  ${(value / floor).toFixed(2).padStart(5)}x`);
  }
}

main();
