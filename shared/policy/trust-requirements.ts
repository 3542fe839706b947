import { ErrorCode, TrustgateError } from '../errors.js';
import { loadCosignKey } from '../trust/cosign/keys.js';
import { keyIdentity } from '../trust/key-identity.js';
import { createBoundedMemo } from '../cache/bounded-memo.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { TrustedRootJson } from '../trust/sigstore/trusted-root-source.js';
import { checkSignedIdentity } from '../trust/simple/identity.js';
import { checkStoreUrl } from '../trust/simple/store-url.js';
import type { CosignAuthority, SimpleSigningRequirement, SimpleSigningRule, StoreCredentials, TlogMode } from '../trust/verifier.js';
import type { KeylessPolicy, Policy, PolicySecret, SecretScope, SigstorePolicy, SimplePolicy } from './model.js';

export type Requirement =
  // Nothing to verify: an empty or omitted policy, or trust disabled and nothing else required.
  | { readonly kind: 'allow' }
  // Notary v1 content trust; every listed signer (delegation `targets/<name>`) must have signed.
  | { readonly kind: 'notary'; readonly server?: string; readonly signers: readonly NotarySigner[]; readonly rootKeyIds: readonly string[] }
  // cosign classic signatures: at least `threshold` of the keys must each have signed.
  | { readonly kind: 'cosign'; readonly authorities: readonly CosignAuthority[]; readonly threshold: number; readonly tlog: TlogMode }
  // Red Hat simple signing: every rule must hold.
  | SimpleSigningRequirement
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

// A SecretLookup over decoded Secrets (from a PolicySet). A Secret that serve could not hold
// (`unheld`) is POLICY_SECRET_OVER_LIMIT rather than missing: it may well exist. With
// `unheldIncomplete` (a policy snapshot that could not list every Secret left out) so is any
// Secret not found: it may be one of those not listed.
export function toSecretLookup(secrets: readonly PolicySecret[], unheld: readonly SecretScope[] = [], unheldIncomplete = false): SecretLookup {
  const byKey = new Map(secrets.map((secret) => [`${secret.namespace}/${secret.name}`, secret]));
  const unheldKeys = new Set(unheld.map((scope) => `${scope.namespace ?? '*'}/${scope.name}`));
  return {
    findSecret: (namespace, name) => {
      const found = byKey.get(`${namespace}/${name}`);
      if (found !== undefined || (unheldKeys.size === 0 && !unheldIncomplete)) return found;
      if (unheldKeys.has(`${namespace}/${name}`) || unheldKeys.has(`*/${name}`)) {
        throw new TrustgateError(
          ErrorCode.POLICY_SECRET_OVER_LIMIT,
          `secret "${name}" in namespace "${namespace}" is not held: the bounds on the Secrets serve keeps were reached (see the metric trustgate_policy_secrets_left_out), so the policies naming it deny`,
        );
      }
      if (unheldIncomplete) {
        throw new TrustgateError(
          ErrorCode.POLICY_SECRET_OVER_LIMIT,
          `secret "${name}" in namespace "${namespace}" is not in the policy snapshot, which lists only part of the Secrets serve left out over its bounds (see the metric trustgate_policy_secrets_left_out): it may be one of them, so the policies naming it deny`,
        );
      }
      return undefined;
    },
  };
}

// Everything a matched policy requires of an image; all of the returned requirements must be
// satisfied. Trust and simple signing together yield both requirements, which must then agree
// on the digest (Portieris compared them by pointer and denied every such image). The IBM
// vulnerability scan is not performed here, so it becomes `unsupported`: the image is denied
// with a reason instead of being admitted unchecked.
// A Secret is read from the namespace its reference names, else from `namespace`, the
// namespace of the workload being verified, for ClusterImagePolicies too, as Portieris does.
// (An enforced ClusterImagePolicy always names it: the decoder refuses one that does not.)
export function toRequirements(policy: Policy, secrets: SecretLookup, namespace: string): readonly Requirement[] {
  if (policy.invalid !== undefined) return [{ kind: 'invalid', reason: policy.invalid }];
  const requirements: Requirement[] = [];
  if (policy.trust.enabled) {
    const signers = new Map(policy.trust.signerSecrets.map((ref) => [`${ref.namespace ?? namespace}/${ref.name}`, ref]));
    requirements.push({
      kind: 'notary',
      ...(policy.trust.trustServer === undefined ? {} : { server: policy.trust.trustServer }),
      signers: [...signers.values()].map((ref) => toSigner(secrets, secretNamespace(ref.namespace, namespace), ref.name)),
      rootKeyIds: policy.trust.rootKeyIds,
    });
  }
  if (policy.sigstore !== undefined) requirements.push(toCosignRequirement(policy.sigstore, secrets, namespace));
  if (policy.simple !== undefined) requirements.push(toSimpleRequirement(policy.simple, secrets, namespace));
  if (policy.vulnerability?.iccrva.enabled === true) {
    requirements.push({
      kind: 'unsupported',
      reason: 'the policy requires an IBM Vulnerability Advisor (ICCRVA) scan, which is not supported',
    });
  }
  return requirements.length > 0 ? requirements : [{ kind: 'allow' }];
}

