// From the policies in force to the checks an image must pass: the policy that matches it
// in the namespace plus every enforced ClusterImagePolicy. Requirements that cannot be met
// here (no match, a missing signer secret, simple signing, ICCRVA) become failures, so the
// image is denied with the reason instead of being admitted unchecked.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import { lookupPolicy, type PolicySource } from '../policy/match-policy.js';
import type { PolicySet } from '../policy/model.js';
import { toRequirements, toSecretLookup } from '../policy/trust-requirements.js';
import { withOrigin, type PendingCheck } from './verify-image.js';

export interface CollectedRequirements {
  readonly source?: PolicySource;
  readonly checks: readonly PendingCheck[];
  readonly failures: readonly TrustgateError[];
  // Rewrite the tag to the signed digest unless every applicable policy opts out: an
  // enforced policy asking for pinning is not weakened by a namespace policy.
  readonly mutateImage: boolean;
}

export function collectRequirements(set: PolicySet, image: ImageReference, namespace: string): CollectedRequirements {
  const lookup = lookupPolicy(set, image, namespace);
  const applicable = [...(lookup.matched ? [{ policy: lookup.policy, source: lookup.source }] : []), ...lookup.enforced];
  const failures: TrustgateError[] = lookup.matched ? [] : [new TrustgateError(ErrorCode.POLICY_NO_MATCH, lookup.reason)];
  const checks: PendingCheck[] = [];
  const secrets = toSecretLookup(set.secrets);
  for (const { policy, source } of applicable) {
    let requirements;
    try {
      requirements = toRequirements(policy, secrets, namespace);
    } catch (thrown) {
      failures.push(withOrigin(toTrustgateError(thrown), source));
      continue;
    }
    for (const requirement of requirements) {
      if (requirement.kind === 'unsupported') {
        failures.push(withOrigin(new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, requirement.reason), source));
      } else if (requirement.kind === 'notary') {
        checks.push({
          requirement: {
            kind: 'notary',
            ...(requirement.server === undefined ? {} : { server: requirement.server }),
            signers: requirement.signers,
            rootKeyIds: [],
          },
          origin: source,
        });
      }
    }
  }
  return {
    ...(lookup.matched ? { source: lookup.source } : {}),
    checks,
    failures,
    mutateImage: applicable.some(({ policy }) => policy.mutateImage),
  };
}
