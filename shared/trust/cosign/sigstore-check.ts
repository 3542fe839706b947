// The cryptography of a cosign signature, done by sigstore-js: one Sigstore bundle (a v0.3
// bundle from the registry, or a classic signature layer wrapped as a v0.1 bundle) against
// one authority. Loaded lazily (dynamic import) by the cosign verifier, so a process that
// never meets a cosign policy never loads @sigstore/*.
// What is checked, in sigstore-js's order: the transparency-log entries' signed timestamps
// (SET) or inclusion proofs against the trusted root's Rekor keys (Rekor v2 entries, with
// their RFC 3161 timestamps, first through rekor-v2.ts for what sigstore-js 3 lacks); the signing key (an
// authority's own key, or a Fulcio certificate chaining to the root's CAs and valid at the
// logged time, with an SCT from the root's CT logs); the signature over the artifact; then,
// here, the certificate's OIDC issuer and subject against the authority's identities.
// Security: the identity is read from the certificate only after its chain, SCT and log entry
// have been verified, so a self-made certificate naming a trusted identity counts for nothing.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError, type TrustMaterial } from '@sigstore/verify';
import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError } from '../../errors.js';
import type { TrustedRootJson } from '../sigstore/trusted-root-source.js';
import { keyIdentity } from '../key-identity.js';
import { isKeyAuthority, type CosignAuthority, type TlogMode } from '../verifier.js';
import { usesTransparencyLog } from './classic-bundle.js';
import { matchesIdentity } from './identity.js';
import { prepareRekorV2 } from './rekor-v2.js';

// Keys by PEM text: policies name the same few keys on every admission.
const KEYS = createBoundedMemo<string, KeyObject>(256);

function keyOf(pem: string): KeyObject {
  let key = KEYS.get(pem);
  if (key === undefined) {
    key = createPublicKey(pem);
    KEYS.set(pem, key);
  }
  return key;
}

// Trust material per trusted root object: a root is decoded and checked once.
const MATERIALS = new WeakMap<object, TrustMaterial>();

// Decodes a trusted_root.json into sigstore-js trust material, or throws POLICY_INVALID
// naming `where` (the Secret, the file) when it is not a usable root.
export function trustMaterialFor(root: TrustedRootJson, where: string): TrustMaterial {
  const known = MATERIALS.get(root);
  if (known !== undefined) return known;
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(TrustedRoot.fromJSON(root));
  } catch (error) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: not a usable Sigstore trusted root (${errorText(error)})`, { cause: error });
  }
  if (material.certificateAuthorities.length === 0 && material.tlogs.length === 0) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${where}: the trusted root names no certificate authority and no transparency log`);
  }
  MATERIALS.set(root, material);
  return material;
}

export interface BundleCheck {
  // The serialized bundle (v0.1 for a wrapped classic layer, v0.3 from a referrer).
  readonly bundle: unknown;
  // The signed bytes of a message-signature bundle; absent for DSSE.
  readonly artifact?: Uint8Array;
  readonly authority: CosignAuthority;
  readonly trustedRoot: TrustedRootJson;
  readonly rootName: string;
  readonly tlog: TlogMode;
}

export interface BundleSigner {
  // SHA-256 (hex) of the identity (key-identity.ts: its numbers, not its DER spelling) of the
  // key the signature verified with: the authority's own key, or the key the certificate
  // certifies (signer-matching.ts counts signers by it).
  readonly keyId: string;
  // The certificate's identity, for keyless authorities.
  readonly issuer?: string;
  readonly subject?: string;
}

// A verified signer's key by its numbers, so one key in two DER spellings is one signer.
function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(keyIdentity(key)).digest('hex');
}

