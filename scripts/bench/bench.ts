// Every performance figure of the product in one run, each next to its baseline on the same
// machine at the same time (`npm run bench`; bundled and run by scripts/run-bench.mjs; not a
// test). Loopback only: a real notary-server (TLS), dynalite for the functions' DynamoDB
// store, the built CLI and function bundles.
//   1. Cold starts, one process each, against `node -e 0`: `trustgate --help`, importing each
//      Lambda entry with its deployed configuration (a DynamoDB table named), the OpenWhisk
//      runtime's init of each action as `trustgate deploy openwhisk` sends it (the /init
//      message read and parsed, the plain code evaluated in the runtime's function wrapper,
//      the configuration as init-time parameters; see
//      test/integration/support/openwhisk-runtime.cjs) beside the same init of a one-line
//      plain-code action (the runtime's own share), and a cold invocation end to end on each platform
//      (start plus the first verification of a signed image against notary-server, the trust
//      state in DynamoDB).
//   2. A cold `trustgate verify IMAGE --trust-server URL` with a fresh state directory against
//      Notary's own client, `notary lookup` with a fresh trust directory, same server and tag:
//      the usual run, its code cache warm, and a user's first run, no code cache yet; and the
//      floor of any Node client, a Node process that only fetches the same four metadata files
//      (notary-fetch-floor.cjs: through node:https, and through node:tls alone).
//   3. Warm `/admit` (a Pod with three signed images) against the echo floor: a bare Node
//      HTTPS server on the same certificate that only parses the review and answers. Each
//      server first gets one unmeasured run of WARM_UP_S seconds (JIT warm-up).
// Process runs are alternated (one of each case in turn) and /admit runs alternate between
// trustgate and the floor, so the shared machine's noise falls on all alike; medians are
// printed with the spread (lowest to highest) and the ratios of medians.
//   BENCH_START_RUNS  runs of each cold-start case (default 11, at most 100)
//   BENCH_ADMIT_ROUNDS  /admit rounds, each one run of each server (default 3, at most 20)
//   BENCH_DURATION    seconds of each /admit run (default 5, at most 60)
//   BENCH_CONNECTIONS /admit connections (default 16, at most 100)
//   BENCH_ONLY        `start` or `admit` to run one part only
//   BENCH_CPU_PROFILE a directory for a V8 CPU profile of serve over the /admit runs
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readActionCode } from '../../cli/openwhisk/action-code.js';
import { objectOfKind, podSpec, reviewFor } from '../../test/support/admission-reviews.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../../test/support/dynalite-server.js';
import { uniqueGun } from '../../test/integration/support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from '../../test/integration/support/trust-environment.js';
import { signedTestRegistryPolicy } from '../../test/integration/support/trust-policies.js';
import { httpsRequest, startTrustgateServe } from '../../test/integration/support/trustgate-serve.js';

const bounded = (name: string, fallback: number, max: number): number => Math.max(1, Math.min(Number(process.env[name] ?? fallback) || fallback, max));
const START_RUNS = bounded('BENCH_START_RUNS', 11, 100);
const ADMIT_ROUNDS = bounded('BENCH_ADMIT_ROUNDS', 3, 20);
const DURATION_S = bounded('BENCH_DURATION', 5, 60);
const CONNECTIONS = bounded('BENCH_CONNECTIONS', 16, 100);
const ONLY = process.env['BENCH_ONLY'];
// Seconds of the unmeasured /admit run of each server before the measured rounds.
const WARM_UP_S = 2;
const PROFILE_DIR = process.env['BENCH_CPU_PROFILE'];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin/trustgate.cjs');
const FUNCTIONS = ['policy-lookup', 'verify-image', 'sign-callback', 'callback-authorizer'] as const;
const WITH_OPENWHISK = new Set(['policy-lookup', 'verify-image', 'sign-callback']);
const OPENWHISK_RUNTIME = join(ROOT, 'test/integration/support/openwhisk-runtime.cjs');
const FETCH_FLOOR = join(ROOT, 'scripts/bench/notary-fetch-floor.cjs');

