// The verify-image use case: one image, one answer. In the explicit form the request names
// the trust requirement; in the policy form the Portieris-compatible policy that applies to
// the image in the namespace does, together with every enforced ClusterImagePolicy. A
// denial is a normal answer carrying every reason and its code; only a bug escapes as an
// exception.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../image/reference.js';
import { strictestMode, type PolicySource } from '../policy/match-policy.js';
import { PolicyMode, type PolicySet } from '../policy/model.js';
import type { Clock, Logger } from '../ports.js';
import type { RegistryCredentials } from '../registry/credential-keyring.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement, SimpleSigningRequirement, TrustRequirement, VerifiedImage } from '../trust/verifier.js';
import { collectRequirements, type CollectedRequirements } from './policy-requirements.js';
import type { VerifyImageRequest } from './verify-image-request.js';

export interface VerifyImageResponse {
  readonly allowed: boolean;
  readonly image: string;
  readonly digest: string | null;
  readonly reasons: readonly string[];
  readonly codes: readonly string[];
  readonly signers: readonly string[];
  // Allowed answers: the signature kinds whose checks admitted the image ('notary',
  // 'cosign', 'simple'); with `verification.mode: any` the one(s) that passed.
  readonly verifiedBy?: readonly TrustRequirement['kind'][];
  // Present (true) when some check was answered from cached trust data because the trust
  // server was unavailable, within the configured max-stale window.
  readonly stale?: boolean;
  // Policy form only: the policy that matched, and whether it asks for tag -> digest rewriting.
  readonly policy?: PolicySource | null;
  readonly mutateImage?: boolean;
  // Policy form only, present when policies in warn or audit mode failed: what enforce
  // would have denied, each with its mode. An answer is allowed when these are its only
  // failures; a denied answer lists its enforced failures in `reasons` and these here.
  readonly wouldDeny?: readonly UnenforcedFailure[];
}

// A failure of a policy in warn or audit mode.
export interface UnenforcedFailure {
  readonly mode: Exclude<PolicyMode, 'enforce'>;
  readonly code: string;
  readonly reason: string;
}

// A failure with the mode of the policy it came from.
export interface ModedFailure {
  readonly error: TrustgateError;
  readonly mode: PolicyMode;
}

export interface VerifyImageDeps {
  readonly notary: ImageVerifier<NotaryRequirement>;
  // Absent where this deployment verifies no cosign signatures: a cosign check then denies.
  readonly cosign?: ImageVerifier<CosignRequirement>;
  // Absent where this deployment verifies no simple signing: a `simple` check then denies.
  readonly simple?: ImageVerifier<SimpleSigningRequirement>;
  readonly clock: Clock;
  readonly logger: Logger;
  // The policies in force; absent when this deployment has none configured.
  readonly policies?: () => Promise<PolicySet>;
  // The same policies when this process holds them in memory (serve's files or watched
  // cluster policies), read without waiting; lets knownVerification answer. It may throw
  // (cluster policies too old): the answer is then left to verifyImage.
  readonly policiesNow?: () => PolicySet;
}

// A requirement to check, tagged with the policy it came from (for the reasons).
export interface PendingCheck {
  readonly requirement: TrustRequirement;
  readonly origin?: PolicySource;
  // Checks sharing a group are alternatives (`verification.mode: any`): one passing is
  // enough. Checks without one are each required.
  readonly group?: number;
  // The mode of the policy the check came from; absent means 'enforce'.
  readonly mode?: PolicyMode;
}

// `signal` is the caller's time budget (admission): when it aborts, trust server work done
// only for this answer is cancelled. `credentials`: the workload's registry credentials, for
// this request's registry and trust server token services only.
export async function verifyImage(deps: VerifyImageDeps, request: VerifyImageRequest, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifyImageResponse> {
  let image = request.image;
  try {
    const reference = parseImageReference(request.image);
    image = formatImageReference(reference);
    // The clock is read once per operation; every expiry check uses this instant.
    const now = deps.clock.now();
    if (request.kind === 'explicit') {
      return await decide(deps, reference, image, explicitChecks(request), [], now, undefined, signal, credentials);
    }
    if (deps.policies === undefined) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'no policies are configured, so no image can be verified by namespace');
    }
    const collected = collectRequirements(await deps.policies(), reference, request.namespace, image);
    return await decide(deps, reference, image, collected.checks, collected.failures, now, { policy: collected.source ?? null, mutateImage: collected.mutateImage }, signal, credentials);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    return denial(image, [error]);
  }
}

