import { formatImageReference, type ImageReference } from '../image/reference.js';
import { matchesImagePattern, toImagePattern, type ImagePattern } from './image-pattern.js';
import type { ClusterImagePolicy, ImagePolicy, Policy, PolicySet } from './model.js';

export interface PolicySource {
  readonly kind: 'ImagePolicy' | 'ClusterImagePolicy';
  readonly name: string;
  readonly namespace?: string;
  // The repository pattern as written in the policy.
  readonly pattern: string;
}

export interface PolicyMatch {
  readonly policy: Policy;
  readonly source: PolicySource;
}

export type PolicyLookup =
  | {
      readonly matched: true;
      readonly policy: Policy;
      readonly source: PolicySource;
      readonly enforced: readonly PolicyMatch[];
    }
  | { readonly matched: false; readonly reason: string; readonly enforced: readonly PolicyMatch[] };

interface Candidate extends PolicyMatch {
  readonly pattern: ImagePattern;
  // Position of the repository entry inside its policy, the last tie-breaker.
  readonly entry: number;
}

// Find the policy that governs `image` in `namespace`, with Portieris' precedence:
//   1. If the namespace has any ImagePolicy, only ImagePolicies of that namespace are
//      considered; otherwise all ClusterImagePolicies are. No matching pattern: no policy (deny).
//   2. Among matching patterns, a pattern without '*' beats any pattern with one; then the
//      highest specificity (length of the normalised pattern minus its '*' count) wins.
//   3. Remaining ties are broken deterministically, never by input order of the files: the
//      normalised pattern that sorts first (code-unit order), then the policy name that sorts
//      first, then the earlier repository entry inside that policy.
// In addition, every ClusterImagePolicy annotated `trustgate.dev/enforce: "true"` applies in
// every namespace: its best-matching repository entry (same ranking) is returned in `enforced`
// and must be satisfied as well. An enforced policy with no matching pattern adds nothing; an
// entry that is already the main match is not repeated.
export function lookupPolicy(set: PolicySet, image: ImageReference, namespace: string): PolicyLookup {
  const imagePolicies = set.imagePolicies.filter((policy) => policy.namespace === namespace);
  const governing = imagePolicies.length > 0 ? imagePolicies : set.clusterPolicies;
  const best = bestMatch(governing, image);
  const enforced = [...set.clusterPolicies]
    .filter((policy) => policy.enforce)
    .sort((a, b) => compareText(a.name, b.name))
    .map((policy) => bestMatch([policy], image))
    .filter((candidate): candidate is Candidate => candidate !== undefined && !isSameEntry(candidate, best))
    .map(toPolicyMatch);
  if (best === undefined) {
    const subject = formatImageReference(image);
    const reason =
      imagePolicies.length > 0
        ? `no ImagePolicy in namespace "${namespace}" has a repository pattern matching ${subject}`
        : `no ClusterImagePolicy has a repository pattern matching ${subject} (namespace "${namespace}" has no ImagePolicy)`;
    return { matched: false, reason, enforced };
  }
  return { matched: true, policy: best.policy, source: best.source, enforced };
}

// The highest-ranked matching repository entry of the given policies, or undefined.
function bestMatch(policies: readonly (ImagePolicy | ClusterImagePolicy)[], image: ImageReference): Candidate | undefined {
  let best: Candidate | undefined;
  for (const policy of policies) {
    policy.repositories.forEach((repository, entry) => {
      const pattern = toImagePattern(repository.name);
      if (!matchesImagePattern(pattern, image)) return;
      const source: PolicySource =
        policy.kind === 'ImagePolicy'
          ? { kind: policy.kind, name: policy.name, namespace: policy.namespace, pattern: repository.name }
          : { kind: policy.kind, name: policy.name, pattern: repository.name };
      const candidate: Candidate = { policy: repository.policy, source, pattern, entry };
      if (best === undefined || compareCandidates(candidate, best) < 0) best = candidate;
    });
  }
  return best;
}

// Negative when `a` takes precedence over `b`.
function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.pattern.hasWildcard !== b.pattern.hasWildcard) return a.pattern.hasWildcard ? 1 : -1;
  if (a.pattern.specificity !== b.pattern.specificity) return b.pattern.specificity - a.pattern.specificity;
  return compareText(a.pattern.text, b.pattern.text) || compareText(a.source.name, b.source.name) || a.entry - b.entry;
}

function isSameEntry(a: Candidate, b: Candidate | undefined): boolean {
  return b !== undefined && a.source.kind === b.source.kind && a.source.name === b.source.name && a.entry === b.entry;
}

function toPolicyMatch(candidate: Candidate): PolicyMatch {
  return { policy: candidate.policy, source: candidate.source };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
