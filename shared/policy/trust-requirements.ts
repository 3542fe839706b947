import { ErrorCode, TrustgateError } from '../errors.js';
import { loadCosignKey } from '../trust/cosign/keys.js';
import type { CosignAuthority } from '../trust/verifier.js';
import type { Policy, PolicySecret, SigstorePolicy, SimplePolicy } from './model.js';

export type Requirement =
  // Nothing to verify: an empty or omitted policy, or trust disabled and nothing else required.
  | { readonly kind: 'allow' }
  // Notary v1 content trust; every listed signer (delegation `targets/<name>`) must have signed.
  | { readonly kind: 'notary'; readonly server?: string; readonly signers: readonly NotarySigner[]; readonly rootKeyIds: readonly string[] }
  // cosign classic signatures: at least `threshold` of the keys must each have signed.
  | { readonly kind: 'cosign'; readonly authorities: readonly CosignAuthority[]; readonly threshold: number }
  // A check this product does not perform: always a denial with this reason, never an allow.
  | { readonly kind: 'unsupported'; readonly reason: string }
  // The stand-in for a policy object that is invalid: always a denial (POLICY_INVALID).
  | { readonly kind: 'invalid'; readonly reason: string };

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
  if (policy.invalid !== undefined) return [{ kind: 'invalid', reason: policy.invalid }];
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
  if (policy.sigstore !== undefined) requirements.push(toCosignRequirement(policy.sigstore, secrets, namespace));
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

// The cosign authorities from their Secrets (data key `cosign.pub`, as `cosign
// generate-key-pair k8s://` writes it), read from the workload's namespace like Notary signer
// Secrets. Each key is loaded now, so an unusable one (Ed25519, a weak RSA key) is refused
// with its reason before any registry is asked. Two Secrets holding the same key would let
// one signature count twice towards the threshold: refused.
function toCosignRequirement(sigstore: SigstorePolicy, secrets: SecretLookup, namespace: string): Requirement {
  const seen = new Set<string>();
  const authorities = sigstore.keySecrets.map((secretName): CosignAuthority => {
    const secret = secrets.findSecret(namespace, secretName);
    if (secret === undefined) {
      throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `cosign key secret "${secretName}" not found in namespace "${namespace}": expected a Secret with key cosign.pub`);
    }
    const publicKeyPem = readText(secret, 'cosign.pub', namespace, 'cosign key secret', 'cosign.pub');
    const name = `key/${secretName}`;
    const { key } = loadCosignKey(publicKeyPem, `cosign key secret "${secretName}" in namespace "${namespace}"`);
    const spki = key.export({ type: 'spki', format: 'der' }).toString('base64');
    if (seen.has(spki)) {
      throw new TrustgateError(ErrorCode.POLICY_INVALID, `cosign key secret "${secretName}" in namespace "${namespace}" holds the same key as another authority: each authority must be a distinct key`);
    }
    seen.add(spki);
    return { name, publicKeyPem };
  });
  return { kind: 'cosign', authorities, threshold: sigstore.threshold };
}

// One Secret value as trimmed UTF-8 text; absent or empty is POLICY_SECRET_MISSING.
function readText(secret: PolicySecret, key: string, namespace: string, what = 'signer secret', expected = 'name and publicKey'): string {
  const bytes = secret.data.get(key);
  const where = `${what} "${secret.name}" in namespace "${namespace}"`;
  if (bytes === undefined) {
    throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `${where} has no key "${key}": expected keys ${expected}`);
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
