// From a decoded PolicySet back to Portieris documents, the form a policy snapshot carries
// (shared/policy/policy-snapshot.ts): the deployed functions decode it with the same decoder
// `policy lint` and serve use, so a snapshot is validated exactly like a file.
//
// Secrets: only those a policy names, and of each only the keys the role the policy gives it
// reads (a signer Secret `name` and `publicKey`, a Sigstore key Secret `cosign.pub`, a keyless
// trust root Secret `trusted_root.json`, a simple-signing key Secret `key`). A Secret in the
// set for another reason (a pull secret, a store's credentials, a token) and any other key
// never leave the proxy: a signer Secret that also holds a private `key` publishes only its
// `name` and `publicKey`.
//
// The stand-in for a cluster policy object that never decoded (Policy.invalid, see
// cluster-policy-objects.ts) is carried as the INVALID_ANNOTATION on its document, which the
// decoder turns back into the same stand-in: the functions deny what serve denies.
import { PolicyMode, ENFORCE_ANNOTATION, INVALID_ANNOTATION, MODE_ANNOTATION, ROOT_KEY_IDS_ANNOTATION } from './model.js';
import type { ClusterImagePolicy, ImagePolicy, Policy, PolicySecret, PolicySet, SimpleRequirement } from './model.js';
import { POLICY_API_VERSION } from './decode-image-policy.js';

export type JsonDocument = Readonly<Record<string, unknown>>;

// The Secret keys a verifier reads, by the role a policy gives the Secret; nothing else of a
// Secret is published. A simple-signing store's credentials (`storeSecret`) are not published:
// a function without them cannot read that store and denies.
export const SECRET_ROLE_KEYS = {
  signer: ['name', 'publicKey'],
  sigstoreKey: ['cosign.pub'],
  trustRoot: ['trusted_root.json'],
  simpleKey: ['key'],
} as const satisfies Record<string, readonly string[]>;
type SecretRole = keyof typeof SECRET_ROLE_KEYS;

