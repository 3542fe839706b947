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

export async function verifyImage(deps: VerifyImageDeps, request: VerifyImageRequest): Promise<VerifyImageResponse> {
  let image = request.image;
  try {
    const reference = parseImageReference(request.image);
    image = formatImageReference(reference);
    // The clock is read once per operation; every expiry check uses this instant.
    const now = deps.clock.now();
    if (request.kind === 'explicit') {
      const check: PendingCheck = { requirement: { kind: 'notary', ...request.trust } };
      return await decide(deps, reference, image, [check], [], now);
    }
    if (deps.policies === undefined) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'no policies are configured, so no image can be verified by namespace');
    }
    const collected = collectRequirements(await deps.policies(), reference, request.namespace);
    const decided = await decide(deps, reference, image, collected.checks, collected.failures, now);
    return { ...decided, policy: collected.source ?? null, mutateImage: collected.mutateImage };
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    return denial(image, [error]);
  }
}

// Runs every check concurrently and combines them: allowed only if all pass and all agree
// on one digest. Every failure is reported, not just the first.
async function decide(
  deps: VerifyImageDeps,
  reference: ImageReference,
  image: string,
  checks: readonly PendingCheck[],
  failures: readonly TrustgateError[],
  now: Date,
): Promise<VerifyImageResponse> {
  const outcomes = await Promise.all(
    checks.map(async (check): Promise<VerifiedImage | TrustgateError> => {
      try {
        return await deps.notary.verify(reference, check.requirement, now);
      } catch (thrown) {
        const error = toTrustgateError(thrown);
        if (error.code === ErrorCode.INTERNAL) throw thrown;
        return check.origin ? withOrigin(error, check.origin) : error;
      }
    }),
  );
  const errors = [...failures, ...outcomes.filter((o): o is TrustgateError => o instanceof TrustgateError)];
  const verified = outcomes.filter((o): o is VerifiedImage => !(o instanceof TrustgateError));
  const digests = [...new Set(verified.map((v) => v.digest))];
  if (digests.length > 1) {
    errors.push(new TrustgateError(ErrorCode.TRUST_DIGEST_MISMATCH, `policies resolve the image to different digests: ${digests.join(', ')}`));
  }
  if (errors.length > 0) return denial(image, errors);
  const stale = verified.some((v) => v.stale === true);
  const response: VerifyImageResponse = {
    allowed: true,
    image,
    digest: digests[0] ?? reference.digest ?? null,
    reasons: [],
    codes: [],
    signers: [...new Set(verified.flatMap((v) => v.signers))],
    ...(stale ? { stale } : {}),
  };
  deps.logger.info('image verified', { image, outcome: 'allowed', digest: response.digest, ...(stale ? { stale } : {}) });
  return response;
}

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
