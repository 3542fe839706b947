// Read-only domain types for Portieris-compatible policy documents, after decoding.
// Defaults are already applied: consumers never see an absent field that has a meaning.

// A Secret a policy names. `namespace` absent: the workload's namespace (Portieris' rule),
// which an enforced ClusterImagePolicy never uses (the decoder requires the namespace there).
export interface SecretRef {
  readonly name: string;
  readonly namespace?: string;
}

// Notary v1 content trust for the matched images.
export interface TrustPolicy {
  readonly enabled: boolean;
  // Notary server URL; absent means the registry's default server.
  readonly trustServer?: string;
  // Secrets each holding one required signer.
  readonly signerSecrets: readonly SecretRef[];
  // Root key IDs the repositories' Notary roots must hold (annotation
  // `trustgate.dev/root-key-ids` of the policy document); empty means trust on first use.
  readonly rootKeyIds: readonly string[];
}

export const SimpleRequirementType = {
  signedBy: 'signedBy',
  reject: 'reject',
  insecureAcceptAnything: 'insecureAcceptAnything',
} as const;
export type SimpleRequirementType = (typeof SimpleRequirementType)[keyof typeof SimpleRequirementType];

// containers/image identity rules; `matchRepoDigestOrExact` is what an empty or absent type means.
export type SignedIdentityType =
  | 'matchRepoDigestOrExact'
  | 'matchExact'
  | 'matchRepository'
  | 'matchExactReference'
  | 'matchExactRepository'
  | 'remapIdentity';

export interface SignedIdentity {
  readonly type: SignedIdentityType;
  readonly dockerReference?: string;
  readonly dockerRepository?: string;
  readonly prefix?: string;
  readonly signedPrefix?: string;
}

export interface SimpleRequirement {
  readonly type: SimpleRequirementType;
  readonly keySecret?: string;
  readonly keySecretNamespace?: string;
  readonly signedIdentity: SignedIdentity;
}

// Red Hat simple signing (lookaside signatures).
export interface SimplePolicy {
  readonly storeURL?: string;
  readonly storeSecret?: string;
  // Where storeSecret is read; absent: the workload's namespace.
  readonly storeSecretNamespace?: string;
  readonly requirements: readonly SimpleRequirement[];
}

// IBM Container Registry Vulnerability Advisor.
export interface VulnerabilityPolicy {
  readonly iccrva: { readonly enabled: boolean; readonly account?: string };
}

// cosign (Sigstore) signatures, classic or v3 bundles, by key or keyless authorities.
export interface SigstorePolicy {
  // Secrets each holding one key as `cosign.pub`.
  readonly keySecrets: readonly SecretRef[];
  // Keyless authorities: each one set of Fulcio certificate identities.
  readonly keyless: readonly KeylessPolicy[];
  // How many authorities (keys and keyless) must each have signed the image.
  readonly threshold: number;
  // Transparency-log proof: auto (keyless: required; keys: not looked at), required, or off.
  readonly tlog: 'auto' | 'required' | 'off';
}

export interface KeylessPolicy {
  readonly identities: readonly KeylessIdentity[];
  // A Secret (data key trusted_root.json) holding a private deployment's trusted root.
  readonly trustRootSecretName?: string;
  // Where trustRootSecretName is read; absent: the workload's namespace.
  readonly trustRootSecretNamespace?: string;
}

// One OIDC issuer and certificate subject, each exact or an anchored regular expression.
export interface KeylessIdentity {
  readonly issuer?: string;
  readonly issuerRegExp?: string;
  readonly subject?: string;
  readonly subjectRegExp?: string;
}

// How the configured signature kinds combine: every one must pass, or one passing admits.
export type VerificationMode = 'all' | 'any';

// What a policy's failures do at admission (annotation `trustgate.dev/mode`): 'enforce'
// denies; 'warn' admits and returns the reasons as AdmissionReview warnings; 'audit' admits
// silently. Both of the latter log and count the would-be denial.
export const PolicyMode = { enforce: 'enforce', warn: 'warn', audit: 'audit' } as const;
export type PolicyMode = (typeof PolicyMode)[keyof typeof PolicyMode];

