// Decides one AdmissionReview: every distinct image of the object is verified once,
// concurrently, through the verify-image use case (policy form), within a time budget
// below the API server's webhook timeout. Any denial, error or timeout denies the whole
// request (fail closed); allowed tags are pinned to their signed digests by a JSON Patch.
// On UPDATE the decoder hands over only the images the old object did not already hold: the
// others (`unchanged`) are neither verified nor patched, and an UPDATE with no new image is
// answered unchecked (decode-admission-review.ts says why that is safe).
//
// The validating pass (`validate: true`) judges the object as it will be stored, after every
// mutating webhook ran: it patches nothing, and denies any image the mutating pass would
// still have pinned (IMAGE_NOT_PINNED). Security: a mutating webhook called after ours can
// replace our pinned digest with a tag or another image; the validating pass sees that, as
// every image is verified again (a foreign digest must itself be signed) and must already
// be pinned wherever policy asks for pinning.
//
// Deliberately unlike Portieris: objects with ownerReferences (pods of a ReplicaSet, jobs
// of a CronJob) are verified like any other, because skipping them let anyone who can
// create a pod with a forged ownerReference bypass the webhook; and a dry run gets exactly
// the answer the real request would get.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import type { PullSecretEntry } from '../registry/pull-secret.js';
import type { PullSecretSource } from '../registry/workload-pull-secrets.js';
import { formatImageReference, parseImageReference, toPinnedReference, type ImageReference } from '../image/reference.js';
import type { VerifyImageResponse } from '../verify/verify-image.js';
import type { AdmissionRequest, AdmissionReviewResponse, ContainerImage, DecodedReview, JsonPatchReplace } from './admission-review.js';
import {
  allowedResponse,
  deniedResponse,
  formatImageFailure,
  toWarnings,
  invalidResponse,
  timeoutResponse,
  uncheckedResponse,
} from './admission-response.js';
import { encodeJsonPatch } from './json-patch.js';

// The verify-image use case in its policy form, bound to its dependencies. `signal` aborts
// when the admission budget is spent, so the work behind a timed-out answer stops too.
// `credentials`: the workload's pull-secret entries, for this request only.
export type VerifyImageFn = (image: string, namespace: string, signal?: AbortSignal, credentials?: readonly PullSecretEntry[]) => Promise<VerifyImageResponse>;

export interface BudgetTimer {
  // Settles when the budget is spent.
  readonly expired: Promise<void>;
  cancel(): void;
}

// The answer `verify` would give now with the same `credentials` (the workload's pull-secret
// entries), when it can be given from memory without I/O or waiting (verify-image's
// knownVerification); undefined when `verify` has to run.
export type KnownVerificationFn = (image: string, namespace: string, credentials?: readonly PullSecretEntry[]) => VerifyImageResponse | undefined;

export interface AdmissionDeps {
  readonly verify: VerifyImageFn;
  // Asked first for each image; absent where answers always come from `verify` (a deployed
  // function).
  readonly known?: KnownVerificationFn;
  // Milliseconds the whole decision may take; keep it below the webhook's timeoutSeconds
  // so the API server hears our denial instead of applying its failurePolicy.
  readonly budgetMs: number;
  readonly startTimer: (ms: number) => BudgetTimer;
  // The validating pass: check the final object, patch nothing.
  readonly validate?: boolean;
  // Where the workload's pull secrets are read (policy files, the cluster); absent: every
  // registry is asked anonymously.
  readonly pullSecrets?: PullSecretSource;
}

export const DEFAULT_BUDGET_MS = 8_000;

export type AdmissionOutcome = 'allowed' | 'denied' | 'invalid' | 'timeout' | 'unchecked';

// One distinct image of the request and the containers that use it; `result` is missing
// when the budget ran out before its verification finished.
export interface ImageVerdict {
  readonly image: string;
  readonly containers: readonly ContainerImage[];
  readonly result?: VerifyImageResponse;
}

export interface AdmissionDecision {
  readonly outcome: AdmissionOutcome;
  readonly review: AdmissionReviewResponse;
  readonly request?: Partial<AdmissionRequest>;
  readonly verdicts: readonly ImageVerdict[];
  // On UPDATE, the images the old object already held: not verified, not patched.
  readonly unchanged?: readonly ContainerImage[];
}