// Red Hat simple signing as the verifier's requirement: every rule must hold
// (containers/image semantics, as Portieris applies them). Each signedBy rule's keyring is
// the `key` of its Secret (in `keySecretNamespace`, else the workload's namespace); the
// store Secret gives `username` and `password` for the lookaside store. A rule the policy
// cannot mean (no rules, signedBy without a key Secret, a signedIdentity missing the fields
// its type needs, a store URL that is not http(s)) is POLICY_INVALID naming the field:
// refused, never allowed unchecked.
function toSimpleRequirement(simple: SimplePolicy, secrets: SecretLookup, namespace: string): Requirement {
  if (simple.requirements.length === 0) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, 'simple.requirements lists no requirements: expected at least one (containers/image refuses an empty list)');
  }
  const rules = simple.requirements.map((requirement, index): SimpleSigningRule => {
    const field = `simple.requirements[${index}]`;
    if (requirement.type !== 'signedBy') return { type: requirement.type, signedIdentity: requirement.signedIdentity };
    if (requirement.keySecret === undefined || requirement.keySecret === '') {
      throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field}.keySecret is required for a signedBy requirement`);
    }
    checkSignedIdentity(requirement.signedIdentity, `${field}.signedIdentity`);
    const keyNamespace = secretNamespace(requirement.keySecretNamespace, namespace);
    const secret = secrets.findSecret(keyNamespace, requirement.keySecret);
    if (secret === undefined) {
      throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `simple signing key secret "${requirement.keySecret}" (${field}.keySecret) not found in namespace "${keyNamespace}": expected a Secret with key "key"`);
    }
    const bytes = secret.data.get('key');
    if (bytes === undefined || bytes.length === 0) {
      throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `simple signing key secret "${requirement.keySecret}" in namespace "${keyNamespace}" has no "key" (${field}.keySecret): expected the armored public keyring`);
    }
    return {
      type: 'signedBy',
      keyring: { source: `"${keyNamespace}/${requirement.keySecret}" key "key" (${field}.keySecret)`, bytes },
      signedIdentity: requirement.signedIdentity,
    };
  });
  const storeCredentials = simple.storeSecret === undefined || simple.storeSecret === '' ? undefined : toStoreCredentials(secrets, secretNamespace(simple.storeSecretNamespace, namespace), simple.storeSecret);
  if (simple.storeURL !== undefined) checkStoreUrl(simple.storeURL, storeCredentials !== undefined, 'simple.storeURL');
  return {
    kind: 'simple',
    ...(simple.storeURL === undefined ? {} : { storeURL: simple.storeURL }),
    ...(storeCredentials === undefined || simple.storeURL === undefined ? {} : { storeCredentials }),
    rules,
  };
}

// The namespace a Secret reference names, or the workload's when it names none (an empty
// keySecretNamespace is none, as in Portieris).
function secretNamespace(named: string | undefined, workloadNamespace: string): string {
  return named === undefined || named === '' ? workloadNamespace : named;
}

// Basic-auth credentials for the lookaside store from a Secret's `username` and
// `password`, as Portieris reads them. Values are never quoted in errors.
function toStoreCredentials(secrets: SecretLookup, namespace: string, secretName: string): StoreCredentials {
  const secret = secrets.findSecret(namespace, secretName);
  if (secret === undefined) {
    throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `simple signing store secret "${secretName}" (simple.storeSecret) not found in namespace "${namespace}": expected a Secret with keys username and password`);
  }
  const what = 'simple signing store secret';
  return {
    username: readText(secret, 'username', namespace, what, 'username and password'),
    password: readText(secret, 'password', namespace, what, 'username and password'),
  };
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
// generate-key-pair k8s://` writes it), read from their `secretNamespace` or the workload's
// namespace like Notary signer Secrets. Each key is loaded now, so an unusable one (Ed25519,
// a weak RSA key) is refused with its reason before any registry is asked. Two Secrets
// holding the same key would let one signature count twice towards the threshold: refused.
function toCosignRequirement(sigstore: SigstorePolicy, secrets: SecretLookup, namespace: string): Requirement {
  const seen = new Set<string>();
  const authorities = sigstore.keySecrets.map((ref): CosignAuthority => {
    const secretName = ref.name;
    const keyNamespace = secretNamespace(ref.namespace, namespace);
    const secret = secrets.findSecret(keyNamespace, secretName);
    if (secret === undefined) {
      throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `cosign key secret "${secretName}" not found in namespace "${keyNamespace}": expected a Secret with key cosign.pub`);
    }
    const publicKeyPem = readText(secret, 'cosign.pub', keyNamespace, 'cosign key secret', 'cosign.pub');
    // Named with its namespace when the policy names one: one name in two namespaces is two keys.
    const name = ref.namespace === undefined || ref.namespace === '' ? `key/${secretName}` : `key/${ref.namespace}/${secretName}`;
    const { key } = loadCosignKey(publicKeyPem, `cosign key secret "${secretName}" in namespace "${keyNamespace}"`);
    // By its numbers, not its bytes: one key in two spellings is still one key.
    const identity = keyIdentity(key);
    if (seen.has(identity)) {
      throw new TrustgateError(ErrorCode.POLICY_INVALID, `cosign key secret "${secretName}" in namespace "${keyNamespace}" holds the same key as another authority: each authority must be a distinct key`);
    }
    seen.add(identity);
    return { name, publicKeyPem };
  });
  const keyless = sigstore.keyless.map((authority, index) => toKeylessAuthority(authority, index, secrets, namespace));
  return { kind: 'cosign', authorities: [...authorities, ...keyless], threshold: sigstore.threshold, tlog: sigstore.tlog };
}