// The answer verifyImage would give now to `request` (policy form), when the policies are
// at hand (`policiesNow`) and every check they require is answered by its verifier's `known`
// (what this process verified and may still give under the freshness rules); undefined
// when verifyImage has to run. Admission asks this first, so a warm answer needs no time
// budget, cancellation signal or promise per image. It takes the same steps as verifyImage
// and combines the answers the same way, so it cannot answer differently; anything out of
// the ordinary (policies that cannot be read, an invalid reference, a bug) is left to
// verifyImage, which answers it with its reason. `credentials`: the workload's registry
// credentials, as verifyImage would be given them; each verifier answers from memory only
// what it would answer with them.
export function knownVerification(deps: VerifyImageDeps, request: { readonly image: string; readonly namespace: string }, credentials?: RegistryCredentials): VerifyImageResponse | undefined {
  if (deps.policiesNow === undefined) return undefined;
  try {
    const reference = parseImageReference(request.image);
    const image = formatImageReference(reference);
    const now = deps.clock.now();
    const collected = collectRequirements(deps.policiesNow(), reference, request.namespace, image);
    const outcomes: Outcome[] = [];
    for (const check of collected.checks) {
      const known = knownRequirement(deps, reference, check.requirement, now, credentials);
      if (known === undefined) return undefined;
      outcomes.push(known);
    }
    // combine is a pure function of the requirements (one object per policy set, namespace
    // and image) and the outcomes: the same objects again give the answer built last time.
    const last = COMBINED.get(collected);
    if (last !== undefined && last.outcomes.length === outcomes.length && last.outcomes.every((outcome, index) => outcome === outcomes[index])) return last.response;
    const response = combine(reference, image, collected.checks, outcomes, collected.failures, { policy: collected.source ?? null, mutateImage: collected.mutateImage });
    COMBINED.set(collected, { outcomes, response });
    return response;
  } catch {
    return undefined;
  }
}

// The last answer knownVerification built per requirements object, with the outcomes it
// was built from; an entry goes with its requirements (when their policy set goes).
const COMBINED = new WeakMap<CollectedRequirements, { readonly outcomes: readonly Outcome[]; readonly response: VerifyImageResponse }>();

// What the policy form adds to an answer: the policy that matched and whether it pins.
interface PolicyOutcome {
  readonly policy: PolicySource | null;
  readonly mutateImage: boolean;
}

type Outcome = VerifiedImage | TrustgateError;

// The explicit form's checks: Notary unless the request asks for cosign only, and each
// cosign requirement it names (its keys, its keyless identities); all are then required.
function explicitChecks(request: Extract<VerifyImageRequest, { kind: 'explicit' }>): PendingCheck[] {
  const checks: PendingCheck[] = [];
  if (request.cosignOnly !== true) checks.push({ requirement: { kind: 'notary', ...request.trust } });
  for (const cosign of request.cosign ?? []) checks.push({ requirement: { kind: 'cosign', ...cosign } });
  return checks;
}

// Runs every check concurrently and combines their outcomes (see combine). Called on every
// admission that is not answered from memory, so the common single-check case skips the
// fan-out.
async function decide(
  deps: VerifyImageDeps,
  reference: ImageReference,
  image: string,
  checks: readonly PendingCheck[],
  failures: readonly ModedFailure[],
  now: Date,
  policyOutcome: PolicyOutcome | undefined,
  signal: AbortSignal | undefined,
  credentials: RegistryCredentials | undefined,
): Promise<VerifyImageResponse> {
  const runCheck = async (check: PendingCheck): Promise<Outcome> => {
    try {
      return await runRequirement(deps, reference, check.requirement, now, signal, credentials);
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.INTERNAL) throw thrown;
      return check.origin ? withOrigin(error, check.origin) : error;
    }
  };
  const only = checks.length === 1 ? checks[0] : undefined;
  const outcomes: readonly Outcome[] = only !== undefined ? [await runCheck(only)] : await Promise.all(checks.map(runCheck));
  const response = combine(reference, image, checks, outcomes, failures, policyOutcome);
  if (response.allowed) logVerified(deps.logger, response);
  return response;
}

// The line for an image verified (an answer given from memory is not logged again).
function logVerified(logger: Logger, response: VerifyImageResponse): void {
  const { image, digest, verifiedBy, stale, wouldDeny } = response;
  logger.info('image verified', {
    image,
    outcome: 'allowed',
    digest,
    ...(verifiedBy === undefined ? {} : { verifiedBy }),
    ...(stale === true ? { stale } : {}),
    ...(wouldDeny === undefined ? {} : { wouldDeny: wouldDeny.map(({ mode, code }) => ({ mode, code })) }),
  });
}

