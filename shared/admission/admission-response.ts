// The AdmissionReview answers, one builder per outcome. Denials carry one message naming
// every failing image, its containers and why (with codes), because that message is all a
// user sees: `admission webhook "..." denied the request: MESSAGE`.
import { ErrorCode } from '../errors.js';
import {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  type ContainerImage,
  type JsonPatchReplace,
} from './admission-review.js';
import { encodeJsonPatch } from './json-patch.js';
import { podImageField } from './pod-image-fields.js';
import type { ImageVerdict } from './decide-admission.js';

export const DENIED_CODE = 403;
export const INVALID_CODE = 400;

export function toReview(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

// Allowed; the patch and warning fields are present only when there is something in them.
// `unenforced` counts the images admitted only because their failing policies are in warn
// or audit mode, `unrequired` those whose policy asks for no signature (they were not
// verified, and the message must not say they were), `unchanged` the images of an UPDATE
// that the old object already held (not checked at all, and not counted in `images`).
// `encoded`: the patch as encodeJsonPatch encodes it, when the caller has it already.
export function allowedResponse(
  uid: string,
  images: number,
  patch: readonly JsonPatchReplace[],
  warnings: readonly string[] = [],
  unenforced = 0,
  unrequired = 0,
  unchanged = 0,
  encoded?: string,
): AdmissionReviewResponse {
  const verified = images - unenforced - unrequired;
  const pinned = patch.length > 0 ? `, ${patch.length} pinned to signed digests` : '';
  const admitted = unenforced > 0 ? `, ${unenforced} failing policies in warn or audit mode` : '';
  const open = unrequired > 0 ? `, ${unrequired} under a policy that requires no signature` : '';
  const held = unchanged > 0 ? `, ${unchanged} unchanged from the old object and not checked` : '';
  return toReview({
    uid,
    allowed: true,
    status: { code: 200, message: `trustgate allowed: ${verified} image${verified === 1 ? '' : 's'} verified${open}${admitted}${pinned}${held}` },
    ...(patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: encoded ?? encodeJsonPatch(patch) } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}

// At most this many warnings, each at most this many characters: the API server truncates a
// warning past 256 characters and drops warnings past 4096 characters in total, and every
// one lands in the user's terminal.
export const MAX_WARNINGS = 8;
export const MAX_WARNING_LENGTH = 256;

// The warnings for the failures of policies in warn mode, one per image and reason:
// `trustgate warn: IMAGE: [CODE] why`. Security: the text holds image references from the
// request and messages quoting them; control characters are replaced so a crafted reference
// cannot write escape sequences into a terminal or break the Warning header, and the count
// and length are bounded whatever the request holds.
export function toWarnings(verdicts: readonly ImageVerdict[]): string[] {
  // The usual case, checked without building anything: no policy in warn or audit mode failed.
  if (verdicts.every((verdict) => (verdict.result?.wouldDeny?.length ?? 0) === 0)) return [];
  const all = verdicts.flatMap((verdict) =>
    (verdict.result?.wouldDeny ?? []).filter((failure) => failure.mode === 'warn').map((failure) => `trustgate warn: [${failure.code}] ${failure.reason}`),
  );
  const kept = all.length > MAX_WARNINGS ? all.slice(0, MAX_WARNINGS - 1) : all;
  const warnings = kept.map(boundWarning);
  if (all.length > kept.length) warnings.push(`trustgate warn: ${all.length - kept.length} more policy failures in warn mode (see the decision log)`);
  return warnings;
}

function boundWarning(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > MAX_WARNING_LENGTH ? `${clean.slice(0, MAX_WARNING_LENGTH - 3)}...` : clean;
}

export function uncheckedResponse(uid: string, reason: string): AdmissionReviewResponse {
  return toReview({ uid, allowed: true, status: { code: 200, message: `trustgate allowed without checks: ${reason}` } });
}

export function deniedResponse(uid: string, failures: readonly string[], warnings: readonly string[] = []): AdmissionReviewResponse {
  return toReview({
    uid,
    allowed: false,
    status: { code: DENIED_CODE, message: `trustgate denied: ${failures.join('; ')}` },
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}

export function invalidResponse(uid: string, reason: string): AdmissionReviewResponse {
  return toReview({ uid, allowed: false, status: { code: INVALID_CODE, message: `trustgate cannot judge this request: ${reason}` } });
}

export function timeoutResponse(uid: string, budgetMs: number, pending: readonly string[]): AdmissionReviewResponse {
  const message = `trustgate denied: [${ErrorCode.ADMISSION_TIMEOUT}] time budget of ${budgetMs} ms exhausted before ${pending.join(', ')} could be verified`;
  return toReview({ uid, allowed: false, status: { code: DENIED_CODE, message } });
}

// `init container "setup", image volume "tools" image docker.io/x/y:1: [CODE] why, [CODE] why`.
export function formatImageFailure(verdict: ImageVerdict): string {
  const result = verdict.result;
  const prefix = `${verdict.image}: `;
  const reasons = (result?.reasons ?? ['not verified']).map((reason, index) => {
    const text = reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
    const code = result?.codes[index];
    return code === undefined ? text : `[${code}] ${text}`;
  });
  return `${verdict.containers.map(describeContainer).join(', ')} image ${verdict.image}: ${reasons.join(', ')}`;
}

function describeContainer(container: ContainerImage): string {
  return `${podImageField(container.list).label} ${JSON.stringify(container.name)}`;
}
