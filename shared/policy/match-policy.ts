import { formatImageReference, type ImageReference } from '../image/reference.js';
import { toMatchSubject, type MatchSubject } from '../image/registry-host.js';
import { isExactPattern, matchesImagePattern, toImagePattern, type ImagePattern } from './image-pattern.js';
import { PolicyMode, type ClusterImagePolicy, type ImagePolicy, type Policy, type PolicySet } from './model.js';

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

// Why the governing pattern won, given when more than one pattern of the governing policies
// matched: the winner, the rule that decided, and every other matching pattern, best first.
export interface RankedPattern {
  readonly source: PolicySource;
  // The pattern as matching reads it: normalised, host canonical.
  readonly normalised: string;
  // Portieris' score: length of the normalised pattern minus its '*' count.
  readonly score: number;
  // Whether the pattern is the image itself (wins outright).
  readonly exact: boolean;
}

// 'exact': the winner is the image itself; 'score': it has the highest score; then the
// tie-breaks, in order: 'pattern' (normalised pattern that sorts first), 'policy' (policy name
// that sorts first), 'entry' (earlier repository entry of the same policy).
export type PrecedenceRule = 'exact' | 'score' | 'pattern' | 'policy' | 'entry';

export interface Precedence {
  readonly rule: PrecedenceRule;
  readonly winner: RankedPattern;
  readonly runnersUp: readonly RankedPattern[];
}

export type PolicyLookup =
  | {
      readonly matched: true;
      readonly policy: Policy;
      readonly source: PolicySource;
      readonly enforced: readonly PolicyMatch[];
      // Present when more than one pattern matched.
      readonly precedence?: Precedence;
    }
  | { readonly matched: false; readonly reason: string; readonly enforced: readonly PolicyMatch[] };

interface Candidate extends PolicyMatch {
  readonly pattern: ImagePattern;
  readonly exact: boolean;
  // Position of the repository entry inside its policy, the last tie-breaker.
  readonly entry: number;
}

// Find the policy that governs `image` in `namespace`, with Portieris' precedence
// (FindImagePolicy / FindClusterImagePolicy, v0.14.2) on normalised forms:
//   1. If the namespace has any ImagePolicy, only ImagePolicies of that namespace are
//      considered; otherwise all ClusterImagePolicies are. No matching pattern: no policy (deny).
//   2. A pattern that is the image itself (isExactPattern) wins outright. Only that: a pattern
//      without '*' that is not the image (`icr.io/hello/world` for `icr.io/hello/world:1.0`)
//      ranks by score like any other, so it cannot beat a longer tag glob (`...world:*`).
//   3. Otherwise the highest score (length of the normalised pattern minus its '*' count) wins.
//   4. Ties are broken deterministically, never by file order (where Portieris takes the first
//      one it reads): the normalised pattern that sorts first (code-unit order), then the
//      policy name that sorts first, then the earlier repository entry inside that policy.
// In addition, every ClusterImagePolicy annotated `trustgate.dev/enforce: "true"` applies in
// every namespace: its best-matching repository entry (same ranking, and a pattern host without
// a port covers every port of that host) is returned in `enforced` and must be satisfied as
// well. An enforced policy with no matching pattern adds nothing; an entry that is already the
// main match is not repeated.
export function lookupPolicy(set: PolicySet, image: ImageReference, namespace: string): PolicyLookup {
  const subject = toMatchSubject(image);
  const imagePolicies = set.imagePolicies.filter((policy) => policy.namespace === namespace);
  const governing = imagePolicies.length > 0 ? imagePolicies : set.clusterPolicies;
  const ranked = rankMatches(governing, subject);
  const best = ranked[0];
  const enforced = [...set.clusterPolicies]
    .filter((policy) => policy.enforce)
    .sort((a, b) => compareText(a.name, b.name))
    .map((policy) => rankMatches([policy], subject, { anyPort: true })[0])
    .filter((candidate): candidate is Candidate => candidate !== undefined && !isSameEntry(candidate, best))
    .map(toPolicyMatch);
  if (best === undefined) {
    const subjectText = formatImageReference(image);
    const reason =
      imagePolicies.length > 0
        ? `no ImagePolicy in namespace "${namespace}" has a repository pattern matching ${subjectText}`
        : `no ClusterImagePolicy has a repository pattern matching ${subjectText} (namespace "${namespace}" has no ImagePolicy)`;
    return { matched: false, reason, enforced };
  }
  const precedence = ranked.length > 1 ? toPrecedence(ranked) : undefined;
  return { matched: true, policy: best.policy, source: best.source, enforced, ...(precedence === undefined ? {} : { precedence }) };
}