// What an image matching one repository pattern must satisfy.
export interface Policy {
  // The mode of the document this entry belongs to; absent means 'enforce'.
  readonly mode?: PolicyMode;
  readonly mutateImage: boolean;
  readonly trust: TrustPolicy;
  readonly sigstore?: SigstorePolicy;
  // Absent when the document does not say: 'all'.
  readonly verification?: { readonly mode: VerificationMode };
  readonly simple?: SimplePolicy;
  readonly vulnerability?: VulnerabilityPolicy;
  // Set only on the stand-in for a policy object the cluster holds but that never decoded
  // (see shared/policy/cluster-policy-objects.ts): every image it governs is denied with
  // POLICY_INVALID and this reason. A document carries it as INVALID_ANNOTATION (how a policy
  // snapshot publishes a stand-in).
  readonly invalid?: string;
}

export interface RepositoryPolicy {
  // The pattern exactly as written in the document.
  readonly name: string;
  readonly policy: Policy;
}

export interface ImagePolicy {
  readonly kind: 'ImagePolicy';
  readonly name: string;
  readonly namespace: string;
  // Absent means 'enforce'.
  readonly mode?: PolicyMode;
  readonly repositories: readonly RepositoryPolicy[];
}

export interface ClusterImagePolicy {
  readonly kind: 'ClusterImagePolicy';
  readonly name: string;
  // Annotated `trustgate.dev/enforce: "true"`: applies in every namespace, on top of ImagePolicies.
  readonly enforce: boolean;
  // Absent means 'enforce'.
  readonly mode?: PolicyMode;
  readonly repositories: readonly RepositoryPolicy[];
}

// A v1 Secret; values are raw bytes (`data` is base64-decoded, `stringData` UTF-8 encoded).
export interface PolicySecret {
  readonly name: string;
  readonly namespace: string;
  // The Secret's `type` (`kubernetes.io/dockerconfigjson` for a pull secret), when given.
  readonly type?: string;
  readonly data: ReadonlyMap<string, Uint8Array>;
}

// A v1 ServiceAccount, for the pull secrets it lends the pods that run as it.
export interface PolicyServiceAccount {
  readonly name: string;
  readonly namespace: string;
  readonly imagePullSecrets: readonly string[];
}

export interface PolicySet {
  readonly imagePolicies: readonly ImagePolicy[];
  readonly clusterPolicies: readonly ClusterImagePolicy[];
  readonly secrets: readonly PolicySecret[];
  // Absent or empty when the policy files hold no ServiceAccount.
  readonly serviceAccounts?: readonly PolicyServiceAccount[];
  // Secrets a policy names that could not be held (serve --policies-from-cluster keeps Secrets
  // within bounds): a policy needing one denies with POLICY_SECRET_OVER_LIMIT.
  readonly unheldSecrets?: readonly SecretScope[];
  // Set when `unheldSecrets` is not all of them (a policy snapshot carries a bounded number):
  // a Secret not found may then be one left out, so it denies with POLICY_SECRET_OVER_LIMIT.
  readonly unheldSecretsIncomplete?: boolean;
}

// A Secret name in one namespace, or in every namespace when `namespace` is absent.
export interface SecretScope {
  readonly namespace?: string;
  readonly name: string;
  // Who named it, when not a policy of `namespace` itself (a Secret reference with an explicit
  // namespace): the ImagePolicy's namespace (`by`), or a ClusterImagePolicy.
  readonly by?: string;
  readonly byCluster?: boolean;
}

// The annotation that makes a ClusterImagePolicy apply in namespaces that have ImagePolicies.
export const ENFORCE_ANNOTATION = 'trustgate.dev/enforce';

// The annotation that sets a policy document's mode: enforce (default), warn or audit.
export const MODE_ANNOTATION = 'trustgate.dev/mode';

// The annotation that pins the Notary root keys of every repository a policy document
// requires trust for: comma-separated 64-hex key IDs; a threshold of the root's
// signatures must come from them, as with `verify --root-key-id`.
export const ROOT_KEY_IDS_ANNOTATION = 'trustgate.dev/root-key-ids';

// The annotation that makes a policy document a stand-in that denies every image its entries
// match (POLICY_INVALID with this reason): how a policy snapshot carries the stand-in for a
// cluster policy object that never decoded. Safe whoever writes it: it only adds denials to
// the scope the document already governs.
export const INVALID_ANNOTATION = 'trustgate.dev/invalid';
