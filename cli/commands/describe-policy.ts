// Human descriptions of policies and where they come from, for `verify --policies` and
// `policy lookup`.
import type { PolicySource, Precedence, PrecedenceRule, RankedPattern, TagAndDigest } from '../../shared/policy/match-policy.js';
import type { Policy, PolicyMode } from '../../shared/policy/model.js';
import { describeIdentity } from '../../shared/trust/cosign/identity.js';

// `ImagePolicy team-a/signed (pattern "registry.example.com/team-a/*")`.
export function describeSource(source: PolicySource): string {
  const name = source.namespace === undefined ? source.name : `${source.namespace}/${source.name}`;
  return `${source.kind} ${name} (pattern "${source.pattern}")`;
}

// What a policy asks for, one line per aspect, as written (defaults applied). Checks this
// product does not perform are named as such, since they deny every image they apply to.
export function describePolicy(policy: Policy): string[] {
  const lines: string[] = [];
  if (policy.trust.enabled) {
    const server = policy.trust.trustServer ?? "the registry's default server";
    const signers = policy.trust.signerSecrets.length > 0 ? policy.trust.signerSecrets.map(describeSecretRef).join(', ') : 'none';
    lines.push(`trust: Notary content trust from ${server}; signer secrets: ${signers}`);
    if (policy.trust.rootKeyIds.length > 0) lines.push(`root keys pinned: ${policy.trust.rootKeyIds.join(', ')}`);
  }
  if (policy.sigstore !== undefined) {
    const { keySecrets, keyless, threshold, tlog } = policy.sigstore;
    const authorities = [
      ...keySecrets.map((secret) => `key secret ${describeSecretRef(secret)}`),
      ...keyless.map((authority) => {
        const root = authority.trustRootSecretName === undefined ? 'public-good root' : `trusted root secret ${describeSecretRef({ name: authority.trustRootSecretName, namespace: authority.trustRootSecretNamespace })}`;
        return `keyless ${authority.identities.map(describeIdentity).join(' | ')} (${root})`;
      }),
    ];
    lines.push(`sigstore: cosign signatures (classic or v3 bundles; transparency log: ${tlog}) by ${threshold} of: ${authorities.join(', ')}`);
  }
  if (policy.trust.enabled && policy.sigstore !== undefined) {
    const mode = policy.verification?.mode ?? 'all';
    lines.push(`verification mode: ${mode} (${mode === 'any' ? 'one passing kind admits' : 'trust and sigstore must both pass'})`);
  }
  if (policy.simple !== undefined) {
    const types = [...new Set(policy.simple.requirements.map((requirement) => requirement.type))];
    const keys = [...new Set(policy.simple.requirements.flatMap((requirement) => (requirement.keySecret === undefined ? [] : [describeSecretRef({ name: requirement.keySecret, namespace: requirement.keySecretNamespace })])))];
    const note = types.length === 0 ? ' (invalid: denies)' : types.includes('reject') ? ' (reject: denies)' : keys.length > 0 ? ` by key secrets: ${keys.join(', ')}` : '';
    const store = policy.simple.storeURL === undefined ? '' : `; lookaside store ${policy.simple.storeURL}`;
    lines.push(`simple signing: ${types.length > 0 ? types.join(', ') : 'no requirements'}${note}${store}`);
  }
  if (policy.vulnerability?.iccrva.enabled === true) lines.push('vulnerability: ICCRVA scan (not supported: denies)');
  if (lines.length === 0) lines.push('no checks: every matching image is allowed');
  lines.push(`mutateImage: ${policy.mutateImage}`);
  lines.push(`mode: ${MODE_TEXT[policy.mode ?? 'enforce']}`);
  return lines;
}

// `release-key` (the workload's namespace) or `keys/release-key`.
function describeSecretRef(ref: { readonly name: string; readonly namespace?: string | undefined }): string {
  return ref.namespace === undefined || ref.namespace === '' ? ref.name : `${ref.namespace}/${ref.name}`;
}

const MODE_TEXT: Readonly<Record<PolicyMode, string>> = {
  enforce: 'enforce (failures deny)',
  warn: 'warn (failures admit, with warnings to the user; logged and counted)',
  audit: 'audit (failures admit silently; logged and counted)',
};

const RULE_TEXT: Readonly<Record<PrecedenceRule, string>> = {
  exact: 'it is the image itself (exact match)',
  score: 'it has the highest score (length of the normalised pattern minus its \'*\' count)',
  pattern: 'scores tie, and its normalised pattern sorts first',
  policy: 'scores and patterns tie, and its policy name sorts first',
  entry: 'it is the earlier entry of the same pattern in one policy',
};

// Why the governing pattern won when several matched, then every runner-up, best first:
//   why: it has the highest score (...): "icr.io/hello/world:*" scores 19
//   runner-up: ClusterImagePolicy open (pattern "icr.io/hello/world"): scores 18
export function describePrecedence(precedence: Precedence): string[] {
  return [
    `  why: ${RULE_TEXT[precedence.rule]}: ${describeRanked(precedence.winner)}`,
    ...precedence.runnersUp.map((ranked) => `  runner-up: ${describeSource(ranked.source)}: ${describeRanked(ranked)}`),
  ];
}

// For an image with a tag and a digest whose forms meet different policies: which form chose
// the policy, then each form's winner:
//   tag and digest: judged by its digest, as the runtime pulls it: the tag's pattern does not enforce a Notary check ...
//   by tag: ClusterImagePolicy open (pattern "reg/app:debug")
//   by digest: ClusterImagePolicy releases (pattern "reg/app") (or: no pattern matches)
export function describeTagAndDigest(choice: TagAndDigest): string[] {
  const why =
    choice.rule === 'signed-tag'
      ? "judged by its tag: the tag's pattern enforces a Notary check, which requires the digest to be the tag's signed digest"
      : "judged by its digest, as the runtime pulls it: the tag's pattern does not enforce a Notary check binding the tag to the digest";
  const winner = (ranked: RankedPattern | undefined): string => (ranked === undefined ? 'no pattern matches' : describeSource(ranked.source));
  return [`tag and digest: ${why}`, `  by tag: ${winner(choice.byTag)}`, `  by digest: ${winner(choice.byDigest)}`];
}

function describeRanked(ranked: RankedPattern): string {
  return `"${ranked.normalised}" ${ranked.exact ? 'is exact, ' : ''}scores ${ranked.score}`;
}
