// The carry-over: for an image whose Notary v1 verification passes under its policy right
// now, a cosign signature made with the team's own key for exactly the digest Notary's
// trusted signers signed, annotated with those signers and the time of the verification.
// Security: nothing is signed unless every Notary check the image's policies ask for passed
// in this run (asking the trust server, not a cache), and the digest signed is the one that
// verification answered: the registry's tag is never consulted for it, so a tag moved in
// the registry (or a registry lying about it) cannot get another image signed. The
// registry is asked only to confirm it holds that exact manifest (its bytes must hash to
// the digest), whose media type and size the signature's subject names.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, parseImageReference, repositoryName, type ImageReference } from '../image/reference.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { PolicySet } from '../policy/model.js';
import type { Clock } from '../ports.js';
import { decodeBase64 } from '../trust/notary/base64.js';
import { loadCosignKey, verifySignature } from '../trust/cosign/keys.js';
import { checkPayload } from '../trust/cosign/payload.js';
import { SIGNATURE_ANNOTATION } from '../trust/cosign/registry-client.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../trust/verifier.js';
import { collectRequirements } from '../verify/policy-requirements.js';
import { classicConfig, classicManifest, classicPayload, existingSignatureLayers, OCI_CONFIG, OCI_MANIFEST, sha256, signatureLayer, SIMPLE_SIGNING, type Descriptor } from './classic-signature.js';
import type { ImageInput } from './image-inputs.js';
import type { RegistryWriter } from './registry-writer.js';
import { BUNDLE_MEDIA_TYPE, bundleLayerOf, bundleManifest, decodeReferrersIndex, describeBlob, EMPTY_CONFIG, isBundleSignedBy, makeBundle, OCI_INDEX, referrersIndex, signStatement, type Referrer } from './sigstore-bundle.js';
import { signBytes, type SigningKey } from './signing-key.js';

export type SignatureFormat = 'bundle' | 'classic';

// Annotations recording where the signature's trust came from.
export const NOTARY_SIGNERS_ANNOTATION = 'trustgate.dev/notary-signers';
export const NOTARY_VERIFIED_AT_ANNOTATION = 'trustgate.dev/notary-verified-at';

// Most signatures or referrers looked at (and kept) for one image.
export const MAX_SIGNATURES = 32;
// Budget for one image's registry requests.
export const CARRY_OVER_BUDGET_MS = 60_000;

export interface CarryOverDeps {
  // A Notary verifier that asks the trust server on every verification.
  readonly notary: ImageVerifier<NotaryRequirement>;
  readonly registry: RegistryWriter;
  readonly clock: Clock;
  readonly policies: PolicySet;
  readonly key: SigningKey;
  readonly format: SignatureFormat;
  readonly dryRun: boolean;
  // Runs the check-and-write of one signed image (repository and digest) after any other one
  // for the same image in this run, so two inputs naming one digest (a tag and its digest,
  // two namespaces) cannot both read "unsigned" and write over each other.
  readonly exclusive?: <T>(key: string, task: () => Promise<T>) => Promise<T>;
}

// A per-key queue for CarryOverDeps.exclusive.
export function createKeyedQueue(): <T>(key: string, task: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}

// What happened to one image:
// - signed: a signature was written; would-sign: the same, in a dry run;
// - skipped: it already carries a valid signature by the key (in this format);
// - refused: its Notary verification did not pass (or its policy asks for none): never signed;
// - failed: verified, but the registry could not be read or written.
export type CarryOverOutcome = 'signed' | 'would-sign' | 'skipped' | 'refused' | 'failed';

export interface CarryOverResult {
  readonly image: string;
  readonly namespace: string;
  readonly outcome: CarryOverOutcome;
  readonly format: SignatureFormat;
  readonly digest?: string;
  readonly notarySigners?: readonly string[];
  readonly verifiedAt?: string;
  readonly codes?: readonly string[];
  readonly reasons?: readonly string[];
}