// Verifies one bundle for one authority; throws a TrustgateError with the reason it does not
// count (never anything else: malformed input is a reason, not a crash).
export function checkBundle(check: BundleCheck): BundleSigner {
  const keyed = isKeyAuthority(check.authority);
  const useLog = usesTransparencyLog(keyed, check.tlog);
  const material = trustMaterialFor(check.trustedRoot, check.rootName);
  let bundle;
  try {
    bundle = bundleFromJSON(useLog ? check.bundle : withoutLogEntries(check.bundle));
  } catch (error) {
    throw new TrustgateError(ErrorCode.COSIGN_BUNDLE_INVALID, `not a valid Sigstore bundle (${errorText(error)})`, { cause: error });
  }
  const authority = check.authority;
  let trust: TrustMaterial = material;
  if (isKeyAuthority(authority)) {
    if (bundle.verificationMaterial.content.$case !== 'publicKey') {
      throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_INVALID, `made with a certificate, not with key ${authority.name}`);
    }
    const key = keyOf(authority.publicKeyPem);
    trust = { ...material, publicKey: () => ({ publicKey: key, validFor: () => true }) };
  } else if (bundle.verificationMaterial.content.$case === 'publicKey') {
    throw new TrustgateError(ErrorCode.COSIGN_CERTIFICATE_INVALID, 'made with a key, not with a Fulcio certificate');
  }
  const options = {
    tlogThreshold: useLog ? 1 : 0,
    timestampThreshold: useLog ? 1 : 0,
    // A private deployment without certificate transparency names no CT log in its root;
    // where the root names one, an SCT from it is required.
    ctlogThreshold: keyed || material.ctlogs.length === 0 ? 0 : 1,
  };
  let signer;
  try {
    const raw = toSignedEntity(bundle, check.artifact === undefined ? undefined : Buffer.from(check.artifact));
    const { entity, trust: narrowed } = prepareRekorV2(bundle, raw, trust);
    signer = new Verifier(narrowed, options).verify(entity);
  } catch (error) {
    throw fromVerificationError(error);
  }
  const keyId = keyIdOf(signer.key);
  if (isKeyAuthority(authority)) return { keyId };
  const subject = signer.identity?.subjectAlternativeName;
  const issuer = signer.identity?.extensions?.issuer;
  if (subject === undefined || issuer === undefined || !authority.identities.some((identity) => matchesIdentity(identity, issuer, subject))) {
    throw new TrustgateError(
      ErrorCode.COSIGN_IDENTITY_MISMATCH,
      `certificate identity ${JSON.stringify(subject ?? '')} from issuer ${JSON.stringify(issuer ?? '')} is not one of ${authority.name}'s identities`,
    );
  }
  return { keyId, issuer, subject };
}

// A bundle as its signature alone: where the policy looks at no transparency log, entries the
// registry added (for a log this root may not know) must not fail an otherwise valid key.
function withoutLogEntries(bundle: unknown): unknown {
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle)) return bundle;
  const material = (bundle as Record<string, unknown>)['verificationMaterial'];
  if (typeof material !== 'object' || material === null || Array.isArray(material)) return bundle;
  const rest: Record<string, unknown> = { ...(material as Record<string, unknown>), tlogEntries: [] };
  delete rest['timestampVerificationData'];
  return { ...bundle, verificationMaterial: rest };
}

const CODES: Readonly<Record<string, ErrorCode>> = {
  TLOG_ERROR: ErrorCode.COSIGN_TLOG_INVALID,
  TIMESTAMP_ERROR: ErrorCode.COSIGN_TLOG_INVALID,
  TLOG_INCLUSION_PROOF_ERROR: ErrorCode.COSIGN_TLOG_INVALID,
  TLOG_INCLUSION_PROMISE_ERROR: ErrorCode.COSIGN_TLOG_INVALID,
  TLOG_BODY_ERROR: ErrorCode.COSIGN_TLOG_INVALID,
  CERTIFICATE_ERROR: ErrorCode.COSIGN_CERTIFICATE_INVALID,
  SIGNATURE_ERROR: ErrorCode.COSIGN_SIGNATURE_INVALID,
  PUBLIC_KEY_ERROR: ErrorCode.COSIGN_SIGNATURE_INVALID,
};

function fromVerificationError(error: unknown): TrustgateError {
  if (error instanceof TrustgateError) return error;
  const code = error instanceof VerificationError ? (CODES[error.code] ?? ErrorCode.COSIGN_SIGNATURE_INVALID) : ErrorCode.COSIGN_BUNDLE_INVALID;
  return new TrustgateError(code, errorText(error), { cause: error });
}

// A library error's message with its causes, bounded (the text may quote registry input).
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 3; current = current.cause, depth += 1) parts.push(current.message);
  const text = parts.length === 0 ? String(error) : parts.join(': ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