interface StartCase {
  readonly name: string;
  readonly command: string;
  // Arguments, computed per run (a fresh directory each time for the cold verifications).
  readonly args: () => readonly string[];
  // The environment beyond PATH, or a function computing it per run.
  readonly env?: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>);
  // The exit status the run must end with (a wrong one means it did not do its work).
  readonly status: number;
  // What the ratio is taken against: a case name (default `node -e 0`).
  readonly baseline?: string;
  // The working directory, computed per run (default the project root).
  readonly cwd?: () => string;
}

// Milliseconds of wall time from spawn to exit. Asynchronous: dynalite answers from this
// process while the child runs.
async function timeOnce(item: StartCase): Promise<number> {
  const args = item.args();
  const started = performance.now();
  const env = typeof item.env === 'function' ? item.env() : item.env;
  const child = spawn(item.command, args, { cwd: item.cwd?.() ?? ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const elapsed = performance.now() - started;
  if (status !== item.status) throw new Error(`${item.name}: expected exit ${item.status}, got ${String(status)}\n${output}`);
  return elapsed;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const spread = (values: readonly number[]): string => `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;

// A new empty directory under `parent` per call.
function freshDir(parent: string): () => string {
  let count = 0;
  return () => {
    count += 1;
    return mkdtempSync(join(parent, `run-${count}-`));
  };
}

async function startCases(env: TrustEnvironment, dynalite: DynaliteServer, scratch: string): Promise<StartCase[]> {
  const gun = uniqueGun('bench-cold');
  const target = await env.scenarios.signedInTargets(gun, 'v1');
  const policiesDir = await env.makeDir('function-policies');
  writeFileSync(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
  const table = 'bench-trust-state';
  await createTrustgateTable(dynalite.client(), table);
  // The functions' deployed configuration; the store is DynamoDB (dynalite). Freshness 0:
  // every cold invocation asks notary-server for the timestamp, as a first verification does.
  const functionEnv = {
    ...dynalite.clientEnv,
    TRUSTGATE_DYNAMODB_TABLE: table,
    TRUSTGATE_DYNAMODB_ENDPOINT: dynalite.endpoint,
    TRUSTGATE_STATE_KEY: 'cd'.repeat(32),
    TRUSTGATE_POLICIES: policiesDir,
    TRUSTGATE_REGISTRY_HOST: 'registry.test:5000',
    TRUSTGATE_CALLBACK_TOKEN: 'bench-token',
    TRUSTGATE_FRESHNESS: '0',
  };
  // Node reads extra CA certificates at start: only the runs that verify get them.
  const invocationEnv = { ...functionEnv, NODE_EXTRA_CA_CERTS: env.caFile };
  const bundle = (name: string) => join(ROOT, 'dist/functions', name, 'aws.mjs');
  const importLambda = (name: string) => ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(bundle(name)).href)})`];
  // OpenWhisk: each action's /init message (the plain code as deployed, the configuration as
  // init-time parameters) in a file, read and parsed by the run as the runtime parses the
  // request; the runtime runs in a fresh working directory each time.
  const initMessages = new Map<string, string>();
  const writeInitMessage = (name: string, code: string) => {
    const file = join(scratch, `${name}-init.json`);
    writeFileSync(file, JSON.stringify({ code, binary: false, main: 'main', env: functionEnv }));
    initMessages.set(name, file);
  };
  for (const name of WITH_OPENWHISK) writeInitMessage(name, (await readActionCode(join(ROOT, 'dist/functions', name, 'openwhisk.js'))).code);
  writeInitMessage('one-line', 'const main = async (params) => ({ body: params });\n');
  const runtimeDirs = freshDir(join(scratch, 'openwhisk-runtime'));
  mkdirSync(join(scratch, 'openwhisk-runtime'));
  const initAction = (name: string, then = '') =>
    `require(${JSON.stringify(OPENWHISK_RUNTIME)}).initializeAction(JSON.parse(require('node:fs').readFileSync(${JSON.stringify(initMessages.get(name))}, 'utf8')))${then}`;
  const openwhiskInit = (name: string): StartCase => ({ name: `${name} OpenWhisk init`, command: process.execPath, args: () => ['-e', initAction(name)], cwd: runtimeDirs, status: 0 });
  const request = { image: `${gun}:v1`, namespace: 'default' };
  const event = {
    version: '2.0',
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method: 'POST', path: '/functions/verify-image' } },
    body: JSON.stringify(request),
    isBase64Encoded: false,
  };
  // The verdict must be the real one: allowed, with the signed digest.
  const check = `if (!(verdict.allowed && JSON.stringify(verdict).includes(${JSON.stringify(target.digestHex)}))) { console.error(JSON.stringify(verdict)); process.exit(3); }`;
  const invokeLambda = [
    '--input-type=module',
    '-e',
    `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle('verify-image')).href)}); const answer = await handler(${JSON.stringify(event)}, {}); const verdict = JSON.parse(answer.body); ${check}`,
  ];
  const invokeAction = ['-e', initAction('verify-image', `.then((main) => main(${JSON.stringify(request)})).then((answer) => { const verdict = answer.body; ${check} })`)];

  const cliState = freshDir(join(scratch, 'cli-state'));
  const notaryTrust = freshDir(join(scratch, 'notary-trust'));
  // The verify command's code cache (bin/code-cache.cjs) lives in the user's cache folder
  // (XDG_CACHE_HOME). A usual run finds it warm (the same user verified before: a CI job
  // verifying image after image); the first run ever of a user (or of a new version) finds
  // none and writes it. The warm folder is filled by the unmeasured warm-up run.
  const cacheHomes = freshDir(join(scratch, 'cache-homes'));
  for (const dir of ['cli-state', 'notary-trust', 'cache-homes']) mkdirSync(join(scratch, dir));
  const warmCacheHome = cacheHomes();
  const verifyArgs = () => [CLI, 'verify', `${gun}:v1`, '--trust-server', env.server.url, '--state-dir', cliState(), '--json'];
  return [
    { name: 'node -e 0', command: process.execPath, args: () => ['-e', '0'], status: 0 },
    { name: 'trustgate --help', command: process.execPath, args: () => [CLI, '--help'], status: 0 },
    ...FUNCTIONS.flatMap((name): StartCase[] => [
      { name: `${name} Lambda import`, command: process.execPath, args: () => importLambda(name), env: functionEnv, status: 0 },
      ...(WITH_OPENWHISK.has(name) ? [openwhiskInit(name)] : []),
    ]),
    openwhiskInit('one-line'),
    { name: 'verify-image Lambda cold invocation', command: process.execPath, args: () => invokeLambda, env: invocationEnv, status: 0 },
    // Node reads NODE_EXTRA_CA_CERTS at start: the runtime's environment, not an init parameter.
    { name: 'verify-image OpenWhisk cold activation', command: process.execPath, args: () => invokeAction, env: { NODE_EXTRA_CA_CERTS: env.caFile }, cwd: runtimeDirs, status: 0 },
    {
      name: 'notary lookup (fresh trust dir)',
      command: 'notary',
      args: () => ['-d', notaryTrust(), '-s', env.server.url, '--tlscacert', env.caFile, 'lookup', gun, 'v1'],
      status: 0,
    },
    // What any Node client pays for the same four files (scripts/bench/notary-fetch-floor.cjs):
    // node:https, and node:tls alone with HTTP/1.1 read by hand; nothing verified or stored.
    ...(['https', 'tls'] as const).map((mode): StartCase => ({
      name: `Node ${mode} floor: the four files fetched`,
      command: process.execPath,
      args: () => [FETCH_FLOOR, mode, env.server.url, gun],
      env: { NODE_EXTRA_CA_CERTS: env.caFile },
      status: 0,
      baseline: 'notary lookup (fresh trust dir)',
    })),
    {
      name: 'trustgate verify (fresh state dir, warm code cache)',
      command: process.execPath,
      args: verifyArgs,
      env: { NODE_EXTRA_CA_CERTS: env.caFile, XDG_CACHE_HOME: warmCacheHome },
      status: 0,
      baseline: 'notary lookup (fresh trust dir)',
    },
    {
      name: 'trustgate verify (fresh state dir, first run: no code cache)',
      command: process.execPath,
      args: verifyArgs,
      env: () => ({ NODE_EXTRA_CA_CERTS: env.caFile, XDG_CACHE_HOME: cacheHomes() }),
      status: 0,
      baseline: 'notary lookup (fresh trust dir)',
    },
  ];
}

