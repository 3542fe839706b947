// The one interface every signature kind implements (Notary v1 today; cosign slots in
// beside it). A verifier is handed a normalised image, the requirement it must enforce
// and the reference time; it answers with the digest trusted signers signed, or throws a
// TrustgateError whose code says why not.
import type { ImageReference } from '../image/reference.js';
import type { RegistryCredentials } from '../registry/credential-keyring.js';

export interface SignerRequirement {
  // Delegation name: 'alice' stands for role 'targets/alice'.
  readonly name: string;
  readonly publicKeyPem: string;
}

export interface NotaryRequirement {
  readonly kind: 'notary';
  // Trust server base URL; undefined = the registry's well-known default, if any.
  readonly server?: string;
  // True when `server` was named by an API caller (the explicit form of a served or
  // deployed verify-image) rather than by the operator's policies, flags or defaults: the
  // operator's trust-server credentials are then never used for it.
  readonly serverFromCaller?: boolean;
  readonly signers: readonly SignerRequirement[];
  // Root key IDs to pin instead of trusting the first-seen root.
  readonly rootKeyIds: readonly string[];
}

// One key a cosign signature may be made with; `name` says where it came from (a Secret, a
// file) in answers and logs.
export interface CosignAuthority {
  readonly name: string;
  readonly publicKeyPem: string;
}

// cosign (Sigstore) classic signatures made with keys: at least `threshold` of the
// authorities must each have signed the image's digest.
export interface CosignRequirement {
  readonly kind: 'cosign';
  readonly authorities: readonly CosignAuthority[];
  readonly threshold: number;
}

export type TrustRequirement = NotaryRequirement | CosignRequirement;

export interface VerifiedImage {
  // 'sha256:<hex>' that the signers signed.
  readonly digest: string;
  // Roles (or identities) that signed it.
  readonly signers: readonly string[];
  // True when the answer came from cached trust data because the trust server was
  // unavailable (within the configured max-stale window).
  readonly stale?: boolean;
}

export interface ImageVerifier<R extends TrustRequirement = TrustRequirement> {
  readonly kind: R['kind'];
  // `signal` is the caller's time budget: once it aborts, network work done only for this
  // caller stops. `credentials` are the workload's registry credentials (its pull secrets),
  // for this request only: used for the registry's and the trust server's token services,
  // never stored, logged or reused for another request's credentials.
  verify(image: ImageReference, requirement: R, now: Date, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifiedImage>;
}