// The decision itself when nothing has to be waited for (a review answered from memory,
// rejected or unchecked), so a warm admission takes no promise at all; a promise of it when
// some image has to be verified within the budget.
export function decideAdmission(deps: AdmissionDeps, decoded: Exclude<DecodedReview, { kind: 'not-a-review' }>): AdmissionDecision | Promise<AdmissionDecision> {
  if (decoded.kind === 'reject') {
    return { outcome: 'invalid', review: invalidResponse(decoded.uid, decoded.reason), ...withRequest(decoded.request), verdicts: [] };
  }
  const { request } = decoded;
  if (decoded.kind === 'unchecked') {
    return { outcome: 'unchecked', review: uncheckedResponse(request.uid, decoded.reason), request, verdicts: [], ...withUnchanged(decoded.unchanged) };
  }
  const groups = groupByImage(decoded.containers);
  // The workload's pull secrets are read once for all its images. When they cannot be read,
  // every image is denied with that reason (fail closed, and clearer than the registry's
  // refusal of an anonymous request).
  const credentials = readPullSecrets(deps, request.namespace, decoded);
  // Images answered at once: from memory (deps.known), or denied for unreadable pull secrets.
  // Security: a known answer is exactly what `verify` would answer now with the same
  // credentials (they are handed to `known` too: a verifier whose answer depends on them
  // answers nothing from memory), so this changes no decision.
  const results = new Map<string, VerifyImageResponse>();
  if (!(credentials instanceof Promise)) {
    for (const image of groups.keys()) {
      const result = credentials instanceof TrustgateError ? pullSecretsDenial(image, credentials) : deps.known?.(image, request.namespace, credentials);
      if (result !== undefined) results.set(image, result);
    }
    if (results.size === groups.size) return conclude(deps, decoded, groups, results, true);
  }
  return decideWithinBudget(deps, decoded, groups, results, credentials);
}

// Verifies the images not answered at once within the budget, pull secrets included.
async function decideWithinBudget(
  deps: AdmissionDeps,
  decoded: CheckedReview,
  groups: ReadonlyMap<string, readonly ContainerImage[]>,
  results: Map<string, VerifyImageResponse>,
  credentials: PullSecretsRead | Promise<PullSecretsRead>,
): Promise<AdmissionDecision> {
  const { request } = decoded;
  const timer = deps.startTimer(deps.budgetMs);
  const budget = new AbortController();
  const all = Promise.resolve(credentials).then((entries) =>
    Promise.all(
      [...groups.keys()]
        .filter((image) => !results.has(image))
        .map(async (image) => {
          const result = entries instanceof TrustgateError ? pullSecretsDenial(image, entries) : await verifySafely(deps.verify, image, request.namespace, budget.signal, entries);
          results.set(image, result);
        }),
    ),
  );
  const finished = await Promise.race([all.then(() => true), timer.expired.then(() => false)]);
  timer.cancel();
  // Trust server work still running for this request is cancelled, not left to finish.
  if (!finished) budget.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, `time budget of ${deps.budgetMs} ms exhausted`));
  return conclude(deps, decoded, groups, results, finished);
}

