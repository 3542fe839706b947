// The AdmissionReview (admission.k8s.io/v1) as the core sees it once decoded: read-only,
// already checked, with every image located by its JSON Pointer so a patch can address it
// exactly.
import type { WorkloadPullSecrets } from '../registry/workload-pull-secrets.js';
import type { PodImageList } from './pod-image-fields.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

// One image of the admitted object: a container's `image` or an image volume's
// `image.reference` (every field is listed in pod-image-fields.ts).
export interface ContainerImage {
  readonly list: PodImageList;
  readonly index: number;
  // The container's or volume's name.
  readonly name: string;
  // The image string exactly as written in the object.
  readonly image: string;
  // RFC 6901 pointer to the image field inside the admitted object.
  readonly pointer: string;
}

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

// What the webhook was asked, reduced to what a decision needs.
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly subResource?: string;
  readonly namespace: string;
  readonly name?: string;
  readonly operation: string;
  readonly dryRun: boolean;
}

// The outcome of decoding one body posted to the webhook:
//   not-a-review  the body is no AdmissionReview v1 at all (the HTTP layer answers 400);
//   reject        it is one, but one the product cannot judge (unknown kind, malformed
//                 object, missing uid): answered allowed:false with code 400, never allowed;
//   unchecked     the operation brings no new image (DELETE, CONNECT, a subresource such
//                 as status or scale, an UPDATE whose every image the old object already
//                 held): answered allowed with no checks;
//   check         every container image in `containers` must be verified (on UPDATE, those
//                 the old object did not already hold).
// `unchanged`: on UPDATE, the images of the object that the old object already held (exact
// string, at any image field of its pod spec); they are neither verified nor patched.
export type DecodedReview =
  | { readonly kind: 'not-a-review'; readonly reason: string }
  | { readonly kind: 'reject'; readonly uid: string; readonly request?: Partial<AdmissionRequest>; readonly reason: string }
  | { readonly kind: 'unchecked'; readonly request: AdmissionRequest; readonly reason: string; readonly unchanged?: readonly ContainerImage[] }
  | {
      readonly kind: 'check';
      readonly request: AdmissionRequest;
      readonly containers: readonly ContainerImage[];
      readonly unchanged?: readonly ContainerImage[];
      // The pod spec's pull secret names and service account (registry credentials).
      readonly pullSecrets?: WorkloadPullSecrets;
    };

export interface JsonPatchReplace {
  readonly op: 'replace';
  readonly path: string;
  readonly value: string;
}

export interface AdmissionStatus {
  readonly code: number;
  readonly message: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status: AdmissionStatus;
  readonly patchType?: 'JSONPatch';
  // base64 of the JSON Patch document.
  readonly patch?: string;
  readonly warnings?: readonly string[];
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_KIND;
  readonly response: AdmissionResponse;
}
