// Measures `trustgate serve` answering /admit against a real notary-server, next to a
// floor: a bare Node HTTPS server on the same certificate that only parses the review and
// answers allowed. Both are driven by autocannon over loopback for the same fixed time, one
// after the other, and the figures printed side by side. Bundled and run by
// scripts/run-bench.mjs (`npm run bench`); not a test.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { objectOfKind, podSpec, reviewFor } from '../../test/support/admission-reviews.js';
import { uniqueGun } from '../../test/integration/support/scenarios.js';
import { startTrustEnvironment } from '../../test/integration/support/trust-environment.js';
import { signedTestRegistryPolicy } from '../../test/integration/support/trust-policies.js';
import { httpsRequest, startTrustgateServe } from '../../test/integration/support/trustgate-serve.js';

const DURATION_S = Math.min(Number(process.env['BENCH_DURATION'] ?? 10), 60);
const CONNECTIONS = Math.min(Number(process.env['BENCH_CONNECTIONS'] ?? 10), 100);
// A directory for a V8 CPU profile of serve over the whole run (written when it stops).
const PROFILE_DIR = process.env['BENCH_CPU_PROFILE'];

interface Figures {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
}

async function main(): Promise<void> {
  const env = await startTrustEnvironment();
  let stopServe: (() => Promise<unknown>) | undefined;
  let floor: ReturnType<typeof createServer> | undefined;
  try {
    const gun = uniqueGun('bench');
    const target = await env.scenarios.signedInTargets(gun, 'v1');
    const policiesDir = await env.makeDir('policies');
    await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url, 'registry.test:5000/open/*'));
    const stateDir = await env.makeDir('state');
    const serve = await startTrustgateServe({
      policiesDir,
      stateDir,
      caFile: env.caFile,
      outputFile: join(await env.makeDir('serve-log'), 'serve.log'),
      ...(PROFILE_DIR === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] }),
    });
    stopServe = () => serve.stop();
    const body = JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${gun}:v1` }] }))));
    // The same review for an image whose policy requires nothing: the webhook's own cost
    // (TLS, decoding, policy lookup, answer, log line) without any signature verification.
    const openBody = JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: 'registry.test:5000/open/app:v1' }] }))));

    // Warm the trusted-state cache and check the answer is the real one before measuring.
    for (let i = 0; i < 5; i += 1) {
      const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body });
      const review = JSON.parse(answer.text) as { response: { allowed: boolean; patch?: string } };
      const patch = Buffer.from(review.response.patch ?? '', 'base64').toString('utf8');
      if (!review.response.allowed || !patch.includes(target.digestHex)) throw new Error(`unexpected answer while warming: ${answer.text}`);
    }

    floor = createServer(
      { cert: await readFile(join(stateDir, 'tls', 'server.crt')), key: await readFile(join(stateDir, 'tls', 'server.key')) },
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
    const floorServer = floor;
    await new Promise<void>((resolve) => floorServer.listen(0, '127.0.0.1', resolve));
    const floorUrl = `https://127.0.0.1:${(floor.address() as AddressInfo).port}`;

    console.log(`driving /admit for ${DURATION_S} s each with ${CONNECTIONS} connections (loopback, HTTPS, keep-alive)`);
    const trustgate = await drive('trustgate serve', `${serve.url}/admit`, body);
    const open = await drive('serve, no trust', `${serve.url}/admit`, openBody);
    const bare = await drive('bare Node floor', `${floorUrl}/admit`, body);
    const rows = [trustgate, open, bare].map(
      (f) =>
        `${f.name.padEnd(18)} ${f.requestsPerSecond.toFixed(0).padStart(9)} ${f.p50.toFixed(2).padStart(9)} ${f.p99.toFixed(2).padStart(9)} ${String(f.errors + f.non2xx).padStart(8)}`,
    );
    console.log(`${'server'.padEnd(18)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'failed'.padStart(8)}`);
    for (const row of rows) console.log(row);
    const ratio = trustgate.requestsPerSecond / bare.requestsPerSecond;
    console.log(`ratio trustgate / floor: ${ratio.toFixed(2)} (target >= 0.50: ${ratio >= 0.5 ? 'met' : 'not met'})`);
    console.log(`ratio serve without verification / floor: ${(open.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}`);
    const trustRequests = /trustgate_trust_server_requests_total\{[^}]*\} (\d+)/g;
    const metrics = (await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text;
    const roundTrips = [...metrics.matchAll(trustRequests)].reduce((sum, match) => sum + Number(match[1]), 0);
    console.log(`trust server requests during the whole run: ${roundTrips}`);
  } finally {
    if (floor !== undefined) floor.close();
    await stopServe?.();
    await env.stop();
  }
}

interface AutocannonResult {
  readonly requests: { readonly average: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

// autocannon in its own process (its CLI, JSON output), so the load generator neither
// competes with the floor server in this process nor stalls the reading of serve's log pipe.
async function drive(name: string, url: string, body: string): Promise<Figures> {
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  const args = [cli, '-j', '-c', String(CONNECTIONS), '-d', String(DURATION_S), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, url];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`autocannon exited ${code}`);
  const result = JSON.parse(output) as AutocannonResult;
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

await main();
