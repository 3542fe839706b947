// One error base for the whole product. The code is the public, stable contract
// (tests and callers branch on it); the message is one human line naming the image.

export const ErrorCode = {
  IMAGE_REF_INVALID: 'IMAGE_REF_INVALID',
  REQUEST_INVALID: 'REQUEST_INVALID',
  UNAUTHORIZED: 'UNAUTHORIZED',
  ADMISSION_TIMEOUT: 'ADMISSION_TIMEOUT',
  IMAGE_NOT_PINNED: 'IMAGE_NOT_PINNED',
  CONFIG_INVALID: 'CONFIG_INVALID',
  TRUST_SERVER_UNKNOWN: 'TRUST_SERVER_UNKNOWN',
  TRUST_SERVER_UNAVAILABLE: 'TRUST_SERVER_UNAVAILABLE',
  // A trust server's token realm that may not receive the configured credentials (or is
  // plain http off loopback): nothing was sent to it.
  TRUST_AUTH_REALM_REFUSED: 'TRUST_AUTH_REALM_REFUSED',
  TRUST_METADATA_INVALID: 'TRUST_METADATA_INVALID',
  TRUST_METADATA_MISSING: 'TRUST_METADATA_MISSING',
  TRUST_METADATA_TOO_LARGE: 'TRUST_METADATA_TOO_LARGE',
  TRUST_SIGNATURE_INVALID: 'TRUST_SIGNATURE_INVALID',
  TRUST_THRESHOLD_NOT_MET: 'TRUST_THRESHOLD_NOT_MET',
  TRUST_METADATA_EXPIRED: 'TRUST_METADATA_EXPIRED',
  TRUST_ROLLBACK: 'TRUST_ROLLBACK',
  TRUST_HASH_MISMATCH: 'TRUST_HASH_MISMATCH',
  TRUST_ROOT_ROTATION_INVALID: 'TRUST_ROOT_ROTATION_INVALID',
  TRUST_ROOT_CERT_INVALID: 'TRUST_ROOT_CERT_INVALID',
  TRUST_ROOT_KEY_MISMATCH: 'TRUST_ROOT_KEY_MISMATCH',
  TRUST_DELEGATION_INVALID: 'TRUST_DELEGATION_INVALID',
  TRUST_NO_SIGNED_TARGET: 'TRUST_NO_SIGNED_TARGET',
  TRUST_DIGEST_MISMATCH: 'TRUST_DIGEST_MISMATCH',
  TRUST_SIGNER_MISSING: 'TRUST_SIGNER_MISSING',
  STATE_STORE_FAILED: 'STATE_STORE_FAILED',
  // Container registry (cosign signature discovery).
  REGISTRY_UNAVAILABLE: 'REGISTRY_UNAVAILABLE',
  REGISTRY_RESPONSE_INVALID: 'REGISTRY_RESPONSE_INVALID',
  REGISTRY_RESPONSE_TOO_LARGE: 'REGISTRY_RESPONSE_TOO_LARGE',
  REGISTRY_DIGEST_MISMATCH: 'REGISTRY_DIGEST_MISMATCH',
  // The registry's token service (or a trust server's) refused every pull-secret credential
  // that matched the image's registry.
  REGISTRY_CREDENTIALS_REJECTED: 'REGISTRY_CREDENTIALS_REJECTED',
  // The workload's pull secrets could not be read (the Kubernetes API did not answer).
  PULL_SECRETS_UNAVAILABLE: 'PULL_SECRETS_UNAVAILABLE',
  IMAGE_NOT_FOUND: 'IMAGE_NOT_FOUND',
  // A registry refused or failed a request writing (or reading for a write) a signature.
  REGISTRY_PUSH_FAILED: 'REGISTRY_PUSH_FAILED',
  // cosign (Sigstore) signatures.
  COSIGN_SIGNATURE_MISSING: 'COSIGN_SIGNATURE_MISSING',
  COSIGN_SIGNATURE_INVALID: 'COSIGN_SIGNATURE_INVALID',
  COSIGN_PAYLOAD_INVALID: 'COSIGN_PAYLOAD_INVALID',
  COSIGN_DIGEST_MISMATCH: 'COSIGN_DIGEST_MISMATCH',
  COSIGN_KEY_UNSUPPORTED: 'COSIGN_KEY_UNSUPPORTED',
  COSIGN_THRESHOLD_NOT_MET: 'COSIGN_THRESHOLD_NOT_MET',
  // Sigstore's trusted root: a trusted_root.json (from the TUF mirror or the store) that is
  // not one a verifier could use.
  SIGSTORE_ROOT_INVALID: 'SIGSTORE_ROOT_INVALID',
  COSIGN_BUNDLE_INVALID: 'COSIGN_BUNDLE_INVALID',
  COSIGN_CERTIFICATE_INVALID: 'COSIGN_CERTIFICATE_INVALID',
  COSIGN_TLOG_INVALID: 'COSIGN_TLOG_INVALID',
  COSIGN_IDENTITY_MISMATCH: 'COSIGN_IDENTITY_MISMATCH',
  // Red Hat simple signing (GPG signatures in a lookaside store or the registry's
  // signature extension).
  SIMPLE_SIGNATURE_MISSING: 'SIMPLE_SIGNATURE_MISSING',
  SIMPLE_SIGNATURE_INVALID: 'SIMPLE_SIGNATURE_INVALID',
  SIMPLE_PAYLOAD_INVALID: 'SIMPLE_PAYLOAD_INVALID',
  SIMPLE_IDENTITY_MISMATCH: 'SIMPLE_IDENTITY_MISMATCH',
  SIMPLE_DIGEST_MISMATCH: 'SIMPLE_DIGEST_MISMATCH',
  SIMPLE_REJECTED: 'SIMPLE_REJECTED',
  SIMPLE_STORE_UNAVAILABLE: 'SIMPLE_STORE_UNAVAILABLE',
  POLICY_INVALID: 'POLICY_INVALID',
  POLICY_NO_MATCH: 'POLICY_NO_MATCH',
  POLICY_UNSUPPORTED: 'POLICY_UNSUPPORTED',
  POLICY_SECRET_MISSING: 'POLICY_SECRET_MISSING',
  // Policy snapshots in the store (shared/policy/policy-snapshot.ts).
  POLICY_SNAPSHOT_MISSING: 'POLICY_SNAPSHOT_MISSING',
  POLICY_SNAPSHOT_INVALID: 'POLICY_SNAPSHOT_INVALID',
  POLICY_SNAPSHOT_ROLLBACK: 'POLICY_SNAPSHOT_ROLLBACK',
  POLICY_SNAPSHOT_CONFLICT: 'POLICY_SNAPSHOT_CONFLICT',
  POLICY_SOURCE_UNAVAILABLE: 'POLICY_SOURCE_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
  // A Secret a policy needs was left out of what serve holds (its bounds were reached).
  POLICY_SECRET_OVER_LIMIT: 'POLICY_SECRET_OVER_LIMIT',
  // The process is stopping: work a request asked for was left undone (its sender retries).
  SERVICE_STOPPING: 'SERVICE_STOPPING',
  // `migrate sign`: a policy that trusts the carry-over key for the image would admit it
  // through the signature without the Notary trust it asks for: not signed.
  CARRY_OVER_WIDENS_TRUST: 'CARRY_OVER_WIDENS_TRUST',
  // `migrate sign`: no policy trusts the carry-over key for the image: not signed.
  CARRY_OVER_KEY_UNTRUSTED: 'CARRY_OVER_KEY_UNTRUSTED',
  // A sign-callback request asked for more re-checks than one request may run: the rest was
  // left undone (its sender retries; a changefeed poll reads the rest next time).
  RECHECK_BUDGET_SPENT: 'RECHECK_BUDGET_SPENT',
  // A simple signing lookaside store redirected where it may not be followed (from https to
  // plain http, to another scheme, to a loopback, link-local or unspecified address or
  // localhost from a store that is none, without a usable Location, or too many times):
  // nothing was requested there.
  SIMPLE_STORE_REDIRECT_REFUSED: 'SIMPLE_STORE_REDIRECT_REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

// A field path and what is wrong with it, for decoders that report every problem at once.
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
  // Set when the field is valid but asks for something not built (POLICY_UNSUPPORTED).
  readonly code?: ErrorCode;
}

export class TrustgateError extends Error {
  // A literal name survives bundling and minification.
  override readonly name = 'TrustgateError';
  readonly code: ErrorCode;
  readonly problems: readonly FieldProblem[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; problems?: readonly FieldProblem[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.problems = options.problems ?? [];
  }
}

export function isTrustgateError(value: unknown): value is TrustgateError {
  return value instanceof TrustgateError;
}

// Any thrown value as a TrustgateError: ours pass through, anything else is a bug (INTERNAL).
export function toTrustgateError(value: unknown): TrustgateError {
  if (value instanceof TrustgateError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new TrustgateError(ErrorCode.INTERNAL, `internal error: ${message}`, { cause: value });
}
