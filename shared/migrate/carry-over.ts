// The carry-over: for an image admitted now on its Notary v1 trust, a cosign signature made
// with the team's own key for exactly the digest Notary's trusted signers signed, annotated
// with those signers and the time of the verification.
// Security: nothing is signed unless the image is admitted now and every Notary check its
// policies ask for passed in this run (asking the trust server, not a cache), and every
// policy that trusts the key for the image would admit it on its own Notary trust too (see
// checkCarryOver); the digest signed is the one that verification answered: the registry's
// tag is never consulted for it, so a tag moved in
// the registry (or a registry lying about it) cannot get another image signed. The
// registry is asked only to confirm it holds that exact manifest (its bytes must hash to
// the digest), whose media type and size the signature's subject names.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, parseImageReference, repositoryName, type ImageReference } from '../image/reference.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { PolicySet } from '../policy/model.js';
import { silentLogger, type Clock } from '../ports.js';
import { decodeBase64 } from '../trust/notary/base64.js';
import { loadCosignKey, verifySignature } from '../trust/cosign/keys.js';
import { checkPayload } from '../trust/cosign/payload.js';
import { SIGNATURE_ANNOTATION } from '../trust/cosign/registry-client.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement, SimpleSigningRequirement, VerifiedImage } from '../trust/verifier.js';
import { collectRequirements } from '../verify/policy-requirements.js';
import { verifyImage } from '../verify/verify-image.js';
import { classicConfig, classicManifest, classicPayload, existingSignatureLayers, OCI_CONFIG, OCI_MANIFEST, sha256, signatureLayer, SIMPLE_SIGNING, type Descriptor } from './classic-signature.js';
import type { ImageInput } from './image-inputs.js';
import { ANY_OTHER_NAMESPACE, findKeyTrust, keyIdentityOf, type KeyTrust, type KeyTrustScope } from './key-trust.js';
import { mapLimited } from './migration-status.js';
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
  // The other kinds the image's policies may ask for, checked as admission checks them;
  // absent, a policy asking for that kind denies (and nothing is carried over).
  readonly cosign?: ImageVerifier<CosignRequirement>;
  readonly simple?: ImageVerifier<SimpleSigningRequirement>;
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
// - refused: never signed: it is not admitted now on its Notary trust (a check of its
//   policies failed, or they ask for no Notary trust), or a policy that trusts the key for
//   it would not admit it on its own Notary trust (CARRY_OVER_WIDENS_TRUST), or none
//   trusts the key for it (CARRY_OVER_KEY_UNTRUSTED);
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
    const checked = await checkCarryOver(deps, reference, input.namespace, now);
    if (checked.refused !== undefined) {
      return { ...base, outcome: 'refused', codes: checked.refused.map((error) => error.code), reasons: checked.refused.map((error) => error.message) };
    }
    verified = checked.verified;
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

