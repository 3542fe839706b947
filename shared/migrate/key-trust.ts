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
import { ErrorCode, toTrustgateError, type TrustgateError } from '../errors.js';
import type { ImageReference } from '../image/reference.js';
import { toMatchSubject, type MatchSubject } from '../image/registry-host.js';
import { matchesImagePattern, matchGlob, toImagePattern, type ImagePattern } from '../policy/image-pattern.js';
import type { PolicySource } from '../policy/match-policy.js';
import type { PolicySet } from '../policy/model.js';
import { toRequirements, toSecretLookup } from '../policy/trust-requirements.js';
import { keyIdentity } from '../trust/key-identity.js';
import { isKeyAuthority, type CosignRequirement, type NotaryRequirement } from '../trust/verifier.js';
import { collectRequirements, toNotaryRequirement } from '../verify/policy-requirements.js';
import { withOrigin } from '../verify/verify-image.js';

// The namespace read for "any namespace holding no ImagePolicy and no Secret of its own"
// (where only ClusterImagePolicies apply and no Secret is found). Not a valid namespace
// name, so it can be no real namespace.
export const ANY_OTHER_NAMESPACE = '<other>';

// One policy that trusts the key for the image in one namespace, and what its Notary trust
// asks there (empty when it asks none: nothing to carry over from). `spelling` says which
// form of the image that trust is checked on: 'written', the image as the workload wrote it
// (the policy governs that spelling); 'digest', the digest-only form `repo@sha256:X` (the
// policy's pattern meets the repository at some tag or digest, see findKeyTrust).
export interface KeyTrust {
  readonly namespace: string;
  readonly origin: PolicySource | undefined;
  readonly notary: readonly NotaryRequirement[];
  readonly spelling: 'written' | 'digest';
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
// namespace of namespacesToRead: the ones that govern the image as written, and every
// repository entry that could govern another spelling of it (spelledOtherwise), checked on
// `digest` when known.
export function findKeyTrust(set: PolicySet, image: ImageReference, name: string, key: string, workloadNamespace: string, digest?: string): KeyTrustScope {
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
      trusting.push({ namespace, origin: check.origin, notary, spelling: 'written' });
    }
    spelledOtherwise(set, image, key, namespace, digest ?? image.digest, trusting, unknown);
  }
  return { trusting, unknown };
}

// Every repository entry that, in `namespace`, could govern some spelling of the image's
// digest and trusts the key: added to `trusting` to be checked on the digest-only form.
// Security: the carry-over signature binds the repository and the digest, not the tag the
// workload wrote: `repo@sha256:X`, or any tag the repository's owner points at X, is admitted
// by it wherever the entry that spelling meets trusts the key. Such an entry may not be the
// one the written spelling wins (a prod entry for `repo:v*` asking Notary signer ci, another
// for the rest of `repo` trusting only the key). Which entry a spelling meets depends on tags
// we do not control, so every entry of the namespace's governing policies (its ImagePolicies,
// else the ClusterImagePolicies) and of the enforced ClusterImagePolicies whose pattern can
// meet the repository at some tag or digest is examined, fail closed. An entry whose pattern
// names a digest is examined only once the digest is known (`digest`).
function spelledOtherwise(set: PolicySet, image: ImageReference, key: string, namespace: string, digest: string | undefined, trusting: KeyTrust[], unknown: TrustgateError[]): void {
  const own = set.imagePolicies.filter((policy) => policy.namespace === namespace);
  const governing = own.length > 0 ? own : set.clusterPolicies;
  const enforced = set.clusterPolicies.filter((policy) => policy.enforce);
  const subject = toMatchSubject({ registry: image.registry, repository: image.repository, ...(digest === undefined ? { tag: 'latest' } : { digest }) });
  const secrets = toSecretLookup(set.secrets, set.unheldSecrets, set.unheldSecretsIncomplete);
  const seen = new Set<string>();
  for (const [policies, anyPort] of [
    [governing, false],
    [enforced, true],
  ] as const) {
    for (const policy of policies) {
      policy.repositories.forEach((repository, entry) => {
        if (repository.policy.sigstore === undefined || repository.policy.sigstore.keySecrets.length === 0) return;
        const where = `${policy.kind}\n${policy.name}\n${entry}`;
        if (seen.has(where) || !canMeetRepository(toImagePattern(repository.name), subject, digest, anyPort)) return;
        seen.add(where);
        const origin: PolicySource =
          policy.kind === 'ImagePolicy'
            ? { kind: policy.kind, name: policy.name, namespace: policy.namespace, pattern: repository.name }
            : { kind: policy.kind, name: policy.name, pattern: repository.name };
        let requirements;
        try {
          requirements = toRequirements(repository.policy, secrets, namespace);
        } catch (thrown) {
          // An entry whose requirements cannot be formed denies whatever it governs, unless
          // a Secret it needs was not held: then what it asks is unknown.
          const error = withOrigin(toTrustgateError(thrown), origin);
          if (error.code === ErrorCode.POLICY_SECRET_OVER_LIMIT && !unknown.some((known) => known.message === error.message)) unknown.push(error);
          return;
        }
        if (!requirements.some((requirement) => requirement.kind === 'cosign' && namesKey(requirement, key))) return;
        // The entry the written spelling meets is checked on it already: its Notary trust
        // passing for the written tag means the digest was signed under a tag.
        if (trusting.some((trust) => trust.namespace === namespace && trust.spelling === 'written' && sameSource(trust.origin, origin))) return;
        const notary = requirements.flatMap((requirement) => (requirement.kind === 'notary' ? [toNotaryRequirement(requirement, origin)] : []));
        trusting.push({ namespace, origin, notary, spelling: 'digest' });
      });
    }
  }
}

// Whether a pattern can meet the image's repository at some tag or digest: its host and
// path match the repository (whatever its tag glob says: a tag can be pointed at any digest),
// and its digest glob, if any, matches the digest (unknown: not yet). The digest-only form
// also meets it where Portieris' raw glob spans `repo@sha256` and the hex (matchesImagePattern).
function canMeetRepository(pattern: ImagePattern, subject: MatchSubject, digest: string | undefined, anyPort: boolean): boolean {
  const repositoryOnly: ImagePattern = {
    host: pattern.host,
    hostName: pattern.hostName,
    ...(pattern.port === undefined ? {} : { port: pattern.port }),
    ...(pattern.addressHostName === undefined ? {} : { addressHostName: pattern.addressHostName }),
    path: pattern.path,
    ...(pattern.hubPath === undefined ? {} : { hubPath: pattern.hubPath }),
    text: pattern.text,
    hasWildcard: pattern.hasWildcard,
    specificity: pattern.specificity,
  };
  if (matchesImagePattern(repositoryOnly, subject, { anyPort }) && (pattern.digest === undefined || (digest !== undefined && matchGlob(pattern.digest, digest)))) return true;
  return digest !== undefined && matchesImagePattern(pattern, subject, { anyPort });
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
