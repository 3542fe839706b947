// From the policies in force to the checks an image must pass: the policy that matches it
// in the namespace plus every enforced ClusterImagePolicy, each policy's Notary, cosign and
// simple signing checks required together or, with `verification.mode: any`, as alternatives. Requirements that cannot be met
// here (no match, a missing signer secret, ICCRVA) become failures, so the
// image is denied with the reason instead of being admitted unchecked.
import { createBoundedMemo, type BoundedMemo } from '../cache/bounded-memo.js';
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, type ImageReference } from '../image/reference.js';
import { governingMode, lookupPolicy, type PolicySource } from '../policy/match-policy.js';
import { PolicyMode, type PolicySet } from '../policy/model.js';
import { toRequirements, toSecretLookup, type Requirement } from '../policy/trust-requirements.js';
import type { NotaryRequirement } from '../trust/verifier.js';
import { withOrigin, type ModedFailure, type PendingCheck } from './verify-image.js';

export interface CollectedRequirements {
  readonly source?: PolicySource;
  readonly checks: readonly PendingCheck[];
  // Each with the mode of the policy it came from.
  readonly failures: readonly ModedFailure[];
  // Rewrite the tag to the signed digest unless every applicable policy opts out: an
  // enforced policy asking for pinning is not weakened by a namespace policy.
  readonly mutateImage: boolean;
}

// Entries kept per policy set: far more than the distinct (namespace, image) pairs a
// cluster runs, and a ceiling on memory when a client sends endless distinct images.
export const REQUIREMENTS_MEMO_CAPACITY = 4096;

// Collected requirements per policy set, then per (namespace, image). A policy set is an
// immutable value (a reload builds a new one), and the result is a pure function of the
// set, the image and the namespace, so it can be shared; keying on the set object means a
// new set never sees answers computed for an old one, and a dropped set takes its entries
// with it.
const COLLECTED = new WeakMap<PolicySet, BoundedMemo<string, CollectedRequirements>>();

// `name` is the image's formatted reference, when the caller has it already.
export function collectRequirements(set: PolicySet, image: ImageReference, namespace: string, name = formatImageReference(image)): CollectedRequirements {
  let memo = COLLECTED.get(set);
  if (memo === undefined) {
    memo = createBoundedMemo(REQUIREMENTS_MEMO_CAPACITY);
    COLLECTED.set(set, memo);
  }
  // A formatted reference never holds a line break, so the key is unambiguous.
  const key = `${namespace}\n${name}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const collected = collectUncached(set, image, namespace);
  memo.set(key, collected);
  return collected;
}

function collectUncached(set: PolicySet, image: ImageReference, namespace: string): CollectedRequirements {
  const lookup = lookupPolicy(set, image, namespace);
  const applicable = [...(lookup.matched ? [{ policy: lookup.policy, source: lookup.source }] : []), ...lookup.enforced];
  const failures: ModedFailure[] = lookup.matched ? [] : [{ error: new TrustgateError(ErrorCode.POLICY_NO_MATCH, lookup.reason), mode: governingMode(set, namespace) }];
  const checks: PendingCheck[] = [];
  const secrets = toSecretLookup(set.secrets, set.unheldSecrets, set.unheldSecretsIncomplete);
  let groups = 0;
  for (const { policy, source } of applicable) {
    // Each policy's failures take its own mode: an enforced ClusterImagePolicy in force keeps
    // denying whatever mode the namespace's policy has.
    const mode = policy.mode ?? PolicyMode.enforce;
    // With `verification.mode: any`, the policy's signature checks form one group: one
    // passing check admits. Unsupported requirements stay required whatever the mode.
    const group = policy.verification?.mode === 'any' ? (groups += 1) : undefined;
    let requirements;
    try {
      requirements = toRequirements(policy, secrets, namespace);
    } catch (thrown) {
      failures.push({ error: withOrigin(toTrustgateError(thrown), source), mode });
      continue;
    }
    for (const requirement of requirements) {
      if (requirement.kind === 'unsupported') {
        failures.push({ error: withOrigin(new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, requirement.reason), source), mode });
      } else if (requirement.kind === 'invalid') {
        // A policy object that never had a valid version denies what it governed, whatever
        // mode it asked for: its mode is part of what could not be read.
        failures.push({ error: withOrigin(new TrustgateError(ErrorCode.POLICY_INVALID, requirement.reason), source), mode: PolicyMode.enforce });
      } else if (requirement.kind === 'notary') {
        checks.push({
          requirement: toNotaryRequirement(requirement, source),
          origin: source,
          mode,
          ...(group === undefined ? {} : { group }),
        });
      } else if (requirement.kind === 'cosign' || requirement.kind === 'simple') {
        checks.push({ requirement, origin: source, mode, ...(group === undefined ? {} : { group }) });
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

// A policy's Notary requirement as the verifier takes it.
export function toNotaryRequirement(requirement: Extract<Requirement, { kind: 'notary' }>, source: PolicySource): NotaryRequirement {
  return {
    kind: 'notary',
    ...(requirement.server === undefined ? {} : { server: requirement.server }),
    // An ImagePolicy is written by its namespace's owners (with policies from the cluster,
    // anyone who may create one there): a trust server it names never receives the
    // operator's trust-server credentials. ClusterImagePolicies are the operator's own.
    ...(requirement.server !== undefined && source.kind === 'ImagePolicy' ? { serverFromCaller: true } : {}),
    signers: requirement.signers,
    rootKeyIds: requirement.rootKeyIds,
  };
}
