// AdmissionReviews for tests, built from the real captures in test/fixtures/admission/ by
// swapping the request's kind and object, and a minimal RFC 6902 `replace` applier to check
// what a webhook's patch does to the object.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const FIXTURES = fileURLToPath(new URL('../fixtures/admission/', import.meta.url));

export const CAPTURES = {
  podCreate: 'admissionreview-pod-create.json',
  podCreateDryRun: 'admissionreview-pod-create-dryrun.json',
  podUpdate: 'admissionreview-pod-update.json',
  deploymentCreate: 'admissionreview-deployment-create.json',
} as const;

export function loadCapture(name: keyof typeof CAPTURES): JsonObject {
  return JSON.parse(readFileSync(`${FIXTURES}${CAPTURES[name]}`, 'utf8')) as JsonObject;
}

export interface KindSpec {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly resource: string;
}

export const KINDS = {
  Pod: { group: '', version: 'v1', kind: 'Pod', resource: 'pods' },
  ReplicationController: { group: '', version: 'v1', kind: 'ReplicationController', resource: 'replicationcontrollers' },
  PodTemplate: { group: '', version: 'v1', kind: 'PodTemplate', resource: 'podtemplates' },
  Deployment: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
  ReplicaSet: { group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets' },
  StatefulSet: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', version: 'v1', kind: 'DaemonSet', resource: 'daemonsets' },
  Job: { group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs' },
  CronJob: { group: 'batch', version: 'v1', kind: 'CronJob', resource: 'cronjobs' },
  CronJobBeta: { group: 'batch', version: 'v1beta1', kind: 'CronJob', resource: 'cronjobs' },
} as const satisfies Record<string, KindSpec>;

// Where each kind keeps its pod spec, as Kubernetes' API types define it.
export const POD_SPEC_PATHS: Readonly<Record<keyof typeof KINDS, readonly string[]>> = {
  Pod: ['spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  CronJobBeta: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
}

export interface PodSpecLists {
  readonly initContainers?: readonly ContainerSpec[];
  readonly containers?: readonly ContainerSpec[];
  readonly ephemeralContainers?: readonly ContainerSpec[];
  // Image volumes (Kubernetes 1.31+), added after the captured pod's own volumes.
  readonly volumes?: readonly ContainerSpec[];
}

// The captured Pod's spec with its container lists replaced and image volumes added.
export function podSpec(lists: PodSpecLists): JsonObject {
  const captured = loadCapture('podCreate');
  const spec = structuredClone(((captured['request'] as JsonObject)['object'] as JsonObject)['spec'] as JsonObject);
  const template = (spec['containers'] as JsonObject[])[0] ?? {};
  delete spec['containers'];
  for (const [list, containers] of Object.entries(lists) as [string, readonly ContainerSpec[]][]) {
    if (list === 'volumes') {
      const existing = Array.isArray(spec['volumes']) ? spec['volumes'] : [];
      spec['volumes'] = [...existing, ...containers.map((volume) => ({ name: volume.name, image: { reference: volume.image, pullPolicy: 'IfNotPresent' } }))];
      continue;
    }
    spec[list] = containers.map((container) => ({ ...template, name: container.name, image: container.image }));
  }
  return spec;
}

// An object of the given kind holding `spec` at the kind's pod spec path.
export function objectOfKind(kindName: keyof typeof KINDS, spec: JsonObject): JsonObject {
  const kind = KINDS[kindName];
  const object: JsonObject = {
    kind: kind.kind,
    apiVersion: kind.group === '' ? kind.version : `${kind.group}/${kind.version}`,
    metadata: { name: 'hello', namespace: 'default' },
  };
  let cursor = object;
  const path = POD_SPEC_PATHS[kindName];
  path.forEach((segment, index) => {
    if (index === path.length - 1) {
      cursor[segment] = spec;
    } else {
      const next: JsonObject = (cursor[segment] as JsonObject | undefined) ?? {};
      cursor[segment] = next;
      cursor = next;
    }
  });
  return object;
}

export interface ReviewOptions {
  readonly capture?: keyof typeof CAPTURES;
  readonly uid?: string;
  readonly namespace?: string;
  readonly operation?: string;
  readonly subResource?: string;
  readonly dryRun?: boolean;
  // The request's oldObject (what an UPDATE replaces); left as captured when absent.
  readonly oldObject?: Json;
}

// A captured review with its kind, resource and object (and oldObject, when given) swapped
// for the given ones.
export function reviewFor(kindName: keyof typeof KINDS, object: Json, options: ReviewOptions = {}): JsonObject {
  const review = structuredClone(loadCapture(options.capture ?? 'podCreate'));
  const request = review['request'] as JsonObject;
  const kind = KINDS[kindName];
  request['kind'] = { group: kind.group, version: kind.version, kind: kind.kind };
  request['requestKind'] = request['kind'];
  request['resource'] = { group: kind.group, version: kind.version, resource: kind.resource };
  request['requestResource'] = request['resource'];
  request['object'] = object;
  if (options.uid !== undefined) request['uid'] = options.uid;
  if (options.namespace !== undefined) request['namespace'] = options.namespace;
  if (options.operation !== undefined) request['operation'] = options.operation;
  if (options.subResource !== undefined) request['subResource'] = options.subResource;
  if (options.dryRun !== undefined) request['dryRun'] = options.dryRun;
  if (options.oldObject !== undefined) request['oldObject'] = options.oldObject;
  return review;
}

// Applies a base64 JSON Patch made only of `replace` operations to a copy of `object`.
// A path that does not exist, or any other operation, fails: the webhook must only
// replace fields that are there.
export function applyReplacePatch(object: Json, patchBase64: string): Json {
  const operations = JSON.parse(Buffer.from(patchBase64, 'base64').toString('utf8')) as { op: string; path: string; value: Json }[];
  const copy = structuredClone(object);
  for (const operation of operations) {
    if (operation.op !== 'replace') throw new Error(`unexpected patch operation ${operation.op}`);
    const tokens = operation.path.split('/').slice(1).map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error('cannot replace the whole document');
    let cursor: Json = copy;
    for (const token of tokens) cursor = step(cursor, token, operation.path);
    if (Array.isArray(cursor)) {
      if (!/^\d+$/.test(last) || Number(last) >= cursor.length) throw new Error(`no element ${operation.path}`);
      cursor[Number(last)] = operation.value;
    } else if (cursor !== null && typeof cursor === 'object' && Object.hasOwn(cursor, last)) {
      cursor[last] = operation.value;
    } else {
      throw new Error(`no member ${operation.path}`);
    }
  }
  return copy;
}

function step(cursor: Json, token: string, path: string): Json {
  if (Array.isArray(cursor) && /^\d+$/.test(token) && Number(token) < cursor.length) return cursor[Number(token)] as Json;
  if (cursor !== null && typeof cursor === 'object' && !Array.isArray(cursor) && Object.hasOwn(cursor, token)) return cursor[token] as Json;
  throw new Error(`patch path ${path} does not exist`);
}

// Every image of an object, by list, read at the kind's pod spec path: container images,
// and under `volumes` the references of image volumes (when there are any).
export function imagesOf(object: Json, path: readonly string[]): Record<string, string[]> {
  let spec: Json = object;
  for (const segment of path) spec = (spec as JsonObject)[segment] as Json;
  const result: Record<string, string[]> = {};
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const items = (spec as JsonObject)[list];
    if (Array.isArray(items)) result[list] = items.map((item) => (item as JsonObject)['image'] as string);
  }
  const volumes = (spec as JsonObject)['volumes'];
  const references = Array.isArray(volumes)
    ? volumes.flatMap((volume) => {
        const image = (volume as JsonObject)['image'];
        return image !== null && typeof image === 'object' && !Array.isArray(image) ? [image['reference'] as string] : [];
      })
    : [];
  if (references.length > 0) result['volumes'] = references;
  return result;
}
