// Where one image stands on the way off Notary v1: whether its Notary signature and its
// cosign signatures verify under the policy that governs it, and whether it would start
// being denied once Notary v1 is turned off. The decision is made by the same verify-image
// engine admission uses, twice over the same verification outcomes: once as things are, and
// once with every Notary check failing (as it will when the trust server is gone). Nothing
// is written anywhere.
import { ErrorCode, TrustgateError, toTrustgateError } from '../errors.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../image/reference.js';
import type { PolicySource } from '../policy/match-policy.js';
import type { PolicySet } from '../policy/model.js';
import type { Clock } from '../ports.js';
import { silentLogger } from '../ports.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement, SimpleSigningRequirement, TrustRequirement, VerifiedImage } from '../trust/verifier.js';
import { collectRequirements, type CollectedRequirements } from '../verify/policy-requirements.js';
import { verifyImage } from '../verify/verify-image.js';
import type { ImageInput } from './image-inputs.js';

// How one signature kind fares for an image:
// - signed: every check of that kind the policies ask for passed;
// - not-signed: one failed (no signature, a wrong one, a wrong digest, ...);
// - unknown: one could not be decided (trust server, registry or store unavailable);
// - not-required: no applicable policy asks for that kind.
export type KindState = 'signed' | 'not-signed' | 'unknown' | 'not-required';

export interface KindStatus {
  readonly state: KindState;
  readonly digest?: string;
  // Notary: the delegation roles that signed ('targets/releases'); cosign: the authorities.
  readonly signers?: readonly string[];
  // The failure's code and reason, when not signed or unknown.
  readonly codes?: readonly string[];
  readonly reasons?: readonly string[];
}

export type SignedWith = 'both' | 'notary' | 'cosign' | 'neither';

export interface MigrationStatus {
  readonly image: string;
  readonly namespace: string;
  readonly source?: string;
  // The policy that matched in the namespace; null when none did.
  readonly policy: PolicySource | null;
  readonly notary: KindStatus;
  readonly cosign: KindStatus;
  readonly signedWith: SignedWith;
  // Admitted now / once Notary v1 is turned off.
  readonly allowedNow: boolean;
  readonly allowedWithoutNotary: boolean;
  // Admitted now and denied without Notary v1: what a carry-over must cover first.
  readonly breaksWithoutNotary: boolean;
  // The digest admission pins the image to now, when admitted.
  readonly digest: string | null;
  // Why it is denied now (empty when admitted).
  readonly reasons: readonly string[];
}

export interface MigrationDeps {
  readonly notary: ImageVerifier<NotaryRequirement>;
  readonly cosign: ImageVerifier<CosignRequirement>;
  // Red Hat simple signing, for policies that also accept it: it counts in the decisions,
  // not in the Notary and cosign columns.
  readonly simple?: ImageVerifier<SimpleSigningRequirement>;
  readonly clock: Clock;
  readonly policies: PolicySet;
}

// Codes that say a check could not be decided rather than that the signature is not there.
const UNDECIDED_CODES: ReadonlySet<string> = new Set([
  ErrorCode.TRUST_SERVER_UNAVAILABLE,
  ErrorCode.REGISTRY_UNAVAILABLE,
  ErrorCode.STATE_STORE_FAILED,
  ErrorCode.TRUST_AUTH_REALM_REFUSED,
]);

type Outcome = VerifiedImage | TrustgateError;

