import { ErrorCode, TrustgateError } from '../errors.js';
import type { Policy, PolicySecret, SimplePolicy } from './model.js';

export type Requirement =
  // Nothing to verify: an empty or omitted policy, or trust disabled and nothing else required.
  | { readonly kind: 'allow' }
  // Notary v1 content trust; every listed signer (delegation `targets/<name>`) must have signed.
  | { readonly kind: 'notary'; readonly server?: string; readonly signers: readonly NotarySigner[]; readonly rootKeyIds: readonly string[] }
  // A check this product does not perform: always a denial with this reason, never an allow.
  | { readonly kind: 'unsupported'; readonly reason: string };

export interface NotarySigner {
  // Delegation name; the role is `targets/<name>`.
  readonly name: string;
  readonly publicKeyPem: string;
}

export interface SecretLookup {
  findSecret(namespace: string, name: string): PolicySecret | undefined;
}

// A SecretLookup over decoded Secrets (from a PolicySet).
export function toSecretLookup(secrets: readonly PolicySecret[]): SecretLookup {
  const byKey = new Map(secrets.map((secret) => [`${secret.namespace}/${secret.name}`, secret]));
  return { findSecret: (namespace, name) => byKey.get(`${namespace}/${name}`) };
}

// Everything a matched policy requires of an image; all of the returned requirements must be
// satisfied. Trust and simple signing together yield both requirements (Portieris compared
// them by pointer and denied every such image, issue #515). Simple signing and the IBM
// vulnerability scan are not performed here, so they become `unsupported`: the image is denied
// with a reason instead of being admitted unchecked.
// Signer Secrets are read from `namespace`, the namespace of the workload being verified, for
// ClusterImagePolicies too, as Portieris does.
export function toRequirements(policy: Policy, secrets: SecretLookup, namespace: string): readonly Requirement[] {
  const requirements: Requirement[] = [];
  if (policy.trust.enabled) {
    const names = [...new Set(policy.trust.signerSecrets)];
    requirements.push({
      kind: 'notary',
      ...(policy.trust.trustServer === undefined ? {} : { server: policy.trust.trustServer }),
      signers: names.map((name) => toSigner(secrets, namespace, name)),
      rootKeyIds: policy.trust.rootKeyIds,
    });
  }
  if (policy.simple !== undefined) {
    const simple = toSimpleRequirement(policy.simple);
    if (simple !== undefined) requirements.push(simple);
  }
  if (policy.vulnerability?.iccrva.enabled === true) {
    requirements.push({
      kind: 'unsupported',
      reason: 'the policy requires an IBM Vulnerability Advisor (ICCRVA) scan, which is not supported',
    });
  }
  return requirements.length > 0 ? requirements : [{ kind: 'allow' }];
}

// containers/image semantics: every requirement must accept, so a list made only of
// insecureAcceptAnything accepts, a `reject` denies, and an empty list is refused as invalid.
function toSimpleRequirement(simple: SimplePolicy): Requirement | undefined {
  const types = new Set(simple.requirements.map((requirement) => requirement.type));
  if (types.size === 0) {
    return { kind: 'unsupported', reason: 'the simple signing policy lists no requirements' };
  }
  if (types.has('reject')) {
    return { kind: 'unsupported', reason: 'the simple signing policy has a "reject" requirement, which denies every image' };
  }
  if (types.has('signedBy')) {
    return { kind: 'unsupported', reason: 'the policy requires Red Hat simple signing (signedBy), which is not supported' };
  }
  return undefined;
}

// One signer from its Secret: `name` is the delegation name, `publicKey` its PEM key or
// certificate. Whitespace around values is dropped (files made with `kubectl create secret
// --from-file` usually end in a newline). A missing Secret or key is POLICY_SECRET_MISSING,
// which denies: without the key there is nothing to verify the signer against.
function toSigner(secrets: SecretLookup, namespace: string, secretName: string): NotarySigner {
  const secret = secrets.findSecret(namespace, secretName);
  if (secret === undefined) {
    throw new TrustgateError(
      ErrorCode.POLICY_SECRET_MISSING,
      `signer secret "${secretName}" not found in namespace "${namespace}": expected a Secret with keys name and publicKey`,
    );
  }
  const name = readText(secret, 'name', namespace);
  const publicKeyPem = readText(secret, 'publicKey', namespace);
  if (!publicKeyPem.startsWith('-----BEGIN ')) {
    throw new TrustgateError(
      ErrorCode.POLICY_INVALID,
      `signer secret "${secretName}" in namespace "${namespace}": expected publicKey to be PEM ("-----BEGIN ..."), got something else`,
    );
  }
  return { name, publicKeyPem };
}

// One Secret value as trimmed UTF-8 text; absent or empty is POLICY_SECRET_MISSING.
function readText(secret: PolicySecret, key: string, namespace: string): string {
  const bytes = secret.data.get(key);
  const where = `signer secret "${secret.name}" in namespace "${namespace}"`;
  if (bytes === undefined) {
    throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `${where} has no key "${key}": expected keys name and publicKey`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes).trim();
  } catch (error) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: expected key "${key}" to be UTF-8 text`, { cause: error });
  }
  if (text === '') {
    throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `${where} has an empty "${key}": expected a value`);
  }
  return text;
}
