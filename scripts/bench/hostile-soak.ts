// Soaks a real `trustgate serve` with a hostile trust server and reports what it cost:
// serve's peak resident memory (VmHWM) and how much its store grew. The trust server serves
// validly signed repositories shaped to exhaust a client: delegations of a megabyte each
// beyond the per-update budget, hundreds of delegations, a root version no chain reaches,
// answers that drip forever, and repositories as large as the budget allows whose image
// does verify (what one allowed repository can cost the store). Every review names several
// such images at once and several reviews run concurrently, round after round, each round
// on new repositories (new GUNs: nothing is answered from a cache).
// Bundled and run by scripts/run-bench.mjs (`npm run soak:hostile`); not a test.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../infra/clock/system-clock.js';
import { objectOfKind, podSpec, reviewFor } from '../../test/support/admission-reviews.js';
import { buildRepository } from '../../test/support/notary-builder.js';
import { delegationFlood, rootJump, startHostileTrustServer } from '../../test/integration/support/hostile-trust-server.js';
import { uniqueGun } from '../../test/integration/support/scenarios.js';
import { signedTestRegistryPolicy } from '../../test/integration/support/trust-policies.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from '../../test/integration/support/trustgate-serve.js';

const ROUNDS = Math.min(Number(process.env['SOAK_ROUNDS'] ?? 4), 20);
// Node options for serve: by default the NODE_OPTIONS infra/kubernetes/deployment.yaml
// ships; SOAK_NODE_OPTIONS replaces them, e.g. SOAK_NODE_OPTIONS=--max-old-space-size=128,
// or SOAK_NODE_OPTIONS=none for Node's own defaults.
const NODE_OPTIONS = process.env['SOAK_NODE_OPTIONS'] ?? (await shippedNodeOptions());
const NODE_ARGS = NODE_OPTIONS === 'none' ? [] : NODE_OPTIONS.split(' ').filter((arg) => arg !== '');
// Only these kinds of hostile image, e.g. SOAK_KINDS=drip,root-jump (default all).
const KINDS = (process.env['SOAK_KINDS'] ?? '').split(',').filter((kind) => kind !== '');
const CONCURRENT_REVIEWS = 4;
const MIB = 1024 * 1024;
// What infra/kubernetes/deployment.yaml ships.
const MEMORY_LIMIT = 256 * MIB;
const STORE_LIMIT = 64 * MIB;

type Kind = 'huge-delegations' | 'many-delegations' | 'root-jump' | 'drip' | 'largest-allowed';

interface Outcome {
  readonly kind: Kind;
  readonly allowed: boolean;
  readonly message: string;
}

function target(): { sha256Hex: string; length: number } {
  const manifest = randomBytes(64);
  return { sha256Hex: createHash('sha256').update(manifest).digest('hex'), length: manifest.length };
}

// A targets file just under the per-file cap, plus the tag: allowed, and as large as one
// repository's stored state may be.
function largestAllowed(gun: string, now: Date, tag: { sha256Hex: string; length: number }): ReturnType<typeof buildRepository> {
  const pad = 'x'.repeat(200);
  const filler = Object.fromEntries(Array.from({ length: 11_000 }, (_, i) => [`f${i}-${pad}`, { sha256Hex: createHash('sha256').update(String(i)).digest('hex'), length: i + 1 }]));
  return buildRepository(gun, { now, targets: { ...filler, v1: tag } });
}

// The NODE_OPTIONS value the shipped Deployment sets for serve ('none' when it sets none).
async function shippedNodeOptions(): Promise<string> {
  const deployment = await readFile(new URL('../../infra/kubernetes/deployment.yaml', import.meta.url), 'utf8');
  return /- name: NODE_OPTIONS\s+value: "?([^"\n]+)"?/.exec(deployment)?.[1]?.trim() ?? 'none';
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kib ?? Number.NaN) * 1024;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

async function admit(serve: ServeProcess, images: readonly string[]): Promise<{ allowed: boolean; message: string }> {
  const review = reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: images.map((image, i) => ({ name: `c${i}`, image })) })));
  // A new connection per review: building a round's repositories blocks this process's event
  // loop for seconds, longer than serve keeps an idle connection, so a kept-alive one could be
  // handed out after serve closed it (a "socket hang up" of this client, not of serve).
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(review), headers: { connection: 'close' } });
  const response = (JSON.parse(answer.text) as { response: { allowed: boolean; status?: { message?: string } } }).response;
  return { allowed: response.allowed, message: response.status?.message ?? '' };
}