// The set's documents in a canonical order (ClusterImagePolicies by name, ImagePolicies by
// namespace and name, Secrets by namespace and name), so equal sets encode to equal bytes.
export function encodePolicyDocuments(set: PolicySet): JsonDocument[] {
  const clusterPolicies = [...set.clusterPolicies].sort((a, b) => compare(a.name, b.name)).map(encodePolicyDocument);
  const imagePolicies = [...set.imagePolicies].sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`)).map(encodePolicyDocument);
  const secrets = publishedSecrets(set)
    .sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))
    .map(encodeSecret);
  return [...clusterPolicies, ...imagePolicies, ...secrets];
}

// The set as a snapshot carries it: the same policies, and only the published Secrets and keys.
export function toPublishedSet(set: PolicySet): PolicySet {
  return { imagePolicies: set.imagePolicies, clusterPolicies: set.clusterPolicies, secrets: publishedSecrets(set) };
}

// Secrets named by some policy, each with only the keys of the roles policies give it.
// ClusterImagePolicies read their Secrets from the workload's namespace, so a name they use is
// published from every namespace; an ImagePolicy's names only from its own namespace. A
// Secret whose reference names its namespace (a key's `secretNamespace`, a simple-signing
// `keySecretNamespace`, ...) is read, and published, from that namespace only.
function publishedSecrets(set: PolicySet): PolicySecret[] {
  const anywhere = new Map<string, Set<string>>();
  const inNamespace = new Map<string, Set<string>>();
  const grant = (into: Map<string, Set<string>>, key: string, role: SecretRole) => {
    const keys = into.get(key) ?? new Set<string>();
    for (const name of SECRET_ROLE_KEYS[role]) keys.add(name);
    into.set(key, keys);
  };
  for (const policy of [...set.clusterPolicies, ...set.imagePolicies]) {
    for (const use of secretUses(policy)) {
      if (use.namespace !== undefined) grant(inNamespace, `${use.namespace}/${use.name}`, use.role);
      else if (policy.kind === 'ClusterImagePolicy') grant(anywhere, use.name, use.role);
      else grant(inNamespace, `${policy.namespace}/${use.name}`, use.role);
    }
  }
  return set.secrets.flatMap((secret) => {
    const keys = new Set([...(anywhere.get(secret.name) ?? []), ...(inNamespace.get(`${secret.namespace}/${secret.name}`) ?? [])]);
    if (keys.size === 0) return [];
    // Nor is its `type` (every Secret from the API server has one, `Opaque` by default): no
    // verifier reads it, and a pull-secret type would make it a pull secret to the decoder.
    return [{ name: secret.name, namespace: secret.namespace, data: new Map([...secret.data].filter(([key]) => keys.has(key))) }];
  });
}

interface SecretUse {
  readonly name: string;
  readonly role: SecretRole;
  // Set only when the policy names the Secret's namespace itself.
  readonly namespace?: string;
}

function secretUses(policy: ImagePolicy | ClusterImagePolicy): SecretUse[] {
  return policy.repositories.flatMap(({ policy: entry }): SecretUse[] => [
    ...entry.trust.signerSecrets.map((ref) => toUse(ref.name, 'signer', ref.namespace)),
    ...(entry.sigstore?.keySecrets ?? []).map((ref) => toUse(ref.name, 'sigstoreKey', ref.namespace)),
    ...(entry.sigstore?.keyless ?? []).flatMap((keyless) => (keyless.trustRootSecretName === undefined ? [] : [toUse(keyless.trustRootSecretName, 'trustRoot', keyless.trustRootSecretNamespace)])),
    ...(entry.simple?.requirements ?? []).flatMap((requirement) =>
      requirement.keySecret === undefined || requirement.keySecret === '' ? [] : [toUse(requirement.keySecret, 'simpleKey', requirement.keySecretNamespace)],
    ),
  ]);
}

// An empty namespace (a simple-signing keySecretNamespace: "") names none, as in Portieris.
function toUse(name: string, role: SecretRole, namespace: string | undefined): SecretUse {
  return namespace === undefined || namespace === '' ? { name, role } : { name, role, namespace };
}

function encodePolicyDocument(policy: ImagePolicy | ClusterImagePolicy): JsonDocument {
  const annotations: Record<string, string> = {};
  if (policy.kind === 'ClusterImagePolicy' && policy.enforce) annotations[ENFORCE_ANNOTATION] = 'true';
  if (policy.mode !== undefined && policy.mode !== PolicyMode.enforce) annotations[MODE_ANNOTATION] = policy.mode;
  // Root key IDs are one annotation per document, copied onto each entry when decoded.
  const rootKeyIds = policy.repositories[0]?.policy.trust.rootKeyIds ?? [];
  if (rootKeyIds.length > 0) annotations[ROOT_KEY_IDS_ANNOTATION] = rootKeyIds.join(',');
  // A stand-in (one `*` entry) carries its reason; the decoder sets it on every entry.
  const invalid = policy.repositories[0]?.policy.invalid;
  if (invalid !== undefined) annotations[INVALID_ANNOTATION] = invalid;
  const metadata = {
    name: policy.name,
    ...(policy.kind === 'ImagePolicy' ? { namespace: policy.namespace } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return {
    apiVersion: POLICY_API_VERSION,
    kind: policy.kind,
    metadata,
    spec: { repositories: policy.repositories.map((repository) => ({ name: repository.name, policy: encodePolicy(repository.policy) })) },
  };
}

function encodePolicy(policy: Policy): JsonDocument {
  const { trust, sigstore, verification, simple, vulnerability } = policy;
  return {
    mutateImage: policy.mutateImage,
    trust: {
      enabled: trust.enabled,
      ...(trust.trustServer === undefined ? {} : { trustServer: trust.trustServer }),
      signerSecrets: trust.signerSecrets.map((ref) => ({ ...ref })),
    },
    ...(sigstore === undefined
      ? {}
      : {
          sigstore: {
            authorities: [
              ...sigstore.keySecrets.map((ref) => ({ key: { secretName: ref.name, ...(ref.namespace === undefined ? {} : { secretNamespace: ref.namespace }) } })),
              ...sigstore.keyless.map((keyless) => ({
                keyless: {
                  identities: keyless.identities.map((identity) => ({ ...identity })),
                  ...(keyless.trustRootSecretName === undefined ? {} : { trustRootSecretName: keyless.trustRootSecretName }),
                  ...(keyless.trustRootSecretNamespace === undefined ? {} : { trustRootSecretNamespace: keyless.trustRootSecretNamespace }),
                },
              })),
            ],
            threshold: sigstore.threshold,
            tlog: sigstore.tlog,
          },
        }),
    ...(verification === undefined ? {} : { verification: { mode: verification.mode } }),
    ...(simple === undefined
      ? {}
      : {
          simple: {
            ...(simple.storeURL === undefined ? {} : { storeURL: simple.storeURL }),
            ...(simple.storeSecret === undefined ? {} : { storeSecret: simple.storeSecret }),
            ...(simple.storeSecretNamespace === undefined ? {} : { storeSecretNamespace: simple.storeSecretNamespace }),
            requirements: simple.requirements.map(encodeSimpleRequirement),
          },
        }),
    ...(vulnerability === undefined
      ? {}
      : { vulnerability: { ICCRVA: { enabled: vulnerability.iccrva.enabled, ...(vulnerability.iccrva.account === undefined ? {} : { account: vulnerability.iccrva.account }) } } }),
  };
}

function encodeSimpleRequirement(requirement: SimpleRequirement): JsonDocument {
  const { type, ...identity } = requirement.signedIdentity;
  return {
    type: requirement.type,
    ...(requirement.keySecret === undefined ? {} : { keySecret: requirement.keySecret }),
    ...(requirement.keySecretNamespace === undefined ? {} : { keySecretNamespace: requirement.keySecretNamespace }),
    signedIdentity: { type: type === 'matchRepoDigestOrExact' ? '' : type, ...identity },
  };
}

function encodeSecret(secret: PolicySecret): JsonDocument {
  const data: Record<string, string> = {};
  for (const [key, value] of [...secret.data].sort(([a], [b]) => compare(a, b))) data[key] = Buffer.from(value).toString('base64');
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret.name, namespace: secret.namespace }, data };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
