// Where the carry-over key is trusted for one image: every policy that, in some namespace,
// would admit the image on a cosign signature by that key, with the Notary checks the same
// policy asks for there.
// Security: the carry-over signature is bound to the digest only, not to the namespace whose
// policy vouched for it, so it is worth as much as the weakest Notary trust it was made
// from. It may only be made when every policy that trusts the key for this image would have
// admitted the image on its own Notary checks; this module finds those policies. It reads
// each namespace exactly as admission does (collectRequirements: the namespace's governing
// policy, precedence, enforced ClusterImagePolicies, Secrets resolved where admission
// resolves them), so no place where admission trusts the key is missed. The key is
// recognised by its numbers (keyIdentity), never by a Secret's name or its encoding's bytes:
// any Secret in any namespace holding the same key is the same authority.
import { createPublicKey } from 'node:crypto';
import { createBoundedMemo } from '../cache/bounded-memo.js';
import { ErrorCode, type TrustgateError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import type { PolicySource } from '../policy/match-policy.js';
import type { PolicySet } from '../policy/model.js';
import { keyIdentity } from '../trust/key-identity.js';
import { isKeyAuthority, type CosignRequirement, type NotaryRequirement } from '../trust/verifier.js';
import { collectRequirements } from '../verify/policy-requirements.js';

// The namespace read for "any namespace holding no ImagePolicy and no Secret of its own"
// (where only ClusterImagePolicies apply and no Secret is found). Not a valid namespace
// name, so it can be no real namespace.
export const ANY_OTHER_NAMESPACE = '<other>';

// One policy that trusts the key for the image in one namespace, and what its Notary trust
// asks there (empty when it asks none: nothing to carry over from).
export interface KeyTrust {
  readonly namespace: string;
  readonly origin: PolicySource | undefined;
  readonly notary: readonly NotaryRequirement[];
}

export interface KeyTrustScope {
  readonly trusting: readonly KeyTrust[];
  // Policies whose requirements could not be read because a Secret they need was not held
  // (POLICY_SECRET_OVER_LIMIT): they might trust the key, so nothing can be carried over.
  readonly unknown: readonly TrustgateError[];
}

// Every namespace where a policy could trust the key: each namespace that holds an
// ImagePolicy or a Secret (or had one left out), the workload's own, and one stand-in for
// all the others, which look alike to every policy (no ImagePolicy, no Secret).
export function namespacesToRead(set: PolicySet, workloadNamespace: string): string[] {
  const namespaces = new Set<string>([workloadNamespace]);
  for (const policy of set.imagePolicies) namespaces.add(policy.namespace);
  for (const secret of set.secrets) namespaces.add(secret.namespace);
  for (const scope of set.unheldSecrets ?? []) if (scope.namespace !== undefined) namespaces.add(scope.namespace);
  namespaces.add(ANY_OTHER_NAMESPACE);
  return [...namespaces];
}

// The policies that trust the key with identity `key` (keyIdentityOf) for `image`, in every
// namespace of namespacesToRead.
export function findKeyTrust(set: PolicySet, image: ImageReference, name: string, key: string, workloadNamespace: string): KeyTrustScope {
  const trusting: KeyTrust[] = [];
  const unknown: TrustgateError[] = [];
  for (const namespace of namespacesToRead(set, workloadNamespace)) {
    const collected = collectRequirements(set, image, namespace, name);
    for (const failure of collected.failures) {
      if (failure.error.code === ErrorCode.POLICY_SECRET_OVER_LIMIT) unknown.push(failure.error);
    }
    for (const check of collected.checks) {
      if (check.requirement.kind !== 'cosign' || !namesKey(check.requirement, key)) continue;
      const notary = collected.checks
        .filter((other) => other.requirement.kind === 'notary' && sameSource(other.origin, check.origin))
        .map((other) => other.requirement as NotaryRequirement);
      trusting.push({ namespace, origin: check.origin, notary });
    }
  }
  return { trusting, unknown };
}

// The identity (keyIdentity: its numbers) of a PEM public key: the same key however its PEM
// is wrapped or its point and curve are spelled.
export function keyIdentityOf(publicKeyPem: string): string {
  const known = IDENTITIES.get(publicKeyPem);
  if (known !== undefined) return known;
  const identity = keyIdentity(createPublicKey(publicKeyPem));
  IDENTITIES.set(publicKeyPem, identity);
  return identity;
}

// Authority keys already loaded by toRequirements (an unusable one never gets here); the
// bound only caps memory when policies hold many keys.
const IDENTITIES = createBoundedMemo<string, string>(1024);

function namesKey(requirement: CosignRequirement, key: string): boolean {
  return requirement.authorities.some((authority) => isKeyAuthority(authority) && keyIdentityOf(authority.publicKeyPem) === key);
}

function sameSource(a: PolicySource | undefined, b: PolicySource | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.kind === b.kind && a.name === b.name && a.namespace === b.namespace && a.pattern === b.pattern;
}