// Whether the image may be carried over, and what: the digest and the Notary signers.
// Security: a cosign signature by the key is bound to the digest only, so it admits the
// image wherever a policy trusts the key. It is made only when
// 1. the image is admitted now by the policies that govern it in its namespace, all their
//    checks taken as admission takes them (cosign and simple signing too, warn and audit
//    modes included), and every Notary check they ask for passed (at least one), against
//    the trust server (not a cache), on the digest admission pins; and
// 2. every policy that trusts the key for this image, in any namespace (findKeyTrust), asks
//    for Notary trust and the image passes it there, on the same digest. A policy that
//    trusts the key but asks no Notary trust, or whose Notary trust the image lacks, would
//    admit through the signature what it denies today: the image is refused. So is an image
//    no policy trusts the key for (the key is added to the policies first). That covers the
//    policies every other spelling of the digest meets (`repo@digest`, any tag pointed at
//    it), checked on the digest-only form.
// Pure checks come first, so an image refused by them costs no request.
async function checkCarryOver(deps: CarryOverDeps, reference: ImageReference, namespace: string, now: Date): Promise<Checked> {
  const name = formatImageReference(reference);
  const collected = collectRequirements(deps.policies, reference, namespace, name);
  // A requirement that could not even be formed (a missing signer Secret, an invalid or
  // unsupported policy) leaves unknown what its policy asks: nothing is carried over, even
  // when other policies' Notary checks pass (they may ask for less).
  const unmet = collected.failures[0];
  if (unmet !== undefined) return refusal(new TrustgateError(unmet.error.code, `nothing to carry over: ${unmet.error.message}`));
  const own = collected.checks.filter((check) => check.requirement.kind === 'notary').map((check) => check.requirement as NotaryRequirement);
  if (own.length === 0) {
    return refusal(new TrustgateError(ErrorCode.POLICY_NO_MATCH, 'nothing to carry over: the policy that governs it does not require Notary trust'));
  }
  const key = keyIdentityOf(deps.key.publicKeyPem);
  // Before any request, on what is known of the digest (the one written, if any); again once
  // admission has pinned it, when entries naming a digest may join.
  const early = judgeScope(findKeyTrust(deps.policies, reference, name, key, namespace), own, reference);
  if (early !== undefined) return early;
  const notary = recordingNotary(deps.notary);
  // 1. Admitted now, as admission decides (the same engine, at the same instant).
  const fixed: Clock = { now: () => now };
  const admission = await verifyImage(
    { notary, ...(deps.cosign === undefined ? {} : { cosign: deps.cosign }), ...(deps.simple === undefined ? {} : { simple: deps.simple }), clock: fixed, logger: silentLogger, policies: () => Promise.resolve(deps.policies) },
    { kind: 'policy', image: name, namespace },
  );
  if (!admission.allowed) {
    return { refused: admission.codes.map((code, index) => new TrustgateError(code as ErrorCode, `not admitted now, nothing to carry over: ${admission.reasons[index] ?? ''}`)) };
  }
  if (admission.stale === true) {
    return refusal(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the trust server did not confirm the signature now (only cached trust data answered)'));
  }
  const digest = admission.digest;
  const outcomes = await Promise.all(own.map((requirement) => notary.outcome(reference, requirement, now)));
  const failed = outcomes.filter((outcome): outcome is TrustgateError => outcome instanceof TrustgateError);
  if (failed.length > 0) return { refused: failed.map((error) => new TrustgateError(error.code, `admitted without its Notary trust, nothing to carry over: ${error.message}`)) };
  const passed = outcomes as VerifiedImage[];
  if (digest === null || passed.some((outcome) => outcome.digest !== digest)) {
    const digests = [...new Set(passed.map((outcome) => outcome.digest))];
    return refusal(new TrustgateError(ErrorCode.TRUST_DIGEST_MISMATCH, `Notary checks resolve the image to ${digests.join(', ')}, admission to ${digest ?? 'no digest'}`));
  }
  if (passed.some((outcome) => outcome.stale === true)) {
    return refusal(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the trust server did not confirm the signature now (only cached trust data answered)'));
  }
  // 2. Every policy that trusts the key admits the image on its own Notary trust.
  const scope = findKeyTrust(deps.policies, reference, name, key, namespace, digest);
  const late = judgeScope(scope, own, reference);
  if (late !== undefined) return late;
  const problems = await mapLimited(scope.trusting, KEY_TRUST_CONCURRENCY, (trust) => checkKeyTrust(notary, reference, trust, digest, now));
  const refused = problems.filter((problem): problem is TrustgateError => problem !== undefined);
  if (refused.length > 0) return { refused };
  return { verified: { digest, signers: [...new Set(passed.flatMap((outcome) => outcome.signers))] } };
}

// The refusal the policies trusting the key call for before their Notary checks are run:
// one of them unknown, none of them (nothing to carry over to), one asking no Notary trust,
// or more distinct checks (beyond the image's own) than the bound; undefined when none.
function judgeScope(scope: KeyTrustScope, own: readonly NotaryRequirement[], reference: ImageReference): Checked | undefined {
  if (scope.unknown.length > 0) return { refused: scope.unknown.map((error) => new TrustgateError(error.code, `cannot tell where the carry-over key is trusted: ${error.message}`)) };
  if (scope.trusting.length === 0) {
    return refusal(
      new TrustgateError(ErrorCode.CARRY_OVER_KEY_UNTRUSTED, 'no policy trusts the carry-over key for this image: add the key as a sigstore authority next to the Notary trust it carries over, then sign'),
    );
  }
  const noNotary = scope.trusting.filter((trust) => trust.notary.length === 0);
  if (noNotary.length > 0) {
    return { refused: noNotary.map((trust) => widens(trust, 'asks for no Notary trust, so a carried-over signature would admit what it never checked in Notary')) };
  }
  const distinct = new Set(scope.trusting.flatMap((trust) => trust.notary.map((requirement) => checkKey(spellingOf(trust, reference), requirement))));
  for (const requirement of own) distinct.delete(checkKey('written', requirement));
  if (distinct.size > MAX_KEY_TRUST_CHECKS) {
    return refusal(
      new TrustgateError(ErrorCode.CARRY_OVER_WIDENS_TRUST, `the policies that trust the carry-over key for this image ask for ${distinct.size} distinct Notary checks, more than the ${MAX_KEY_TRUST_CHECKS} checked per image`),
    );
  }
  return undefined;
}

// The form a trust is checked on; an image written by digest alone is its own digest-only form.
function spellingOf(trust: KeyTrust, reference: ImageReference): KeyTrust['spelling'] {
  return reference.tag === undefined ? 'written' : trust.spelling;
}

function checkKey(spelling: KeyTrust['spelling'], requirement: NotaryRequirement): string {
  return `${spelling}\n${notaryKey(requirement)}`;
}

// Why a policy that trusts the key would admit the image through a carried-over signature
// of `digest` when its own Notary trust would not; undefined when it would. A trust found
// for another spelling is checked on the digest-only form `repo@digest`: the trusted signers
// must have signed that digest, under whatever tag.
async function checkKeyTrust(notary: RecordingNotary, reference: ImageReference, trust: KeyTrust, digest: string, now: Date): Promise<TrustgateError | undefined> {
  const image = spellingOf(trust, reference) === 'written' ? reference : { registry: reference.registry, repository: reference.repository, digest };
  for (const requirement of trust.notary) {
    const outcome = await notary.outcome(image, requirement, now);
    if (outcome instanceof TrustgateError) return widens(trust, `would admit it through the carried-over signature, but not on its own Notary trust: [${outcome.code}] ${outcome.message}`);
    if (outcome.digest !== digest) return widens(trust, `resolves it in Notary to ${outcome.digest}, not the carried-over ${digest}`);
    if (outcome.stale === true) return widens(trust, 'could not have its Notary trust confirmed now (only cached trust data answered)');
  }
  return undefined;
}

// Most distinct Notary checks run for the policies that trust the key, per image, beyond
// the image's own: policies are the operator's, but an ImagePolicy is any namespace owner's.
export const MAX_KEY_TRUST_CHECKS = 32;
// Those checks run at once, per image.
const KEY_TRUST_CONCURRENCY = 4;

type Checked = { readonly verified: VerifiedImage; readonly refused?: undefined } | { readonly refused: readonly TrustgateError[]; readonly verified?: undefined };

function refusal(error: TrustgateError): Checked {
  return { refused: [error] };
}

function widens(trust: KeyTrust, what: string): TrustgateError {
  const where = trust.namespace === ANY_OTHER_NAMESPACE ? 'in every namespace without ImagePolicies or Secrets of its own' : `in namespace "${trust.namespace}"`;
  const policy = trust.origin === undefined ? 'a policy' : `${trust.origin.kind} ${trust.origin.namespace === undefined ? '' : `${trust.origin.namespace}/`}${trust.origin.name} (pattern "${trust.origin.pattern}")`;
  return new TrustgateError(ErrorCode.CARRY_OVER_WIDENS_TRUST, `${policy} trusts the carry-over key ${where} and ${what}`);
}

// A Notary requirement's content: two requirements with the same content (one cluster
// policy read in two namespaces) have the same outcome, asked once.
function notaryKey(requirement: NotaryRequirement): string {
  return JSON.stringify([requirement.server ?? null, requirement.serverFromCaller === true, requirement.signers.map((signer) => [signer.name, signer.publicKeyPem]), requirement.rootKeyIds]);
}

type Outcome = VerifiedImage | TrustgateError;

// A Notary verifier that asks once per image spelling and requirement content and keeps the outcome, for the
// admission decision and the checks after it to read the same answers.
interface RecordingNotary extends ImageVerifier<NotaryRequirement> {
  outcome(image: ImageReference, requirement: NotaryRequirement, now: Date): Promise<Outcome>;
}

function recordingNotary(verifier: ImageVerifier<NotaryRequirement>): RecordingNotary {
  const outcomes = new Map<string, Promise<Outcome>>();
  const outcome = (image: ImageReference, requirement: NotaryRequirement, now: Date): Promise<Outcome> => {
    // A formatted reference never holds a line break, so the key is unambiguous.
    const key = `${formatImageReference(image)}\n${notaryKey(requirement)}`;
    let pending = outcomes.get(key);
    if (pending === undefined) {
      pending = verifier.verify(image, requirement, now).catch((thrown: unknown) => {
        const error = toTrustgateError(thrown);
        if (error.code === ErrorCode.INTERNAL) throw thrown;
        return error;
      });
      outcomes.set(key, pending);
    }
    return pending;
  };
  return {
    kind: 'notary',
    outcome,
    verify: async (image, requirement, now) => {
      const result = await outcome(image, requirement, now);
      if (result instanceof TrustgateError) throw result;
      return result;
    },
  };
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