async function benchStarts(env: TrustEnvironment, dynalite: DynaliteServer): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'trustgate-bench-'));
  try {
    const cases = await startCases(env, dynalite, scratch);
    // One warm-up of each: the first start reads the files from disk.
    for (const item of cases) await timeOnce(item);
    const samples = new Map(cases.map((item) => [item.name, [] as number[]]));
    for (let round = 0; round < START_RUNS; round += 1) {
      for (const item of cases) samples.get(item.name)?.push(await timeOnce(item));
    }
    console.log(`\nCold starts: ${START_RUNS} alternated runs of each, median ms (lowest-highest), ratio of medians to the baseline`);
    for (const item of cases) {
      const values = samples.get(item.name) ?? [];
      const baseline = item.baseline ?? 'node -e 0';
      const ratio = median(values) / median(samples.get(baseline) ?? []);
      console.log(`  ${item.name.padEnd(40)} ${median(values).toFixed(1).padStart(7)} ms  (${spread(values).padStart(9)})  ${ratio.toFixed(2).padStart(5)}x ${baseline}`);
    }
    // How much of a cold verify is beyond what any Node client pays for the same files.
    const medianOf = (name: string) => median(samples.get(name) ?? []);
    const floor = medianOf('Node https floor: the four files fetched');
    const verify = medianOf('trustgate verify (fresh state dir, warm code cache)');
    console.log(`  trustgate verify (warm code cache) beyond the Node https floor: ${(verify - floor).toFixed(1)} ms, ${(verify / floor).toFixed(2)}x the floor`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface AdmitFigures {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  // The server process's CPU time (user + system) per answered request, in microseconds:
  // less sensitive than the rate to what else runs on the shared machine.
  readonly cpuPerRequestUs: number;
}

// CPU seconds (user + system) a process has used so far: serve's from /proc (Linux), the
// floor's (this process) from process.cpuUsage().
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }
  // Fields after the command name (which may hold spaces) start at the third one, `state`.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
// USER_HZ, 100 on every Linux architecture Node runs on.
const CLOCK_TICKS_PER_SECOND = 100;

async function benchAdmit(env: TrustEnvironment): Promise<void> {
  let stopServe: (() => Promise<unknown>) | undefined;
  let floor: ReturnType<typeof createServer> | undefined;
  try {
    const guns = [uniqueGun('bench-a'), uniqueGun('bench-b'), uniqueGun('bench-c')];
    const targets = [];
    for (const gun of guns) targets.push(await env.scenarios.signedInTargets(gun, 'v1'));
    const policiesDir = await env.makeDir('policies');
    writeFileSync(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
    const stateDir = await env.makeDir('state');
    const serve = await startTrustgateServe({
      policiesDir,
      stateDir,
      caFile: env.caFile,
      outputFile: join(await env.makeDir('serve-log'), 'serve.log'),
      ...(PROFILE_DIR === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] }),
    });
    stopServe = () => serve.stop();
    const containers = guns.map((gun, index) => ({ name: `c${index}`, image: `${gun}:v1` }));
    const body = JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers }))));
    // Warm the trusted-state cache and check the answer is the real one before measuring.
    for (let i = 0; i < 5; i += 1) {
      const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body });
      const review = JSON.parse(answer.text) as { response: { allowed: boolean; patch?: string } };
      const patch = Buffer.from(review.response.patch ?? '', 'base64').toString('utf8');
      if (!review.response.allowed || !targets.every((target) => patch.includes(target.digestHex))) throw new Error(`unexpected answer while warming: ${answer.text}`);
    }

    const floorServer = createServer(
      { cert: readFileSync(join(stateDir, 'tls', 'server.crt')), key: readFileSync(join(stateDir, 'tls', 'server.key')) },
      (request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
          const answer = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } });
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
          response.end(answer);
        });
      },
    );
    floor = floorServer;
    await new Promise<void>((resolve) => floorServer.listen(0, '127.0.0.1', resolve));
    const floorUrl = `https://127.0.0.1:${(floorServer.address() as AddressInfo).port}/admit`;

    // One unmeasured run of each first: a few reviews leave V8 compiling the hot paths
    // (trustgate's far more than the floor's) during the first measured round.
    await drive(`${serve.url}/admit`, body, serve.pid, WARM_UP_S);
    await drive(floorUrl, body, undefined, WARM_UP_S);
    const runs = { trustgate: [] as AdmitFigures[], floor: [] as AdmitFigures[] };
    for (let round = 0; round < ADMIT_ROUNDS; round += 1) {
      runs.trustgate.push(await drive(`${serve.url}/admit`, body, serve.pid));
      runs.floor.push(await drive(floorUrl, body, undefined));
    }
    const rate = (figures: readonly AdmitFigures[]) => figures.map((f) => f.requestsPerSecond);
    const cpu = (figures: readonly AdmitFigures[]) => figures.map((f) => f.cpuPerRequestUs);
    const ratios = runs.trustgate.map((f, i) => f.requestsPerSecond / (runs.floor[i]?.requestsPerSecond ?? Number.NaN));
    console.log(
      `\nWarm /admit: a Pod with three signed images, ${CONNECTIONS} connections, ${ADMIT_ROUNDS} alternated runs of ${DURATION_S} s each (loopback, HTTPS, keep-alive), medians (lowest-highest)`,
    );
    console.log(`  ${'server'.padEnd(18)} ${'req/s'.padStart(16)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(16)} ${'failed'.padStart(7)} ${'CPU µs/request'.padStart(20)}`);
    for (const [name, figures] of [['trustgate serve', runs.trustgate], ['echo floor', runs.floor]] as const) {
      const p99s = figures.map((f) => f.p99);
      console.log(
        `  ${name.padEnd(18)} ${`${median(rate(figures)).toFixed(0)} (${spread(rate(figures))})`.padStart(16)} ${median(figures.map((f) => f.p50)).toFixed(2).padStart(8)} ${`${median(p99s).toFixed(2)} (${Math.min(...p99s)}-${Math.max(...p99s)})`.padStart(16)} ${String(figures.reduce((sum, f) => sum + f.failed, 0)).padStart(7)} ${`${median(cpu(figures)).toFixed(1)} (${spread(cpu(figures))})`.padStart(20)}`,
      );
    }
    console.log(`  ratio trustgate / floor per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; of medians: ${(median(rate(runs.trustgate)) / median(rate(runs.floor))).toFixed(2)}`);
    console.log(`  CPU time per request, floor / trustgate, of medians: ${(median(cpu(runs.floor)) / median(cpu(runs.trustgate))).toFixed(2)}`);
    const metrics = (await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text;
    const roundTrips = [...metrics.matchAll(/trustgate_trust_server_requests_total\{[^}]*\} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    console.log(`  trust server requests during the whole run: ${roundTrips}`);
  } finally {
    floor?.close();
    await stopServe?.();
  }
}

interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

// autocannon in its own process (its CLI, JSON output), so the load generator neither
// competes with the floor server in this process nor stalls the reading of serve's log pipe.
// `pid`: the server's process (serve), or undefined for this one (the floor).
async function drive(url: string, body: string, pid: number | undefined, seconds = DURATION_S): Promise<AdmitFigures> {
  const cpuBefore = cpuSeconds(pid);
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  const args = [cli, '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, url];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`autocannon exited ${code}`);
  const cpuUsed = cpuSeconds(pid) - cpuBefore;
  const result = JSON.parse(output) as AutocannonResult;
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.errors + result.timeouts + result.non2xx,
    cpuPerRequestUs: (cpuUsed * 1e6) / Math.max(result.requests.total, 1),
  };
}

async function main(): Promise<void> {
  const env = await startTrustEnvironment();
  const dynalite = await startDynalite();
  try {
    if (ONLY !== 'admit') await benchStarts(env, dynalite);
    if (ONLY !== 'start') await benchAdmit(env);
  } finally {
    await dynalite.stop();
    await env.stop();
  }
}

await main();
