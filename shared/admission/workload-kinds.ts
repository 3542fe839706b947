// Where each admitted kind keeps its pod spec, and which operations and subresources can
// bring a new image into the cluster. Only the versions the MutatingWebhookConfiguration
// registers are listed: with matchPolicy Equivalent the API server converts every other
// version of these resources to one of them before calling the webhook.
import type { GroupVersionKind } from './admission-review.js';
import { ALL_POD_IMAGE_LISTS, type PodImageList } from './pod-image-fields.js';

export interface WorkloadShape {
  // Path segments from the object to its pod spec ([] = the object itself).
  readonly podSpec: readonly string[];
  // The pod spec lists (pod-image-fields.ts) that can hold images new to the cluster.
  readonly lists: readonly PodImageList[];
}

const ALL_LISTS = ALL_POD_IMAGE_LISTS;
const TEMPLATE = ['spec', 'template', 'spec'];

const SHAPES: Readonly<Record<string, WorkloadShape>> = {
  '/v1/Pod': { podSpec: ['spec'], lists: ALL_LISTS },
  '/v1/ReplicationController': { podSpec: TEMPLATE, lists: ALL_LISTS },
  '/v1/PodTemplate': { podSpec: ['template', 'spec'], lists: ALL_LISTS },
  'apps/v1/Deployment': { podSpec: TEMPLATE, lists: ALL_LISTS },
  'apps/v1/ReplicaSet': { podSpec: TEMPLATE, lists: ALL_LISTS },
  'apps/v1/StatefulSet': { podSpec: TEMPLATE, lists: ALL_LISTS },
  'apps/v1/DaemonSet': { podSpec: TEMPLATE, lists: ALL_LISTS },
  'batch/v1/Job': { podSpec: TEMPLATE, lists: ALL_LISTS },
  'batch/v1/CronJob': { podSpec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'], lists: ALL_LISTS },
  'batch/v1beta1/CronJob': { podSpec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'], lists: ALL_LISTS },
};

// The `pods/ephemeralcontainers` subresource: from Kubernetes 1.22 the object is the whole
// Pod; 1.16-1.21 send an `EphemeralContainers` object holding only the list. Either way
// only ephemeral containers are new: the other lists of a running pod cannot change there.
const EPHEMERAL_SHAPES: Readonly<Record<string, WorkloadShape>> = {
  '/v1/Pod': { podSpec: ['spec'], lists: ['ephemeralContainers'] },
  '/v1/EphemeralContainers': { podSpec: [], lists: ['ephemeralContainers'] },
};

// Subresources that cannot change a container image: their requests are admitted without
// checks. Any other subresource is refused, so a new one cannot slip images past the webhook.
const IMAGELESS_SUBRESOURCES = new Set(['status', 'scale', 'binding', 'eviction']);

export type ShapeLookup =
  | { readonly kind: 'shape'; readonly shape: WorkloadShape }
  | { readonly kind: 'unchecked'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };

// The shape of the object a request admits, or why it needs no check, or why it cannot be judged.
export function lookupWorkloadShape(kind: GroupVersionKind, subResource: string | undefined): ShapeLookup {
  const key = `${kind.group}/${kind.version}/${kind.kind}`;
  const label = kind.group === '' ? `${kind.version}/${kind.kind}` : key;
  if (subResource === undefined || subResource === '') {
    const shape = SHAPES[key];
    return shape ? { kind: 'shape', shape } : { kind: 'unknown', reason: `kind ${label} is not one trustgate admits` };
  }
  if (subResource === 'ephemeralcontainers') {
    const shape = EPHEMERAL_SHAPES[key];
    return shape ? { kind: 'shape', shape } : { kind: 'unknown', reason: `kind ${label} is not expected on subresource ephemeralcontainers` };
  }
  if (IMAGELESS_SUBRESOURCES.has(subResource)) return { kind: 'unchecked', reason: `subresource ${subResource} carries no new image` };
  return { kind: 'unknown', reason: `subresource ${subResource} is not one trustgate admits` };
}
