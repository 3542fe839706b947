// POST /admit (mutating) and POST /validate (validating, admission.validate set): an
// AdmissionReview in, an AdmissionReview out. A body that is not a review at all gets HTTP
// 400; any review gets HTTP 200 with the verdict inside, because the API server treats a
// non-200 as a webhook failure and applies failurePolicy instead of showing the user our
// reason. Each decision is logged as one JSON line and counted.
import type { ContainerImage } from '../../shared/admission/admission-review.js';
import { decideAdmission, type AdmissionDecision, type AdmissionDeps, type ImageVerdict } from '../../shared/admission/decide-admission.js';
import { decodeAdmissionReview } from '../../shared/admission/decode-admission-review.js';
import { isTrustgateError } from '../../shared/errors.js';
import { parseJsonBytesInPlace } from '../../shared/json.js';
import { AdmissionMetric } from '../../shared/metrics/admission-metrics.js';
import { JsonFields } from '../../shared/logging/json-text.js';
import type { Logger, MetricLabels, Metrics } from '../../shared/ports.js';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';

export interface AdmitEndpointDeps {
  readonly admission: AdmissionDeps;
  readonly metrics: Metrics;
  readonly logger: Logger;
  // Monotonic milliseconds, for durations.
  readonly elapsedMs: () => number;
}

export interface EndpointAnswer {
  readonly status: number;
  readonly body: unknown;
}

// The endpoint answers at once when the decision needs no waiting (a review whose images
// are all answered from memory, or one it rejects), and with a promise otherwise.
export function createAdmitEndpoint(deps: AdmitEndpointDeps): (body: Uint8Array) => EndpointAnswer | Promise<EndpointAnswer> {
  return (bytes) => {
    const started = deps.elapsedMs();
    let parsed: unknown;
    try {
      // Read by the decoder alone, which takes own members only (see parseJsonBytesInPlace).
      parsed = parseJsonBytesInPlace(bytes, undefined, 'AdmissionReview');
    } catch (error) {
      return notAReview(isTrustgateError(error) ? error.message : 'body is not JSON');
    }
    const decoded = decodeAdmissionReview(parsed);
    if (decoded.kind === 'not-a-review') return notAReview(decoded.reason);
    deps.metrics.increment(AdmissionMetric.REQUESTS);
    const decision = decideAdmission(deps.admission, decoded);
    return decision instanceof Promise ? decision.then((settled) => answer(deps, settled, started)) : answer(deps, decision, started);
  };
}

// The decision recorded (log line, metrics) and answered.
function answer(deps: AdmitEndpointDeps, decision: AdmissionDecision, started: number): EndpointAnswer {
  record(deps, decision, (deps.elapsedMs() - started) / 1000);
  return { status: 200, body: decision.review };
}

function notAReview(reason: string): EndpointAnswer {
  return { status: 400, body: { error: { code: 'REQUEST_INVALID', message: `not an AdmissionReview: ${reason}` } } };
}

// Metrics and the decision's log line: what was admitted where, by which policy, the
// outcome with its codes and how long it took, and on UPDATE which images went unchecked
// because the old object already held them. Images and policy names only: a request
// never carries credentials into this line, and neither do verification reasons.
// This runs once per admission request, so the line is written as JSON text from parts:
// every value from the request through JSON.stringify, each image's outcome serialised once
// per verification answer (answers from memory are the same object review after review),
// and the label sets of the metrics are constants.
function record(deps: AdmitEndpointDeps, decision: AdmissionDecision, seconds: number): void {
  deps.metrics.increment(AdmissionMetric.DECISIONS, OUTCOME_LABELS[decision.outcome]);
  deps.metrics.observe(AdmissionMetric.DURATION, seconds);
  let images = '';
  // Verifications counted by code, consecutive equal codes in one increment (the usual
  // review: every image OK), in the order the codes first appear.
  let code: string | undefined;
  let codeCount = 0;
  for (const verdict of decision.verdicts) {
    const result = verdict.result;
    if (result !== undefined) {
      const next = result.allowed ? 'OK' : (result.codes[0] ?? 'UNKNOWN');
      if (next !== code) {
        if (code !== undefined) deps.metrics.increment(AdmissionMetric.VERIFICATIONS, codeLabels(code), codeCount);
        code = next;
        codeCount = 0;
      }
      codeCount += 1;
    }
    images += `${images === '' ? '' : ','}${imageEntry(verdict)}`;
    // What policies in warn or audit mode would have denied: counted once per image and mode.
    const wouldDeny = result?.wouldDeny;
    if (wouldDeny !== undefined && wouldDeny.length > 0) {
      for (const mode of new Set(wouldDeny.map((failure) => failure.mode))) deps.metrics.increment(AdmissionMetric.WOULD_DENY, { mode });
    }
  }
  if (code !== undefined) deps.metrics.increment(AdmissionMetric.VERIFICATIONS, codeLabels(code), codeCount);
  const request = decision.request;
  const response = decision.review.response;
  let fields = `"uid":${JSON.stringify(response.uid)}`;
  if (request?.kind) fields += `,"kind":${JSON.stringify(request.kind.kind)}`;
  if (request?.namespace) fields += `,"namespace":${JSON.stringify(request.namespace)}`;
  if (request?.name) fields += `,"name":${JSON.stringify(request.name)}`;
  if (request?.operation) fields += `,"operation":${JSON.stringify(request.operation)}`;
  if (request?.dryRun) fields += ',"dryRun":true';
  if (deps.admission.validate === true) fields += ',"pass":"validate"';
  fields += `,"outcome":"${decision.outcome}","status":${JSON.stringify(response.status.code)},"durationMs":${JSON.stringify(Math.round(seconds * 1000 * 10) / 10)},"images":[${images}]`;
  // On UPDATE, the images the old object already held: admitted without any check.
  if (decision.unchanged !== undefined) fields += `,"unchanged":${JSON.stringify([...new Set(decision.unchanged.map((container) => container.image))])}`;
  if (decision.outcome === 'invalid' || decision.outcome === 'unchecked') fields += `,"reason":${JSON.stringify(response.status.message)}`;
  const line = new JsonFields(fields);
  if (decision.outcome === 'allowed' || decision.outcome === 'unchecked') deps.logger.info('admission decision', line);
  else deps.logger.warn('admission decision', line);
}

