// The verify-image use case: one image, one answer. In the explicit form the request names
// the trust requirement; in the policy form the Portieris-compatible policy that applies to
// the image in the namespace does, together with every enforced ClusterImagePolicy. A
// denial is a normal answer carrying every reason and its code; only a bug escapes as an
// exception.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../image/reference.js';
import type { PolicySource } from '../policy/match-policy.js';
import type { PolicySet } from '../policy/model.js';
import type { Clock, Logger } from '../ports.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../trust/verifier.js';
import { collectRequirements } from './policy-requirements.js';
import type { VerifyImageRequest } from './verify-image-request.js';

export interface VerifyImageResponse {
  readonly allowed: boolean;
  readonly image: string;
  readonly digest: string | null;
  readonly reasons: readonly string[];
  readonly codes: readonly string[];
  readonly signers: readonly string[];
  // Present (true) when some check was answered from cached trust data because the trust
  // server was unavailable, within the configured max-stale window.
  readonly stale?: boolean;
  // Policy form only: the policy that matched, and whether it asks for tag -> digest rewriting.
  readonly policy?: PolicySource | null;
  readonly mutateImage?: boolean;
}

export interface VerifyImageDeps {
  readonly notary: ImageVerifier<NotaryRequirement>;
  readonly clock: Clock;
  readonly logger: Logger;
  // The policies in force; absent when this deployment has none configured.
  readonly policies?: () => Promise<PolicySet>;
}

// A requirement to check, tagged with the policy it came from (for the reasons).
export interface PendingCheck {
  readonly requirement: NotaryRequirement;
  readonly origin?: PolicySource;
}

// `signal` is the caller's time budget (admission): when it aborts, trust server work done
// only for this answer is cancelled.
export async function verifyImage(deps: VerifyImageDeps, request: VerifyImageRequest, signal?: AbortSignal): Promise<VerifyImageResponse> {
  let image = request.image;
  try {
    const reference = parseImageReference(request.image);
    image = formatImageReference(reference);
    // The clock is read once per operation; every expiry check uses this instant.
    const now = deps.clock.now();
    if (request.kind === 'explicit') {
      const check: PendingCheck = { requirement: { kind: 'notary', ...request.trust } };
      return await decide(deps, reference, image, [check], [], now, undefined, signal);
    }
    if (deps.policies === undefined) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'no policies are configured, so no image can be verified by namespace');
    }
    const collected = collectRequirements(await deps.policies(), reference, request.namespace, image);
    return await decide(deps, reference, image, collected.checks, collected.failures, now, { policy: collected.source ?? null, mutateImage: collected.mutateImage }, signal);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    return denial(image, [error]);
  }
}

// What the policy form adds to an answer: the policy that matched and whether it pins.
interface PolicyOutcome {
  readonly policy: PolicySource | null;
  readonly mutateImage: boolean;
}

type Outcome = VerifiedImage | TrustgateError;

// Runs every check concurrently and combines them: allowed only if all pass and all agree
// on one digest. Every failure is reported, not just the first. Called on every admission,
// so the common single-check case skips the fan-out and each answer is built once.
async function decide(
  deps: VerifyImageDeps,
  reference: ImageReference,
  image: string,
  checks: readonly PendingCheck[],
  failures: readonly TrustgateError[],
  now: Date,
  policyOutcome: PolicyOutcome | undefined,
  signal: AbortSignal | undefined,
): Promise<VerifyImageResponse> {
  const runCheck = async (check: PendingCheck): Promise<Outcome> => {
    try {
      return await deps.notary.verify(reference, check.requirement, now, signal);
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.INTERNAL) throw thrown;
      return check.origin ? withOrigin(error, check.origin) : error;
    }
  };
  const only = checks.length === 1 ? checks[0] : undefined;
  const outcomes: readonly Outcome[] = only !== undefined ? [await runCheck(only)] : await Promise.all(checks.map(runCheck));
  const errors = [...failures];
  const digests: string[] = [];
  const signers: string[] = [];
  let stale = false;
  for (const outcome of outcomes) {
    if (outcome instanceof TrustgateError) {
      errors.push(outcome);
      continue;
    }
    if (!digests.includes(outcome.digest)) digests.push(outcome.digest);
    for (const signer of outcome.signers) if (!signers.includes(signer)) signers.push(signer);
    if (outcome.stale === true) stale = true;
  }
  if (digests.length > 1) {
    errors.push(new TrustgateError(ErrorCode.TRUST_DIGEST_MISMATCH, `policies resolve the image to different digests: ${digests.join(', ')}`));
  }
  if (errors.length > 0) {
    const denied = denial(image, errors);
    return policyOutcome === undefined ? denied : { ...denied, policy: policyOutcome.policy, mutateImage: policyOutcome.mutateImage };
  }
  const digest = digests[0] ?? reference.digest ?? null;
  deps.logger.info('image verified', { image, outcome: 'allowed', digest, ...(stale ? { stale } : {}) });
  const allowed: Writable<VerifyImageResponse> = { allowed: true, image, digest, reasons: [], codes: [], signers };
  if (stale) allowed.stale = true;
  if (policyOutcome !== undefined) {
    allowed.policy = policyOutcome.policy;
    allowed.mutateImage = policyOutcome.mutateImage;
  }
  return allowed;
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