// The mode of a "no policy matches" failure: the strictest mode among the policies that were
// searched (the namespace's ImagePolicies, else every ClusterImagePolicy), 'enforce' when
// there are none. A namespace that rolls out only warn or audit policies is not denied by
// their gaps; one enforcing policy among them makes a gap deny, as it always has.
export function governingMode(set: PolicySet, namespace: string): PolicyMode {
  const imagePolicies = set.imagePolicies.filter((policy) => policy.namespace === namespace);
  const governing: readonly (ImagePolicy | ClusterImagePolicy)[] = imagePolicies.length > 0 ? imagePolicies : set.clusterPolicies;
  if (governing.length === 0) return PolicyMode.enforce;
  return governing.map((policy) => policy.mode ?? PolicyMode.enforce).reduce(strictestMode);
}

const MODE_STRENGTH: Readonly<Record<PolicyMode, number>> = { enforce: 2, warn: 1, audit: 0 };

// Of two modes, the one that does more with a failure.
export function strictestMode(a: PolicyMode, b: PolicyMode): PolicyMode {
  return MODE_STRENGTH[a] >= MODE_STRENGTH[b] ? a : b;
}

// Every matching repository entry of the given policies, best first.
// `anyPort` widens a pattern host without a port to every port of that host (see
// matchesImagePattern); enforced policies use it, being a floor.
function rankMatches(
  policies: readonly (ImagePolicy | ClusterImagePolicy)[],
  subject: MatchSubject,
  options: { readonly anyPort?: boolean } = {},
): Candidate[] {
  const candidates: Candidate[] = [];
  for (const policy of policies) {
    policy.repositories.forEach((repository, entry) => {
      const pattern = toImagePattern(repository.name);
      if (!matchesImagePattern(pattern, subject, options)) return;
      const source: PolicySource =
        policy.kind === 'ImagePolicy'
          ? { kind: policy.kind, name: policy.name, namespace: policy.namespace, pattern: repository.name }
          : { kind: policy.kind, name: policy.name, pattern: repository.name };
      candidates.push({ policy: repository.policy, source, pattern, exact: isExactPattern(pattern, subject), entry });
    });
  }
  return candidates.sort((a, b) => compareCandidates(a, b).order);
}

// Negative `order` when `a` takes precedence over `b`, with the rule that decided it.
function compareCandidates(a: Candidate, b: Candidate): { order: number; rule: PrecedenceRule } {
  if (a.exact !== b.exact) return { order: a.exact ? -1 : 1, rule: 'exact' };
  if (a.pattern.specificity !== b.pattern.specificity) return { order: b.pattern.specificity - a.pattern.specificity, rule: 'score' };
  const byPattern = compareText(a.pattern.text, b.pattern.text);
  if (byPattern !== 0) return { order: byPattern, rule: 'pattern' };
  const byPolicy = compareText(a.source.name, b.source.name);
  if (byPolicy !== 0) return { order: byPolicy, rule: 'policy' };
  return { order: a.entry - b.entry, rule: 'entry' };
}

// The explanation of a ranking of at least two: the rule is the one that set the winner
// apart from the runner-up closest to it.
function toPrecedence(ranked: readonly Candidate[]): Precedence {
  const [winner, second] = ranked as [Candidate, Candidate, ...Candidate[]];
  return {
    rule: compareCandidates(winner, second).rule,
    winner: toRanked(winner),
    runnersUp: ranked.slice(1).map(toRanked),
  };
}

function toRanked(candidate: Candidate): RankedPattern {
  return { source: candidate.source, normalised: candidate.pattern.text, score: candidate.pattern.specificity, exact: candidate.exact };
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
