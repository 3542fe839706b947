// The policy-lookup use case: which policy governs an image in a namespace, and which
// enforced ClusterImagePolicies apply on top of it. It answers the question an operator asks
// before a deployment is denied ("what will trustgate require of this image here?") with the
// same precedence verify-image and admission use, so the answer cannot drift from the decision.
import { lookupPolicy, type PolicyMatch, type PolicySource, type Precedence, type RankedPattern, type TagAndDigest } from './match-policy.js';
import { PolicyMode, type Policy, type PolicySet } from './model.js';
import type { PolicyLookupRequest } from './policy-lookup-request.js';

// A Policy as the function's JSON answer carries it (defaults applied, nothing omitted that
// has a meaning: the mode is always named).
export type PolicyJson = Policy & { readonly mode: PolicyMode };

export interface PolicyMatchJson {
  readonly policy: PolicyJson;
  readonly source: PolicySource;
}

export type PolicyLookupResponse =
  | {
      readonly matched: true;
      readonly policy: PolicyJson;
      readonly source: PolicySource;
      readonly enforced: readonly PolicyMatchJson[];
      // Present when more than one pattern matched: why `source` won over the others.
      readonly precedence?: Precedence;
      // Present when the image has a tag and a digest whose forms meet different policies:
      // which form chose, and each form's winner.
      readonly tagAndDigest?: TagAndDigest;
    }
  | { readonly matched: false; readonly reason: string; readonly enforced: readonly PolicyMatchJson[]; readonly tagAndDigest?: TagAndDigest };

export interface PolicyLookupDeps {
  // The policies in force; absent when this deployment has none configured.
  readonly policies?: () => Promise<PolicySet>;
}

export const NO_POLICIES_REASON = 'no policies are configured';

// The answer for one request against the configured policies. With no policies configured
// nothing can match: admission and verify-image deny every image by namespace in that state,
// and this says so rather than inventing a default.
export async function answerPolicyLookup(deps: PolicyLookupDeps, request: PolicyLookupRequest): Promise<PolicyLookupResponse> {
  if (deps.policies === undefined) return { matched: false, reason: NO_POLICIES_REASON, enforced: [] };
  return toPolicyLookupResponse(await deps.policies(), request);
}

// Pure: the lookup over one decoded PolicySet, shaped as the function's JSON answer.
export function toPolicyLookupResponse(set: PolicySet, request: PolicyLookupRequest): PolicyLookupResponse {
  const lookup = lookupPolicy(set, request.image, request.namespace);
  const enforced = lookup.enforced.map(toPolicyMatchJson);
  const tagAndDigest = lookup.tagAndDigest === undefined ? {} : { tagAndDigest: toTagAndDigestJson(lookup.tagAndDigest) };
  if (!lookup.matched) return { matched: false, reason: lookup.reason, enforced, ...tagAndDigest };
  return {
    matched: true,
    policy: toPolicyJson(lookup.policy),
    source: toSourceJson(lookup.source),
    enforced,
    ...(lookup.precedence === undefined ? {} : { precedence: toPrecedenceJson(lookup.precedence) }),
    ...tagAndDigest,
  };
}

function toTagAndDigestJson(choice: TagAndDigest): TagAndDigest {
  return {
    rule: choice.rule,
    ...(choice.byTag === undefined ? {} : { byTag: toRankedJson(choice.byTag) }),
    ...(choice.byDigest === undefined ? {} : { byDigest: toRankedJson(choice.byDigest) }),
  };
}

function toPrecedenceJson(precedence: Precedence): Precedence {
  return { rule: precedence.rule, winner: toRankedJson(precedence.winner), runnersUp: precedence.runnersUp.map(toRankedJson) };
}

function toRankedJson(ranked: RankedPattern): RankedPattern {
  return { source: toSourceJson(ranked.source), normalised: ranked.normalised, score: ranked.score, exact: ranked.exact };
}

function toPolicyMatchJson(match: PolicyMatch): PolicyMatchJson {
  return { policy: toPolicyJson(match.policy), source: toSourceJson(match.source) };
}

// Copies field by field so the answer's shape is fixed here, not by whatever else a decoded
// object might carry.
function toPolicyJson(policy: Policy): PolicyJson {
  const { trust, sigstore, verification, simple, vulnerability } = policy;
  return {
    mode: policy.mode ?? PolicyMode.enforce,
    mutateImage: policy.mutateImage,
    trust: {
      enabled: trust.enabled,
      ...(trust.trustServer === undefined ? {} : { trustServer: trust.trustServer }),
      signerSecrets: trust.signerSecrets.map((ref) => ({ ...ref })),
      rootKeyIds: [...trust.rootKeyIds],
    },
    ...(sigstore === undefined
      ? {}
      : {
          sigstore: {
            keySecrets: sigstore.keySecrets.map((ref) => ({ ...ref })),
            keyless: sigstore.keyless.map((keyless) => ({ ...keyless, identities: keyless.identities.map((identity) => ({ ...identity })) })),
            threshold: sigstore.threshold,
            tlog: sigstore.tlog,
          },
        }),
    ...(verification === undefined ? {} : { verification: { mode: verification.mode } }),
    ...(simple === undefined
      ? {}
      : { simple: { ...simple, requirements: simple.requirements.map((r) => ({ ...r, signedIdentity: { ...r.signedIdentity } })) } }),
    ...(vulnerability === undefined ? {} : { vulnerability: { iccrva: { ...vulnerability.iccrva } } }),
  };
}

function toSourceJson(source: PolicySource): PolicySource {
  return {
    kind: source.kind,
    name: source.name,
    ...(source.namespace === undefined ? {} : { namespace: source.namespace }),
    pattern: source.pattern,
  };
}