// The decision over every image's result; `finished` is false when the budget ran out with
// some image still pending (its result missing): the request is then denied as timed out.
// Every warm review ends here, so the verdicts are read in one pass rather than one per
// question asked of them.
function conclude(
  deps: AdmissionDeps,
  decoded: CheckedReview,
  groups: ReadonlyMap<string, readonly ContainerImage[]>,
  results: ReadonlyMap<string, VerifyImageResponse>,
  finished: boolean,
): AdmissionDecision {
  const { request } = decoded;
  const unchanged = withUnchanged(decoded.unchanged);
  const verdicts: ImageVerdict[] = [];
  groups.forEach((containers, image) => {
    const result = results.get(image);
    verdicts.push(result === undefined ? { image, containers } : { image, containers, result });
  });
  if (!finished) {
    const pending = verdicts.filter((verdict) => verdict.result === undefined).map((verdict) => verdict.image);
    return { outcome: 'timeout', review: timeoutResponse(request.uid, deps.budgetMs, pending), request, verdicts, ...unchanged };
  }
  // Failures of policies in warn mode reach the user as warnings (kubectl prints them),
  // whether the request is admitted or denied for another reason; audit stays silent.
  const warnings = toWarnings(verdicts);
  const failing: ImageVerdict[] = [];
  // Images admitted only because their failing policies are in warn or audit mode, and
  // those under a policy that requires no signature (allowedResponse).
  let unenforced = 0;
  let unrequired = 0;
  for (const verdict of verdicts) {
    const result = verdict.result;
    if (result?.allowed !== true) failing.push(verdict);
    if ((result?.wouldDeny?.length ?? 0) > 0) unenforced += 1;
    else if ((result?.verifiedBy?.length ?? 0) === 0) unrequired += 1;
  }
  if (failing.length > 0) {
    return { outcome: 'denied', review: deniedResponse(request.uid, failing.map(formatImageFailure), warnings), request, verdicts, ...unchanged };
  }
  const patch: JsonPatchReplace[] = [];
  for (const verdict of verdicts) addPatchOperations(verdict, patch);
  const held = decoded.unchanged === undefined ? 0 : new Set(decoded.unchanged.map((container) => container.image)).size;
  if (deps.validate === true) {
    const unpinned = verdicts.flatMap((verdict) => unpinnedFailure(verdict, patch));
    if (unpinned.length > 0) return { outcome: 'denied', review: deniedResponse(request.uid, unpinned, warnings), request, verdicts, ...unchanged };
    return { outcome: 'allowed', review: allowedResponse(request.uid, verdicts.length, [], warnings, unenforced, unrequired, held), request, verdicts, ...unchanged };
  }
  const encoded = patch.length === 0 ? undefined : encodePatch(verdicts[0]?.result, patch);
  return { outcome: 'allowed', review: allowedResponse(request.uid, verdicts.length, patch, warnings, unenforced, unrequired, held, encoded), request, verdicts, ...unchanged };
}

// The last patch encoded per answer of a request's first image, with its operations: a
// warm review of the same pod again (a Deployment's replicas) builds operations of the same
// pointers and pinned references (the same strings, see pinnedReference) and reuses the
// encoding. The encoding is a pure function of the operations, compared in full.
const ENCODED = new WeakMap<VerifyImageResponse, { readonly operations: readonly JsonPatchReplace[]; readonly encoded: string }>();

function encodePatch(key: VerifyImageResponse | undefined, operations: readonly JsonPatchReplace[]): string {
  if (key === undefined) return encodeJsonPatch(operations);
  const last = ENCODED.get(key);
  if (last !== undefined && sameOperations(last.operations, operations)) return last.encoded;
  const encoded = encodeJsonPatch(operations);
  ENCODED.set(key, { operations, encoded });
  return encoded;
}

function sameOperations(one: readonly JsonPatchReplace[], other: readonly JsonPatchReplace[]): boolean {
  if (one.length !== other.length) return false;
  for (let index = 0; index < one.length; index += 1) {
    const a = one[index];
    const b = other[index];
    if (a?.op !== b?.op || a?.path !== b?.path || a?.value !== b?.value) return false;
  }
  return true;
}

type CheckedReview = Extract<DecodedReview, { kind: 'check' }>;

function withUnchanged(unchanged: readonly ContainerImage[] | undefined): { unchanged?: readonly ContainerImage[] } {
  return unchanged === undefined || unchanged.length === 0 ? {} : { unchanged };
}

// Containers keyed by their normalised image, so `nginx` and `docker.io/library/nginx:latest`
// are verified once. An unparsable reference keeps its raw text as key: the use case
// answers it with IMAGE_REF_INVALID.
function groupByImage(containers: readonly ContainerImage[]): Map<string, ContainerImage[]> {
  const groups = new Map<string, ContainerImage[]>();
  for (const container of containers) {
    const key = normalise(container.image) ?? container.image;
    const group = groups.get(key);
    if (group) group.push(container);
    else groups.set(key, [container]);
  }
  return groups;
}

// The use case answers denials itself and throws only on a bug; a bug in one image's
// verification still denies (fail closed) without leaking its details into the answer.
async function verifySafely(verify: VerifyImageFn, image: string, namespace: string, signal: AbortSignal, credentials: readonly PullSecretEntry[] | undefined): Promise<VerifyImageResponse> {
  try {
    return await verify(image, namespace, signal, credentials);
  } catch {
    return { allowed: false, image, digest: null, reasons: [`${image}: internal error while verifying`], codes: [ErrorCode.INTERNAL], signers: [] };
  }
}

