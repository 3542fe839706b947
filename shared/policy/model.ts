// Read-only domain types for Portieris-compatible policy documents, after decoding.
// Defaults are already applied: consumers never see an absent field that has a meaning.

// Notary v1 content trust for the matched images.
export interface TrustPolicy {
  readonly enabled: boolean;
  // Notary server URL; absent means the registry's default server.
  readonly trustServer?: string;
  // Names of Secrets (in the workload's namespace) each holding one required signer.
  readonly signerSecrets: readonly string[];
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
  readonly requirements: readonly SimpleRequirement[];
}

// IBM Container Registry Vulnerability Advisor.
export interface VulnerabilityPolicy {
  readonly iccrva: { readonly enabled: boolean; readonly account?: string };
}

// cosign (Sigstore) classic signatures made with keys. Keyless authorities and
// transparency-log requirements are refused when the policy is decoded (not supported yet).
export interface SigstorePolicy {
  // Names of Secrets (in the workload's namespace) each holding one key as `cosign.pub`.
  readonly keySecrets: readonly string[];
  // How many of them must each have signed the image (1..keySecrets.length).
  readonly threshold: number;
}

// How the configured signature kinds combine: every one must pass, or one passing admits.
export type VerificationMode = 'all' | 'any';

// What an image matching one repository pattern must satisfy.
export interface Policy {
  readonly mutateImage: boolean;
  readonly trust: TrustPolicy;
  readonly sigstore?: SigstorePolicy;
  // Absent when the document does not say: 'all'.
  readonly verification?: { readonly mode: VerificationMode };
  readonly simple?: SimplePolicy;
  readonly vulnerability?: VulnerabilityPolicy;
  // Set only on the stand-in for a policy object the cluster holds but that never decoded
  // (see shared/policy/cluster-policy-objects.ts): every image it governs is denied with
  // POLICY_INVALID and this reason. Never set by a policy document.
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
  readonly repositories: readonly RepositoryPolicy[];
}

export interface ClusterImagePolicy {
  readonly kind: 'ClusterImagePolicy';
  readonly name: string;
  // Annotated `trustgate.dev/enforce: "true"`: applies in every namespace, on top of ImagePolicies.
  readonly enforce: boolean;
  readonly repositories: readonly RepositoryPolicy[];
}

// A v1 Secret; values are raw bytes (`data` is base64-decoded, `stringData` UTF-8 encoded).
export interface PolicySecret {
  readonly name: string;
  readonly namespace: string;
  readonly data: ReadonlyMap<string, Uint8Array>;
}

export interface PolicySet {
  readonly imagePolicies: readonly ImagePolicy[];
  readonly clusterPolicies: readonly ClusterImagePolicy[];
  readonly secrets: readonly PolicySecret[];
}

// The annotation that makes a ClusterImagePolicy apply in namespaces that have ImagePolicies.
export const ENFORCE_ANNOTATION = 'trustgate.dev/enforce';

// The annotation that pins the Notary root keys of every repository a policy document
// requires trust for: comma-separated 64-hex key IDs; a threshold of the root's
// signatures must come from them, as with `verify --root-key-id`.
export const ROOT_KEY_IDS_ANNOTATION = 'trustgate.dev/root-key-ids';