// Combines the outcomes of `checks` (in their order) with the policies' own failures:
// allowed only if every required check (and one check of each `any` group) passes and all
// passing checks agree on one digest. Every failure is reported, not just the first; a
// failure within a group that another of its checks satisfied is not one. Each answer is
// built once.
//
// Modes: a failure of a policy in warn or audit mode does not deny; it is returned in
// `wouldDeny`. Such an allowed answer carries a digest only when the checks that passed
// agree on one (a check of another policy, or of the same one, verified it), so admission
// pins only what was verified and never a digest no signature vouched for.
function combine(
  reference: ImageReference,
  image: string,
  checks: readonly PendingCheck[],
  outcomes: readonly Outcome[],
  failures: readonly ModedFailure[],
  policyOutcome: PolicyOutcome | undefined,
): VerifyImageResponse {
  const errors: ModedFailure[] = [...failures];
  const digests: string[] = [];
  const signers: string[] = [];
  const verifiedBy: TrustRequirement['kind'][] = [];
  const satisfiedGroups = new Set<number>();
  outcomes.forEach((outcome, index) => {
    const group = checks[index]?.group;
    if (group !== undefined && !(outcome instanceof TrustgateError)) satisfiedGroups.add(group);
  });
  let stale = false;
  // The mode of a digest disagreement: the strictest among the checks that passed.
  let passedMode: PolicyMode | undefined;
  outcomes.forEach((outcome, index) => {
    const check = checks[index];
    const mode = check?.mode ?? PolicyMode.enforce;
    if (outcome instanceof TrustgateError) {
      if (check?.group === undefined || !satisfiedGroups.has(check.group)) errors.push({ error: outcome, mode });
      return;
    }
    passedMode = passedMode === undefined ? mode : strictestMode(passedMode, mode);
    if (check !== undefined && !verifiedBy.includes(check.requirement.kind)) verifiedBy.push(check.requirement.kind);
    if (!digests.includes(outcome.digest)) digests.push(outcome.digest);
    for (const signer of outcome.signers) if (!signers.includes(signer)) signers.push(signer);
    if (outcome.stale === true) stale = true;
  });
  if (digests.length > 1) {
    const error = new TrustgateError(ErrorCode.TRUST_DIGEST_MISMATCH, `signature checks resolve the image to different digests: ${digests.join(', ')}`);
    errors.push({ error, mode: passedMode ?? PolicyMode.enforce });
  }
  const enforced = errors.filter((failure) => failure.mode === PolicyMode.enforce).map((failure) => failure.error);
  const wouldDeny = errors.flatMap((failure) => toUnenforced(image, failure));
  if (enforced.length > 0) {
    const denied: Writable<VerifyImageResponse> = { ...denial(image, enforced) };
    if (policyOutcome !== undefined) {
      denied.policy = policyOutcome.policy;
      denied.mutateImage = policyOutcome.mutateImage;
    }
    if (wouldDeny.length > 0) denied.wouldDeny = wouldDeny;
    return denied;
  }
  // With unenforced failures, only a digest every passing check agreed on (none when they
  // disagreed) or the one the reference already names.
  const digest = (digests.length === 1 ? digests[0] : undefined) ?? reference.digest ?? null;
  const allowed: Writable<VerifyImageResponse> = { allowed: true, image, digest, reasons: [], codes: [], signers };
  if (verifiedBy.length > 0) allowed.verifiedBy = verifiedBy;
  if (stale) allowed.stale = true;
  if (policyOutcome !== undefined) {
    allowed.policy = policyOutcome.policy;
    allowed.mutateImage = policyOutcome.mutateImage;
  }
  if (wouldDeny.length > 0) allowed.wouldDeny = wouldDeny;
  return allowed;
}

function toUnenforced(image: string, failure: ModedFailure): UnenforcedFailure[] {
  if (failure.mode === PolicyMode.enforce) return [];
  return [{ mode: failure.mode, code: failure.error.code, reason: `${image}: ${failure.error.message}` }];
}

// One requirement with the verifier of its kind.
// The admission budget's signal reaches the Notary update's requests and the cosign
// verifier's registry requests (which it also bounds with a deadline of its own).
function runRequirement(
  deps: VerifyImageDeps,
  reference: ImageReference,
  requirement: TrustRequirement,
  now: Date,
  signal: AbortSignal | undefined,
  credentials: RegistryCredentials | undefined,
): Promise<VerifiedImage> {
  if (requirement.kind === 'notary') return deps.notary.verify(reference, requirement, now, signal, credentials);
  if (requirement.kind === 'simple') {
    if (deps.simple === undefined) {
      return Promise.reject(new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, 'simple signing signatures are required, but this deployment has no simple signing verifier'));
    }
    return deps.simple.verify(reference, requirement, now, signal, credentials);
  }
  if (deps.cosign === undefined) {
    return Promise.reject(new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, 'cosign signatures are required, but this deployment has no cosign verifier'));
  }
  return deps.cosign.verify(reference, requirement, now, signal, credentials);
}

// The answer the requirement's verifier already holds for the image (ImageVerifier.known).
function knownRequirement(deps: VerifyImageDeps, reference: ImageReference, requirement: TrustRequirement, now: Date, credentials: RegistryCredentials | undefined): VerifiedImage | undefined {
  if (requirement.kind === 'notary') return deps.notary.known?.(reference, requirement, now, credentials);
  if (requirement.kind === 'simple') return deps.simple?.known?.(reference, requirement, now, credentials);
  return deps.cosign?.known?.(reference, requirement, now, credentials);
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

export function withOrigin(error: TrustgateError, origin: PolicySource): TrustgateError {
  const where = `${origin.kind} ${origin.namespace ? `${origin.namespace}/` : ''}${origin.name} (pattern "${origin.pattern}")`;
  return new TrustgateError(error.code, `${error.message} [required by ${where}]`, { cause: error, problems: error.problems });
}

export function denial(image: string, errors: readonly TrustgateError[]): VerifyImageResponse {
  return {
    allowed: false,
    image,
    digest: null,
    reasons: errors.map((error) => `${image}: ${error.message}`),
    codes: errors.map((error) => error.code),
    signers: [],
  };
}