// The entries of the workload's pull secrets; undefined when none are configured or
// referenced, the error when they could not be read. A source that holds them in memory
// (the policy files) answers at once, one that reads them (the cluster) with a promise.
type PullSecretsRead = readonly PullSecretEntry[] | TrustgateError | undefined;

function readPullSecrets(deps: AdmissionDeps, namespace: string, decoded: CheckedReview): PullSecretsRead | Promise<PullSecretsRead> {
  if (deps.pullSecrets === undefined || decoded.pullSecrets === undefined) return undefined;
  try {
    const entries = deps.pullSecrets(namespace, decoded.pullSecrets);
    return entries instanceof Promise ? entries.then(nonEmpty, toPullSecretsFailure) : nonEmpty(entries);
  } catch (error) {
    return toPullSecretsFailure(error);
  }
}

function nonEmpty(entries: readonly PullSecretEntry[]): readonly PullSecretEntry[] | undefined {
  return entries.length === 0 ? undefined : entries;
}

function toPullSecretsFailure(error: unknown): TrustgateError {
  const failure = toTrustgateError(error);
  return failure.code === ErrorCode.INTERNAL ? new TrustgateError(ErrorCode.PULL_SECRETS_UNAVAILABLE, 'the workload\'s pull secrets could not be read') : failure;
}

function pullSecretsDenial(image: string, failure: TrustgateError): VerifyImageResponse {
  return { allowed: false, image, digest: null, reasons: [`${image}: ${failure.message}`], codes: [failure.code], signers: [] };
}

// A `replace` for each container whose image was a tag, to the signed digest, unless the
// policy opted out of mutation, added to `operations`. Digest-pinned images (with or without
// a tag) are left as written: what they run is already fixed, and it was verified.
function addPatchOperations(verdict: ImageVerdict, operations: JsonPatchReplace[]): void {
  const { result } = verdict;
  if (result === undefined || !result.allowed || result.mutateImage === false || result.digest === null) return;
  const digest = result.digest;
  for (const container of verdict.containers) {
    const reference = parseImageReference(container.image);
    if (reference.digest === undefined) operations.push({ op: 'replace', path: container.pointer, value: pinnedReference(reference, digest) });
  }
}

// The last pinned spelling per parsed reference (parsed references are memoised objects,
// so a warm admission finds the one it built before): toPinnedReference is a pure function
// of the reference and the digest, so reusing its result for the same digest changes
// nothing, and a new digest builds (and checks) a new one.
const PINNED = new WeakMap<ImageReference, { readonly digest: string; readonly pinned: string }>();

function pinnedReference(reference: ImageReference, digest: string): string {
  const last = PINNED.get(reference);
  if (last !== undefined && last.digest === digest) return last.pinned;
  const pinned = toPinnedReference(reference, digest);
  PINNED.set(reference, { digest, pinned });
  return pinned;
}

// In the validating pass, the containers of a verdict that the mutating pass would pin, as
// one IMAGE_NOT_PINNED failure naming them and the digest they should have run.
function unpinnedFailure(verdict: ImageVerdict, patch: readonly JsonPatchReplace[]): string[] {
  const pointers = new Set(patch.map((operation) => operation.path));
  const containers = verdict.containers.filter((container) => pointers.has(container.pointer));
  if (containers.length === 0) return [];
  const digest = verdict.result?.digest ?? '';
  const reason = `${verdict.image}: not pinned to its signed digest ${digest} (a webhook after trustgate's mutating one changed it, or that one did not run)`;
  const result: VerifyImageResponse = { allowed: false, image: verdict.image, digest: null, reasons: [reason], codes: [ErrorCode.IMAGE_NOT_PINNED], signers: [] };
  return [formatImageFailure({ image: verdict.image, containers, result })];
}

function normalise(image: string): string | undefined {
  try {
    return formatImageReference(parseImageReference(image));
  } catch {
    return undefined;
  }
}

function withRequest(request: Partial<AdmissionRequest> | undefined): { request?: Partial<AdmissionRequest> } {
  return request === undefined ? {} : { request };
}
