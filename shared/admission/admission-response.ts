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

// Allowed; the patch fields are present only when there is something to patch.
export function allowedResponse(uid: string, images: number, patch: readonly JsonPatchReplace[]): AdmissionReviewResponse {
  const pinned = patch.length > 0 ? `, ${patch.length} pinned to signed digests` : '';
  return toReview({
    uid,
    allowed: true,
    status: { code: 200, message: `trustgate allowed: ${images} image${images === 1 ? '' : 's'} verified${pinned}` },
    ...(patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: encodeJsonPatch(patch) } : {}),
  });
}

export function uncheckedResponse(uid: string, reason: string): AdmissionReviewResponse {
  return toReview({ uid, allowed: true, status: { code: 200, message: `trustgate allowed without checks: ${reason}` } });
}

export function deniedResponse(uid: string, failures: readonly string[]): AdmissionReviewResponse {
  return toReview({ uid, allowed: false, status: { code: DENIED_CODE, message: `trustgate denied: ${failures.join('; ')}` } });
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