export async function carryOver(deps: CarryOverDeps, input: ImageInput): Promise<CarryOverResult> {
  const base = { image: input.image, namespace: input.namespace, format: deps.format };
  let reference: ImageReference;
  let verified: VerifiedImage;
  // The clock is read once: the verification and the annotation use the same instant.
  const now = deps.clock.now();
  try {
    reference = parseImageReference(input.image);
    verified = await verifyNotary(deps, reference, input.namespace, now);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    return { ...base, outcome: 'refused', codes: [error.code], reasons: [error.message] };
  }
  const signers = [...verified.signers];
  const verifiedAt = now.toISOString();
  const found = { ...base, digest: verified.digest, notarySigners: signers, verifiedAt };
  const signal = AbortSignal.timeout(CARRY_OVER_BUDGET_MS);
  try {
    const subject = await readSubject(deps.registry, reference, verified.digest, signal);
    const annotations = { [NOTARY_SIGNERS_ANNOTATION]: signers.join(','), [NOTARY_VERIFIED_AT_ANNOTATION]: verifiedAt };
    const write = (): Promise<CarryOverOutcome> =>
      deps.format === 'classic' ? carryOverClassic(deps, reference, subject, annotations, signal) : carryOverBundle(deps, reference, subject, annotations, signal);
    const written = deps.exclusive === undefined ? await write() : await deps.exclusive(`${repositoryName(reference)}@${subject.digest}`, write);
    return { ...found, outcome: written };
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    return { ...found, outcome: 'failed', codes: [error.code], reasons: [error.message] };
  }
}

// Every Notary check the image's policies ask for, against the trust server now; all must
// pass and agree on one digest. An image no policy asks Notary trust for is refused: there is
// no Notary verification to carry over.
async function verifyNotary(deps: CarryOverDeps, reference: ImageReference, namespace: string, now: Date): Promise<VerifiedImage> {
  const collected = collectRequirements(deps.policies, reference, namespace, formatImageReference(reference));
  // A requirement that could not even be formed (a missing signer Secret, an invalid or
  // unsupported policy) denies the image at admission: nothing is carried over for it, even
  // when other policies' Notary checks pass (they may ask for less).
  const unmet = collected.failures[0];
  if (unmet !== undefined) throw new TrustgateError(unmet.error.code, `nothing to carry over: ${unmet.error.message}`);
  const checks = collected.checks.filter((check) => check.requirement.kind === 'notary');
  if (checks.length === 0) {
    throw new TrustgateError(ErrorCode.POLICY_NO_MATCH, 'nothing to carry over: the policy that governs it does not require Notary trust');
  }
  const outcomes = await Promise.all(checks.map((check) => deps.notary.verify(reference, check.requirement as NotaryRequirement, now)));
  const digests = [...new Set(outcomes.map((outcome) => outcome.digest))];
  const digest = digests[0];
  if (digests.length !== 1 || digest === undefined) {
    throw new TrustgateError(ErrorCode.TRUST_DIGEST_MISMATCH, `Notary checks resolve the image to different digests: ${digests.join(', ')}`);
  }
  if (outcomes.some((outcome) => outcome.stale === true)) {
    throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the trust server did not confirm the signature now (only cached trust data answered)');
  }
  return { digest, signers: [...new Set(outcomes.flatMap((outcome) => outcome.signers))] };
}

const IMAGE_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  OCI_MANIFEST,
  OCI_INDEX,
];

// The signed image's descriptor: the registry must hold exactly that manifest.
async function readSubject(registry: RegistryWriter, image: ImageReference, digest: string, signal: AbortSignal): Promise<Descriptor> {
  const manifest = await registry.getManifest(image, digest, IMAGE_ACCEPT, signal);
  if (manifest === undefined) throw new TrustgateError(ErrorCode.IMAGE_NOT_FOUND, `registry ${image.registry} has no manifest ${image.repository}@${digest}`);
  const parsed = parseJsonBytes(manifest.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `manifest ${digest}`);
  const bodyType = isPlainObject(parsed) && typeof parsed['mediaType'] === 'string' ? parsed['mediaType'] : undefined;
  const mediaType = bodyType ?? manifest.mediaType;
  if (mediaType === undefined || !IMAGE_ACCEPT.includes(mediaType)) {
    throw new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, `manifest ${image.repository}@${digest} is not an image manifest or index`);
  }
  return { mediaType, size: manifest.body.length, digest };
}