// The label sets, built once: a request adds to counters without building any.
const OUTCOME_LABELS: Readonly<Record<AdmissionDecision['outcome'], MetricLabels>> = {
  allowed: { outcome: 'allowed' },
  denied: { outcome: 'denied' },
  invalid: { outcome: 'invalid' },
  timeout: { outcome: 'timeout' },
  unchecked: { outcome: 'unchecked' },
};
const CODE_LABELS = new Map<string, MetricLabels>();
// Far more than there are error codes; a remote verifier answering other codes cannot grow
// the map past it.
const MAX_CODE_LABELS = 256;

// The label set of a verification code, kept per code.
function codeLabels(code: string): MetricLabels {
  let labels = CODE_LABELS.get(code);
  if (labels === undefined) {
    labels = { code };
    if (CODE_LABELS.size < MAX_CODE_LABELS) CODE_LABELS.set(code, labels);
  }
  return labels;
}

const PENDING_MEMBERS = '"outcome":"pending","codes":[],"digest":null,"policy":null';

// Per verification answer: its outcome members, and the last image entry written with it.
interface KeptOutcome {
  readonly members: string;
  last?: { readonly image: string; readonly names: readonly string[]; readonly json: string };
}

const OUTCOMES = new WeakMap<VerifyImageResponse, KeptOutcome>();

// An image's entry in the decision line's `images`: the image, its containers' names and its
// outcome (outcomeMembers). Answers from memory are the same object review after review, so
// the entry last written with an answer is written again when the image and the names are
// the same strings again.
function imageEntry(verdict: ImageVerdict): string {
  const result = verdict.result;
  if (result === undefined) return `{"image":${JSON.stringify(verdict.image)},"containers":${containerNames(verdict)},${PENDING_MEMBERS}}`;
  let kept = OUTCOMES.get(result);
  if (kept === undefined) {
    kept = { members: outcomeMembers(result) };
    OUTCOMES.set(result, kept);
  }
  const last = kept.last;
  if (last !== undefined && last.image === verdict.image && sameNames(last.names, verdict.containers)) return last.json;
  const json = `{"image":${JSON.stringify(verdict.image)},"containers":${containerNames(verdict)},${kept.members}}`;
  kept.last = { image: verdict.image, names: verdict.containers.map((container) => container.name), json };
  return json;
}

function containerNames(verdict: ImageVerdict): string {
  let names = '';
  for (const container of verdict.containers) names += `${names === '' ? '' : ','}${JSON.stringify(container.name)}`;
  return `[${names}]`;
}

function sameNames(names: readonly string[], containers: readonly ContainerImage[]): boolean {
  if (names.length !== containers.length) return false;
  for (let index = 0; index < names.length; index += 1) if (names[index] !== containers[index]?.name) return false;
  return true;
}

// An image's outcome in the decision line, as JSON members: the outcome with its codes,
// digest and policy; the signature kinds that admitted it (with `verification.mode: any`,
// the one that passed); `stale` when answered from cached trust data while the trust server
// was unreachable; what policies in warn or audit mode would have denied. Images and policy
// names only: a request never carries credentials into this line, and neither do
// verification reasons.
function outcomeMembers(result: VerifyImageResponse): string {
  const outcome: Record<string, unknown> = {
    outcome: result.allowed ? 'allowed' : 'denied',
    codes: result.codes,
    digest: result.digest ?? null,
    policy: result.policy ?? null,
  };
  if (result.verifiedBy !== undefined) outcome['verifiedBy'] = result.verifiedBy;
  if (result.stale === true) outcome['stale'] = true;
  const wouldDeny = result.wouldDeny ?? [];
  if (wouldDeny.length > 0) outcome['wouldDeny'] = wouldDeny.map(({ mode, code }) => ({ mode, code }));
  return JSON.stringify(outcome).slice(1, -1);
}