// A keyless authority, named by its position among the policy's keyless ones, with the
// trusted root of its Secret (data key `trusted_root.json`, in its trustRootSecretNamespace or
// the workload's namespace) when it names one.
function toKeylessAuthority(authority: KeylessPolicy, index: number, secrets: SecretLookup, workloadNamespace: string): CosignAuthority {
  const name = `keyless/${index + 1}`;
  const secretName = authority.trustRootSecretName;
  if (secretName === undefined) return { name, identities: authority.identities };
  const namespace = secretNamespace(authority.trustRootSecretNamespace, workloadNamespace);
  const secret = secrets.findSecret(namespace, secretName);
  if (secret === undefined) {
    throw new TrustgateError(ErrorCode.POLICY_SECRET_MISSING, `trusted root secret "${secretName}" not found in namespace "${namespace}": expected a Secret with key trusted_root.json`);
  }
  const text = readText(secret, 'trusted_root.json', namespace, 'trusted root secret', 'trusted_root.json');
  return { name, identities: authority.identities, trustedRoot: decodeTrustedRoot(text, `trusted root secret "${secretName}" in namespace "${namespace}" (trustRootSecretName)`) };
}

// Decoded roots by their text: the same Secret is decoded once, and the same object is handed
// to the verifier every time (which checks its meaning once per object).
const ROOTS = createBoundedMemo<string, TrustedRootJson>(64);
const MAX_TRUSTED_ROOT_BYTES = 1024 * 1024;
const TRUSTED_ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.1)?\+json(;version=0\.1)?$/;

// The shape of a trusted_root.json (its keys and certificates are checked by the verifier);
// anything else is POLICY_INVALID naming `where`.
export function decodeTrustedRoot(text: string, where: string): TrustedRootJson {
  const known = ROOTS.get(text);
  if (known !== undefined) return known;
  if (text.length > MAX_TRUSTED_ROOT_BYTES) throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: larger than ${MAX_TRUSTED_ROOT_BYTES} bytes`);
  // The parser's message quotes the text around the error: a Secret's value, which must not
  // reach a denial (whoever wrote the policy may not read the Secret).
  let root: unknown;
  try {
    root = parseJsonBytes(Buffer.from(text, 'utf8'), ErrorCode.POLICY_INVALID, where);
  } catch (error) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: not valid JSON`, { cause: error });
  }
  const mediaType = isPlainObject(root) ? root['mediaType'] : undefined;
  if (!isPlainObject(root) || typeof mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(mediaType)) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: not a Sigstore trusted_root.json (mediaType application/vnd.dev.sigstore.trustedroot+json;version=0.1)`);
  }
  for (const list of ['tlogs', 'certificateAuthorities', 'ctlogs', 'timestampAuthorities']) {
    if (root[list] !== undefined && !Array.isArray(root[list])) throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: "${list}" is not an array`);
  }
  // A log key's validity must start somewhere: a missing start is a malformed root, not a
  // key valid since the beginning of time.
  for (const list of ['tlogs', 'ctlogs']) {
    const logs = root[list];
    (Array.isArray(logs) ? logs : []).forEach((log: unknown, index) => {
      const key = isPlainObject(log) ? log['publicKey'] : undefined;
      const validFor = isPlainObject(key) ? key['validFor'] : undefined;
      if (!isPlainObject(validFor) || typeof validFor['start'] !== 'string') {
        throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: ${list}[${index}].publicKey.validFor.start is required`);
      }
    });
  }
  ROOTS.set(text, root);
  return root;
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