// Classic: append a layer to the `sha256-<hex>.sig` manifest (created when absent), unless a
// layer already holds a valid signature by the key for this digest.
async function carryOverClassic(
  deps: CarryOverDeps,
  image: ImageReference,
  subject: Descriptor,
  annotations: Readonly<Record<string, string>>,
  signal: AbortSignal,
): Promise<CarryOverOutcome> {
  const tag = `${subject.digest.replace(':', '-')}.sig`;
  const existing = await deps.registry.getManifest(image, tag, [OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json'], signal);
  const layers = existing === undefined ? [] : existingSignatureLayers(parseJsonBytes(existing.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `signature manifest ${tag}`), MAX_SIGNATURES);
  const key = loadCosignKey(deps.key.publicKeyPem, 'the carry-over key');
  for (const layer of layers) {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING || signature === undefined) continue;
    const bytes = decodeBase64(signature);
    if (bytes === undefined) continue;
    const payload = await deps.registry.getBlob(image, layer.digest, layer.size, signal);
    if (!verifySignature(key, payload, bytes)) continue;
    try {
      checkPayload(payload, subject.digest);
      return 'skipped';
    } catch {
      // Signed by the key, for another digest (copied here): not this image's signature.
    }
  }
  if (deps.dryRun) return 'would-sign';
  const payload = classicPayload(repositoryName(image), subject.digest, annotations);
  const layer = signatureLayer(payload, signBytes(deps.key, payload).toString('base64'));
  const all = [...layers, layer];
  const config = classicConfig(all);
  await deps.registry.pushBlob(image, payload, signal);
  await deps.registry.pushBlob(image, config, signal);
  await deps.registry.putManifest(image, tag, OCI_MANIFEST, classicManifest({ mediaType: OCI_CONFIG, size: config.length, digest: sha256(config) }, all), signal);
  return 'signed';
}

// Bundle: an artifact pushed by digest with the image as subject, listed in the referrers tag
// index (read, extended, written back) where the registry has no referrers API, unless a
// listed bundle is already signed by the key for this digest.
async function carryOverBundle(
  deps: CarryOverDeps,
  image: ImageReference,
  subject: Descriptor,
  annotations: Readonly<Record<string, string>>,
  signal: AbortSignal,
): Promise<CarryOverOutcome> {
  const tag = subject.digest.replace(':', '-');
  const fromApi = await deps.registry.getReferrers(image, subject.digest, signal);
  let referrers: Referrer[];
  if (fromApi !== undefined) {
    referrers = decodeReferrersIndex(parseJsonBytes(fromApi, ErrorCode.REGISTRY_RESPONSE_INVALID, 'referrers'), MAX_SIGNATURES);
  } else {
    const index = await deps.registry.getManifest(image, tag, [OCI_INDEX], signal);
    referrers = index === undefined ? [] : decodeReferrersIndex(parseJsonBytes(index.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `referrers tag ${tag}`), MAX_SIGNATURES);
  }
  for (const referrer of referrers) {
    if (referrer.artifactType !== undefined && referrer.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const manifest = await deps.registry.getManifest(image, referrer.digest, [OCI_MANIFEST], signal);
    if (manifest === undefined) continue;
    const layer = bundleLayerOf(parseJsonBytes(manifest.body, ErrorCode.REGISTRY_RESPONSE_INVALID, `artifact ${referrer.digest}`));
    if (layer === undefined) continue;
    const bundle = await deps.registry.getBlob(image, layer.digest, layer.size, signal);
    if (isBundleSignedBy(bundle, deps.key.publicKeyPem, subject.digest)) return 'skipped';
  }
  if (deps.dryRun) return 'would-sign';
  const bundle = await makeBundle(deps.key, signStatement(repositoryName(image), subject.digest, annotations));
  const bundleBlob = describeBlob(BUNDLE_MEDIA_TYPE, bundle);
  const manifest = bundleManifest(bundleBlob, subject, annotations);
  const manifestDigest = sha256(manifest);
  await deps.registry.pushBlob(image, EMPTY_CONFIG, signal);
  await deps.registry.pushBlob(image, bundle, signal);
  await deps.registry.putManifest(image, manifestDigest, OCI_MANIFEST, manifest, signal);
  if (fromApi === undefined) {
    const added: Referrer = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, artifactType: BUNDLE_MEDIA_TYPE };
    await deps.registry.putManifest(image, tag, OCI_INDEX, referrersIndex(referrers, added), signal);
  }
  return 'signed';
}
