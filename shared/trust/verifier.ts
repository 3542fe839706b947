// The one interface every signature kind implements (Notary v1 today; cosign slots in
// beside it). A verifier is handed a normalised image, the requirement it must enforce
// and the reference time; it answers with the digest trusted signers signed, or throws a
// TrustgateError whose code says why not.
import type { ImageReference } from '../image/reference.js';
import type { SignedIdentity } from '../policy/model.js';
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
export interface CosignKeyAuthority {
  readonly name: string;
  readonly publicKeyPem: string;
}

// One OIDC identity a keyless (Fulcio) certificate may name: the issuer and the subject (the
// certificate's SAN), each exact or a regular expression that must match the whole value.
export interface CertificateIdentity {
  readonly issuer?: string;
  readonly issuerRegExp?: string;
  readonly subject?: string;
  readonly subjectRegExp?: string;
}

// A keyless authority: a Fulcio certificate chained to the trusted root, logged in Rekor,
// naming one of `identities`. `trustedRoot` is a private deployment's root (from a Secret);
// absent, the verifier's own source (Sigstore's public-good root) is used.
export interface CosignKeylessAuthority {
  readonly name: string;
  readonly identities: readonly CertificateIdentity[];
  readonly trustedRoot?: Readonly<Record<string, unknown>>;
}

export type CosignAuthority = CosignKeyAuthority | CosignKeylessAuthority;

// Transparency-log (Rekor) proof: auto (keyless: required, key: not looked at), required, or
// off (keys only: keyless signatures are never accepted without it).
export type TlogMode = 'auto' | 'required' | 'off';

// cosign (Sigstore) signatures, classic or v3 bundles: at least `threshold` of the
// authorities must each have signed the image's digest.
export interface CosignRequirement {
  readonly kind: 'cosign';
  readonly authorities: readonly CosignAuthority[];
  readonly threshold: number;
  // Absent: 'auto'.
  readonly tlog?: TlogMode;
}

export function isKeyAuthority(authority: CosignAuthority): authority is CosignKeyAuthority {
  return 'publicKeyPem' in authority;
}

// One rule of a Red Hat simple signing policy (containers/image semantics): `signedBy`
// holds when one signature verifies with a key of `keyring` and vouches for the image's
// digest under `signedIdentity`; `reject` never holds; `insecureAcceptAnything` always does.
export interface SimpleSigningRule {
  readonly type: 'signedBy' | 'reject' | 'insecureAcceptAnything';
  // signedBy only: OpenPGP public keys (armored or binary) and the Secret field they came
  // from, named when the keyring cannot be used.
  readonly keyring?: { readonly source: string; readonly bytes: Uint8Array };
  readonly signedIdentity: SignedIdentity;
}

// Basic-auth credentials for a lookaside signature store (a Secret's `username` and
// `password`). Never logged, never in an error message.
export interface StoreCredentials {
  readonly username: string;
  readonly password: string;
}

// Red Hat simple signing: every rule must hold. Signatures are read from the lookaside
// store at `storeURL` (when set) and from the registry's signature extension (when the
// registry announces it).
export interface SimpleSigningRequirement {
  readonly kind: 'simple';
  readonly storeURL?: string;
  readonly storeCredentials?: StoreCredentials;
  readonly rules: readonly SimpleSigningRule[];
}

export type TrustRequirement = NotaryRequirement | CosignRequirement | SimpleSigningRequirement;

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
  // The answer `verify` would give at `now` with the same `credentials` when this process
  // already holds it and may still give it under the freshness rules, without any I/O or
  // waiting; undefined when `verify` has to run. Never a denial. Absent on verifiers that
  // keep nothing in memory. A verifier whose answer from memory could differ with the
  // workload's credentials answers nothing for a request that has some.
  known?(image: ImageReference, requirement: R, now: Date, credentials?: RegistryCredentials): VerifiedImage | undefined;
}