// The status of one image in its namespace. The clock is read once: both decisions and
// every check use that instant.
export async function describeMigrationStatus(deps: MigrationDeps, input: ImageInput): Promise<MigrationStatus> {
  const base = { image: input.image, namespace: input.namespace, ...(input.source === undefined ? {} : { source: input.source }) };
  let collected: CollectedRequirements;
  let reference: ImageReference;
  try {
    reference = parseImageReference(input.image);
    const name = formatImageReference(reference);
    collected = collectRequirements(deps.policies, reference, input.namespace, name);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    if (error.code === ErrorCode.INTERNAL) throw thrown;
    const failed: KindStatus = { state: 'not-signed', codes: [error.code], reasons: [error.message] };
    return { ...base, policy: null, notary: failed, cosign: failed, signedWith: 'neither', allowedNow: false, allowedWithoutNotary: false, breaksWithoutNotary: false, digest: null, reasons: [error.message] };
  }
  const now = deps.clock.now();
  const fixedClock: Clock = { now: () => now };
  // Each check runs once; both decisions replay its outcome.
  const outcomes = new Map<TrustRequirement, Promise<Outcome>>();
  const record = <R extends TrustRequirement>(verifier: ImageVerifier<R>): ImageVerifier<R> => ({
    kind: verifier.kind,
    verify: async (image, requirement, at, signal) => {
      let pending = outcomes.get(requirement);
      if (pending === undefined) {
        pending = verifier.verify(image, requirement, at, signal).catch((thrown: unknown) => {
          const error = toTrustgateError(thrown);
          if (error.code === ErrorCode.INTERNAL) throw thrown;
          return error;
        });
        outcomes.set(requirement, pending);
      }
      const outcome = await pending;
      if (outcome instanceof TrustgateError) throw outcome;
      return outcome;
    },
  });
  const notaryOff: ImageVerifier<NotaryRequirement> = {
    kind: 'notary',
    verify: () => Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'Notary v1 is turned off')),
  };
  const policies = (): Promise<PolicySet> => Promise.resolve(deps.policies);
  const cosign = record(deps.cosign);
  const notaryRecorded = record(deps.notary);
  const simple = deps.simple === undefined ? undefined : record(deps.simple);
  const request = { kind: 'policy', image: input.image, namespace: input.namespace } as const;
  const others = { cosign, ...(simple === undefined ? {} : { simple }), clock: fixedClock, logger: silentLogger, policies };
  const current = await verifyImage({ notary: notaryRecorded, ...others }, request);
  const withoutNotary = await verifyImage({ notary: notaryOff, ...others }, request);
  // Every check's outcome, as recorded (a check verify-image skipped, or one whose recorded
  // entry was lost because the requirements were collected anew, runs here once).
  const kinds = await Promise.all(
    collected.checks.map(async (check) => {
      const requirement = check.requirement;
      const run =
        requirement.kind === 'notary'
          ? notaryRecorded.verify(reference, requirement, now)
          : requirement.kind === 'cosign'
            ? cosign.verify(reference, requirement, now)
            : (simple?.verify(reference, requirement, now) ?? Promise.reject(new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, 'simple signing is not configured')));
      const outcome = await run.catch((thrown: unknown) => toTrustgateError(thrown));
      return { kind: requirement.kind, outcome };
    }),
  );
  const notary = toKindStatus(kinds.filter((entry) => entry.kind === 'notary').map((entry) => entry.outcome));
  const cosignStatus = toKindStatus(kinds.filter((entry) => entry.kind === 'cosign').map((entry) => entry.outcome));
  return {
    ...base,
    policy: collected.source ?? null,
    notary,
    cosign: cosignStatus,
    signedWith: toSignedWith(notary.state === 'signed', cosignStatus.state === 'signed'),
    allowedNow: current.allowed,
    allowedWithoutNotary: withoutNotary.allowed,
    breaksWithoutNotary: current.allowed && !withoutNotary.allowed,
    digest: current.allowed ? current.digest : null,
    reasons: current.reasons,
  };
}

// The outcomes of every check of one kind, summed up: signed only when all passed.
function toKindStatus(outcomes: readonly Outcome[]): KindStatus {
  if (outcomes.length === 0) return { state: 'not-required' };
  const failures = outcomes.filter((outcome): outcome is TrustgateError => outcome instanceof TrustgateError);
  if (failures.length > 0) {
    const state: KindState = failures.every((failure) => UNDECIDED_CODES.has(failure.code)) ? 'unknown' : 'not-signed';
    return { state, codes: failures.map((failure) => failure.code), reasons: failures.map((failure) => failure.message) };
  }
  const passed = outcomes as readonly VerifiedImage[];
  const signers = [...new Set(passed.flatMap((outcome) => outcome.signers))];
  const digests = [...new Set(passed.map((outcome) => outcome.digest))];
  return { state: 'signed', ...(digests.length === 1 && digests[0] !== undefined ? { digest: digests[0] } : {}), signers };
}

function toSignedWith(notary: boolean, cosign: boolean): SignedWith {
  if (notary && cosign) return 'both';
  if (notary) return 'notary';
  return cosign ? 'cosign' : 'neither';
}

// Totals for the summary line.
export interface MigrationSummary {
  readonly images: number;
  readonly both: number;
  readonly notaryOnly: number;
  readonly cosignOnly: number;
  readonly neither: number;
  readonly breaksWithoutNotary: number;
  readonly deniedNow: number;
}

export function summarise(statuses: readonly MigrationStatus[]): MigrationSummary {
  const count = (test: (status: MigrationStatus) => boolean): number => statuses.filter(test).length;
  return {
    images: statuses.length,
    both: count((status) => status.signedWith === 'both'),
    notaryOnly: count((status) => status.signedWith === 'notary'),
    cosignOnly: count((status) => status.signedWith === 'cosign'),
    neither: count((status) => status.signedWith === 'neither'),
    breaksWithoutNotary: count((status) => status.breaksWithoutNotary),
    deniedNow: count((status) => !status.allowedNow),
  };
}

// Runs `task` over `items` with at most `limit` at a time, keeping the order of the results.
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
