// The `/admit` endpoint alone, in process: what `trustgate serve` spends on a warm review
// beyond Node's HTTP and TLS. The same Pod of three tagged images as the bench's /admit
// part, under a ClusterImagePolicy requiring Notary trust; each image's Notary answer comes
// from memory (a verifier whose `known` answers at once, as serve's does for a verified
// repository), so what is measured is decoding the review (UTF-8, JSON, the decoder), the
// decision (policy requirements, the pod's pull secrets from the policy files: none,
// grouping, the JSON patch and its base64), the decision's log line and its batched write
// (to /dev/null), the metrics, and the answer's JSON, with the garbage collection all of it
// causes. To compare two builds, run each one's bundle (.build/admit-inprocess.mjs) in
// turn, several times each.
//   BENCH_REVIEWS  reviews measured (default 100,000, at most 1,000,000), after a fifth as
//                  many unmeasured ones so that V8 has compiled the hot paths
// Prints one JSON line: CPU time (user + system) and wall time per review, in microseconds.
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdmitEndpoint } from '../../infra/webhook-proxy/admit-endpoint.js';
import { loadPolicySet } from '../../cli/policy-set.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import type { AdmissionDeps } from '../../shared/admission/decide-admission.js';
import { createBatchedSink } from '../../shared/logging/batched-sink.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import { ADMISSION_METRICS, TRUST_METRICS } from '../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry } from '../../shared/metrics/prometheus-registry.js';
import type { Logger } from '../../shared/ports.js';
import { pullSecretsFromPolicySet } from '../../shared/registry/workload-pull-secrets.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../../shared/trust/verifier.js';
import { knownVerification, type VerifyImageDeps } from '../../shared/verify/verify-image.js';
import { objectOfKind, podSpec, reviewFor } from '../../test/support/admission-reviews.js';

const REVIEWS = Math.min(Number(process.env['BENCH_REVIEWS'] ?? 100_000), 1_000_000);
const REGISTRY = 'registry.test:5000';

const POLICY = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: signed-test-registry
spec:
  repositories:
    - name: "${REGISTRY}/it/*"
      policy:
        trust:
          enabled: true
          trustServer: "https://notary.test:4443"
`;

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'trustgate-admit-bench-'));
  let policies;
  try {
    writeFileSync(join(scratch, 'cluster.yaml'), POLICY);
    policies = await loadPolicySet(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // One answer per repository, the same object every time, as the Notary verifier's memo of
  // verified images gives it.
  const answers = new Map<string, VerifiedImage>();
  const notary: ImageVerifier<NotaryRequirement> = {
    kind: 'notary',
    verify: () => Promise.reject(new Error('not answered from memory')),
    known: (image) => {
      const key = `${image.registry}/${image.repository}`;
      let answer = answers.get(key);
      if (answer === undefined) {
        answer = { digest: `sha256:${(answers.size + 1).toString(16).padStart(64, '0')}`, signers: ['targets'] };
        answers.set(key, answer);
      }
      return answer;
    },
  };
  const clock = systemClock;
  const verifyDeps: VerifyImageDeps = { notary, clock, logger: silent, policies: () => Promise.resolve(policies), policiesNow: () => policies };
  const admission: AdmissionDeps = {
    verify: () => Promise.reject(new Error('not answered from memory')),
    known: (image, namespace) => knownVerification(verifyDeps, { image, namespace }),
    budgetMs: 8_000,
    startTimer: () => {
      throw new Error('no timer expected: every image is answered from memory');
    },
    // As serve reads them by default: from the policy files' Secrets and ServiceAccounts.
    pullSecrets: (namespace, workload) => pullSecretsFromPolicySet(policies, namespace, workload),
  };
  const metrics = createPrometheusRegistry({ ...ADMISSION_METRICS, ...TRUST_METRICS });
  const devNull = openSync('/dev/null', 'w');
  const lines = createBatchedSink((text) => void writeSync(devNull, text));
  const logger = createJsonLogger(lines.write, clock);
  const admit = createAdmitEndpoint({ admission, metrics, logger, elapsedMs: () => performance.now() });

  const containers = ['bench-a', 'bench-b', 'bench-c'].map((name, index) => ({ name: `c${index}`, image: `${REGISTRY}/it/${name}:v1` }));
  const body = Buffer.from(JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers })))));
  const first = admit(body);
  if (first instanceof Promise) throw new Error('a warm review must be answered at once');
  const review = first.body as { response?: { allowed?: boolean; patch?: string } };
  if (first.status !== 200 || review.response?.allowed !== true || review.response.patch === undefined) throw new Error(`unexpected answer: ${JSON.stringify(first.body)}`);

  // The answer's JSON, as the server writes it, is part of each review's cost.
  let bytes = 0;
  const once = (): void => {
    const answer = admit(body) as { status: number; body: unknown };
    bytes += JSON.stringify(answer.body).length;
  };
  for (let index = 0; index < REVIEWS / 5; index += 1) once();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  for (let index = 0; index < REVIEWS; index += 1) once();
  const wall = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  lines.flush();
  console.log(JSON.stringify({ reviews: REVIEWS, cpuUsPerReview: (cpu.user + cpu.system) / REVIEWS, wallUsPerReview: (wall * 1000) / REVIEWS, answerBytes: bytes > 0 }));
}

await main();