async function main(): Promise<void> {
  const hostile = await startHostileTrustServer();
  const scratch = await mkdtemp(join(tmpdir(), 'trustgate-soak-'));
  let serve: ServeProcess | undefined;
  try {
    const policiesDir = join(scratch, 'policies');
    const stateDir = join(scratch, 'state');
    await Promise.all([policiesDir, stateDir].map((dir) => mkdir(dir)));
    await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(hostile.url));
    const caFile = join(scratch, 'no-extra-ca.pem');
    await writeFile(caFile, '');
    serve = await startTrustgateServe({ policiesDir, stateDir, caFile, extraArgs: ['--budget-ms', '8000', '--freshness', '0'], nodeArgs: NODE_ARGS });
    const idleRss = await peakRssBytes(serve.pid);
    const storeBefore = await dirBytes(stateDir);
    const outcomes: Outcome[] = [];
    const started = performance.now();

    for (let round = 0; round < ROUNDS; round += 1) {
      // The hostile server signs each round's metadata current by the clock `serve` reads.
      const now = systemClock.now();
      // Root jumps need a root trusted first: one allowed verification of each.
      const jumps = Array.from({ length: CONCURRENT_REVIEWS }, () => {
        const gun = uniqueGun('soak-jump');
        const first = buildRepository(gun, { now, targets: { v1: target() } });
        hostile.publish(gun, first.metadata);
        return { gun, first };
      });
      for (const result of await Promise.all(jumps.map((jump) => admit(serve as ServeProcess, [`${jump.gun}:v1`])))) {
        if (!result.allowed) throw new Error(`a plain repository was refused: ${result.message}`);
      }
      for (const jump of jumps) hostile.publish(jump.gun, rootJump(jump.first, 1_000_000).metadata);

      const reviews = Array.from({ length: CONCURRENT_REVIEWS }, (_, i) => {
        const huge = uniqueGun('soak-huge');
        hostile.publish(huge, delegationFlood(huge, { count: 12, bytesEach: MIB, now }).metadata);
        const many = uniqueGun('soak-many');
        hostile.publish(many, delegationFlood(many, { count: 300, bytesEach: 0, now }).metadata);
        const drip = uniqueGun('soak-drip');
        hostile.drip(drip, { bytes: 16, everyMs: 100 });
        const largest = uniqueGun('soak-largest');
        hostile.publish(largest, largestAllowed(largest, now, target()).metadata);
        const images: [Kind, string][] = [
          ['huge-delegations', `${huge}:v1`],
          ['many-delegations', `${many}:v1`],
          ['root-jump', `${jumps[i]?.gun ?? ''}:v1`],
          ['drip', `${drip}:v1`],
          ['largest-allowed', `${largest}:v1`],
        ];
        return images.filter(([kind]) => KINDS.length === 0 || KINDS.includes(kind));
      });
      const answers = await Promise.all(
        reviews.flatMap((images) => images.map(async ([kind, image]) => ({ kind, ...(await admit(serve as ServeProcess, [image])) }))),
      );
      outcomes.push(...answers);
      const rss = await peakRssBytes(serve.pid);
      console.log(`round ${round + 1}/${ROUNDS}: serve peak RSS ${(rss / MIB).toFixed(1)} MiB, store ${((await dirBytes(stateDir)) / MIB).toFixed(1)} MiB, requests to the hostile server ${hostile.requests.length}`);
    }

    const peak = await peakRssBytes(serve.pid);
    const storeAfter = await dirBytes(stateDir);
    const seconds = (performance.now() - started) / 1000;
    console.log('');
    console.log(`rounds: ${ROUNDS}, each ${CONCURRENT_REVIEWS} concurrent reviews x 5 hostile images (+${CONCURRENT_REVIEWS} plain reviews to trust the roots that then jump), ${seconds.toFixed(0)} s`);
    for (const kind of ['huge-delegations', 'many-delegations', 'root-jump', 'drip', 'largest-allowed'] as const) {
      const ofKind = outcomes.filter((outcome) => outcome.kind === kind);
      const codes = new Set(ofKind.map((outcome) => (outcome.allowed ? 'allowed' : (/\[([A-Z_]+)\]/.exec(outcome.message)?.[1] ?? 'denied'))));
      console.log(`  ${kind}: ${ofKind.length} answers, ${[...codes].join(', ')}`);
    }
    console.log(`requests to the hostile trust server: ${hostile.requests.length}`);
    console.log(`serve node options: ${NODE_ARGS.join(' ') || 'none'}${process.env['SOAK_NODE_OPTIONS'] === undefined ? ' (as the Deployment ships)' : ''}`);
    console.log(`serve peak RSS: ${(peak / MIB).toFixed(1)} MiB (idle ${(idleRss / MIB).toFixed(1)} MiB; limit ${MEMORY_LIMIT / MIB} MiB)`);
    console.log(`store growth: ${((storeAfter - storeBefore) / MIB).toFixed(1)} MiB (limit ${STORE_LIMIT / MIB} MiB)`);
    const internal = serve.output().split('\n').filter((line) => line.includes('INTERNAL'));
    for (const line of internal.slice(0, 3)) console.log(`INTERNAL in serve's log: ${line.slice(0, 600)}`);
    if (peak >= MEMORY_LIMIT) process.exitCode = 1;
  } catch (error) {
    console.error(`serve's output, the last lines other than decisions:\n${serve?.output().split('\n').filter((line) => !line.includes('"admission decision"')).slice(-40).join('\n') ?? ''}`);
    throw error;
  } finally {
    await serve?.stop();
    await hostile.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
