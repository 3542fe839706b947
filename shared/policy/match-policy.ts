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

// 'signed-tag': the tag chose the policy, its winner enforcing a Notary check (which binds the
// tag to the digest); 'digest': it did not, so the image was judged as `repo@digest`.
export type TagAndDigestRule = 'signed-tag' | 'digest';

// How an image written with both a tag and a digest was judged, given when its tag form and its
// digest-only form meet different policies: the rule, and each form's winner (absent when no
// pattern matches that form).
export interface TagAndDigest {
  readonly rule: TagAndDigestRule;
  readonly byTag?: RankedPattern;
  readonly byDigest?: RankedPattern;
}

export type PolicyLookup =
  | {
      readonly matched: true;
      readonly policy: Policy;
      readonly source: PolicySource;
      readonly enforced: readonly PolicyMatch[];
      // Present when more than one pattern matched.
      readonly precedence?: Precedence;
      // Present when the image has a tag and a digest whose forms meet different policies.
      readonly tagAndDigest?: TagAndDigest;
    }
  | { readonly matched: false; readonly reason: string; readonly enforced: readonly PolicyMatch[]; readonly tagAndDigest?: TagAndDigest };

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
// An image with both a tag and a digest (`repo:tag@sha256:X`) is judged by judgeTagAndDigest,
// for the governing policies and for each enforced policy alike.
export function lookupPolicy(set: PolicySet, image: ImageReference, namespace: string): PolicyLookup {
  const subject = toMatchSubject(image);
  const imagePolicies = set.imagePolicies.filter((policy) => policy.namespace === namespace);
  const governing = imagePolicies.length > 0 ? imagePolicies : set.clusterPolicies;
  const { ranked, tagAndDigest } = judgeTagAndDigest(governing, subject);
  const best = ranked[0];
  const enforced = [...set.clusterPolicies]
    .filter((policy) => policy.enforce)
    .sort((a, b) => compareText(a.name, b.name))
    .map((policy) => judgeTagAndDigest([policy], subject, { anyPort: true }).ranked[0])
    .filter((candidate): candidate is Candidate => candidate !== undefined && !isSameEntry(candidate, best))
    .map(toPolicyMatch);
  const explained = tagAndDigest === undefined ? {} : { tagAndDigest };
  if (best === undefined) {
    // Judged by its digest, the image is named without the tag that did not count.
    const subjectText = formatImageReference(tagAndDigest === undefined ? image : withoutTag(image));
    const searched =
      imagePolicies.length > 0
        ? `no ImagePolicy in namespace "${namespace}" has a repository pattern matching ${subjectText}`
        : `no ClusterImagePolicy has a repository pattern matching ${subjectText} (namespace "${namespace}" has no ImagePolicy)`;
    const reason = tagAndDigest?.byTag === undefined ? searched : `${searched}; ${explainUntrustedTag(image.tag ?? '', tagAndDigest.byTag.source)}`;
    return { matched: false, reason, enforced, ...explained };
  }
  const precedence = ranked.length > 1 ? toPrecedence(ranked) : undefined;
  return { matched: true, policy: best.policy, source: best.source, enforced, ...(precedence === undefined ? {} : { precedence }), ...explained };
}

// Which form of an image picks its policy. For `repo:tag@sha256:X` the runtime pulls X and
// ignores the tag, so the tag is attacker-chosen text unless something binds it to X.
// Security: judged by its tag, `repo:debug@sha256:X` would meet a tag-scoped exemption
// (`repo:debug` checking nothing, or a warn or audit one) for ANY digest X of the repository,
// while `repo@sha256:X` is denied by the repository's policy. So, with P_tag the winner for
// the image as written and P_dig the winner for `repo@sha256:X`:
//   - P_tag and P_dig are the same entry (or neither exists): nothing to decide;
//   - P_tag binds the tag to X (bindsTagToDigest: an enforced, mandatory Notary check, which
//     requires X to be the tag's signed digest): the tag chooses, P_tag governs;
//   - otherwise P_dig governs, as if the tag were not written (no P_dig: no match, denied).
function judgeTagAndDigest(
  policies: readonly (ImagePolicy | ClusterImagePolicy)[],
  subject: MatchSubject,
  options: { readonly anyPort?: boolean } = {},
): { readonly ranked: Candidate[]; readonly tagAndDigest?: TagAndDigest } {
  const byTag = rankMatches(policies, subject, options);
  if (subject.tag === undefined || subject.digest === undefined) return { ranked: byTag };
  const digestOnly: MatchSubject = {
    host: subject.host,
    hostName: subject.hostName,
    ...(subject.addressHostName === undefined ? {} : { addressHostName: subject.addressHostName }),
    port: subject.port,
    repository: subject.repository,
    digest: subject.digest,
  };
  const byDigest = rankMatches(policies, digestOnly, options);
  const [tagWinner, digestWinner] = [byTag[0], byDigest[0]];
  if (tagWinner === undefined ? digestWinner === undefined : isSameEntry(tagWinner, digestWinner)) return { ranked: byTag };
  const signedTag = tagWinner !== undefined && bindsTagToDigest(tagWinner.policy);
  const tagAndDigest: TagAndDigest = {
    rule: signedTag ? 'signed-tag' : 'digest',
    ...(tagWinner === undefined ? {} : { byTag: toRanked(tagWinner) }),
    ...(digestWinner === undefined ? {} : { byDigest: toRanked(digestWinner) }),
  };
  return { ranked: signedTag ? byTag : byDigest, tagAndDigest };
}

// Whether a policy's checks bind an image's tag to the digest written beside it. Only a Notary
// check does (the tag's signed digest must be that digest), and only when the image cannot be
// admitted without it: the policy is in enforce mode, is not an invalid stand-in (whose only
// check is a denial), and does not accept another check instead (`verification.mode: any`
// beside cosign or simple signing, which verify the digest, never the tag).
function bindsTagToDigest(policy: Policy): boolean {
  if (!policy.trust.enabled || policy.invalid !== undefined) return false;
  if ((policy.mode ?? PolicyMode.enforce) !== PolicyMode.enforce) return false;
  return policy.verification?.mode !== 'any' || (policy.sigstore === undefined && policy.simple === undefined);
}

// Why a denial for no match did not go by the tag the image was written with.
function explainUntrustedTag(tag: string, source: PolicySource): string {
  return `its tag "${tag}" does not choose the policy: pattern "${source.pattern}" of ${source.kind} ${source.name}, which the tag meets, does not enforce a Notary check binding the tag to the digest, so the image is judged by its digest, as the runtime pulls it`;
}

// The reference without its tag: what the runtime pulls when a digest is given.
function withoutTag(image: ImageReference): ImageReference {
  return { registry: image.registry, repository: image.repository, ...(image.digest === undefined ? {} : { digest: image.digest }) };
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
