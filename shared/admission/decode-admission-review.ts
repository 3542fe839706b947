// Decodes a body posted to the webhook, once, into a DecodedReview. It never throws and
// never answers "allowed" for something it does not understand: a review it cannot judge
// becomes a `reject` (allowed:false, code 400) naming every bad field path, so a malformed
// or unexpected object fails closed instead of slipping its images past verification.
// Security: the body comes from parseJsonBytesInPlace (objects keep Object.prototype), so
// every member is read with ownMember: a key the review does not hold reads as undefined,
// never as something inherited, and every key it holds is data.
//
// On UPDATE only the images new to the object are checked: an image string the old object
// already held at any image field of its pod spec is neither verified nor patched (see
// heldImages), so metadata edits of a running pod (a controller removing a finalizer) never
// depend on its images still verifying, and never restart its containers on a new digest.
import type { FieldProblem } from '../errors.js';
import { isPlainObject, ownMember } from '../json.js';
import {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  type AdmissionRequest,
  type ContainerImage,
  type DecodedReview,
  type GroupVersionKind,
} from './admission-review.js';
import { toJsonPointer } from './json-patch.js';
import { ALL_POD_IMAGE_LISTS, podImageField, type PodImageList } from './pod-image-fields.js';
import { lookupWorkloadShape, type WorkloadShape } from './workload-kinds.js';
import { DEFAULT_SERVICE_ACCOUNT, NO_PULL_SECRETS, type WorkloadPullSecrets } from '../registry/workload-pull-secrets.js';

// Operations that can bring a new image: the rest (DELETE, CONNECT) are admitted unchecked.
const CHECKED_OPERATIONS = new Set(['CREATE', 'UPDATE']);
const UNCHECKED_OPERATIONS = new Set(['DELETE', 'CONNECT']);
// Far above any real pod (Kubernetes objects are capped at ~1.5 MiB), low enough that a
// hostile object cannot make one review fan out into unbounded verifications.
const MAX_CONTAINERS = 1024;
const MAX_IMAGE_LENGTH = 4096;

export function decodeAdmissionReview(body: unknown): DecodedReview {
  if (!isPlainObject(body)) return { kind: 'not-a-review', reason: 'body must be a JSON object' };
  const apiVersion = ownMember(body, 'apiVersion');
  const reviewKind = ownMember(body, 'kind');
  if (apiVersion !== ADMISSION_API_VERSION || reviewKind !== ADMISSION_KIND) {
    return {
      kind: 'not-a-review',
      reason: `expected apiVersion ${ADMISSION_API_VERSION} kind ${ADMISSION_KIND}, got ${describe(apiVersion)} ${describe(reviewKind)}`,
    };
  }
  const raw = ownMember(body, 'request');
  if (!isPlainObject(raw)) return { kind: 'not-a-review', reason: 'AdmissionReview has no request object' };

  const problems: FieldProblem[] = [];
  const fail = (path: string, message: string): void => void problems.push({ path, message });
  const uid = ownMember(raw, 'uid');
  if (typeof uid !== 'string' || uid.length === 0) fail('request.uid', 'must be a non-empty string');
  const kind = decodeKind(ownMember(raw, 'kind'), fail);
  const subResource = optionalString(raw, 'subResource', fail);
  const name = optionalString(raw, 'name', fail);
  const namespace = optionalString(raw, 'namespace', fail);
  const operation = ownMember(raw, 'operation');
  if (typeof operation !== 'string' || !(CHECKED_OPERATIONS.has(operation) || UNCHECKED_OPERATIONS.has(operation))) {
    fail('request.operation', `must be one of CREATE, UPDATE, DELETE, CONNECT, got ${describe(operation)}`);
  }
  const dryRun = ownMember(raw, 'dryRun') ?? false;
  if (typeof dryRun !== 'boolean') fail('request.dryRun', 'must be a boolean');
  const uidText = typeof uid === 'string' ? uid : '';
  if (problems.length > 0 || kind === undefined) return reject(uidText, problems);

  // The workload's namespace; cluster-scoped requests (none of the admitted kinds is) and
  // objects created with generateName still name their namespace here.
  const request: AdmissionRequest = {
    uid: uidText,
    kind,
    namespace: namespace ?? '',
    operation: operation as string,
    dryRun: dryRun as boolean,
    ...(subResource === undefined || subResource === '' ? {} : { subResource }),
    ...(name === undefined || name === '' ? {} : { name }),
  };
  if (UNCHECKED_OPERATIONS.has(request.operation)) {
    return { kind: 'unchecked', request, reason: `operation ${request.operation} carries no new image` };
  }
  const shape = lookupWorkloadShape(kind, request.subResource);
  if (shape.kind === 'unchecked') return { kind: 'unchecked', request, reason: shape.reason };
  if (shape.kind === 'unknown') return { kind: 'reject', uid: uidText, request, reason: shape.reason };
  if (request.namespace === '') fail('request.namespace', 'must name the namespace of the workload');
  const object = ownMember(raw, 'object');
  const containers = decodeContainers(object, 'request.object', shape.shape.podSpec, shape.shape.lists, fail);
  const pullSecrets = decodePullSecrets(object, shape.shape, fail);
  if (problems.length > 0) return reject(uidText, problems, request);
  if (request.operation !== 'UPDATE') return { kind: 'check', request, containers, pullSecrets };
  const held = heldImages(ownMember(raw, 'oldObject'), shape.shape);
  if (held === undefined) return { kind: 'check', request, containers, pullSecrets };
  const unchanged = containers.filter((container) => held.has(heldKey(container)));
  if (unchanged.length === 0) return { kind: 'check', request, containers, pullSecrets };
  const fresh = containers.filter((container) => !held.has(heldKey(container)));
  if (fresh.length > 0) return { kind: 'check', request, containers: fresh, unchanged, pullSecrets };
  const count = new Set(unchanged.map((container) => container.image)).size;
  return { kind: 'unchecked', request, reason: `operation UPDATE changes no image (${count} image${count === 1 ? '' : 's'} unchanged from the old object)`, unchanged };
}

// On UPDATE, the images the old object already held, each as its list, item name and exact
// image string (heldKey), read from every image field of its pod spec (pod-image-fields.ts:
// containers, init and ephemeral containers, image volumes) at the same path as the
// object's; undefined when the old object is missing or does not decode, and then every image
// of the object is checked (fail closed). Bounded like the object: at most MAX_CONTAINERS
// images of at most MAX_IMAGE_LENGTH characters.
// Security: a container (or image volume) the old object already had, with the same image
// string, is one the runtime was already told to run in this pod (or template): keeping it
// makes nothing pullable that was not already. Anything else is checked: a changed string (a
// new tag, digest, registry spelling), and a NEW item even when another item already holds
// its string. A new item makes the kubelet pull its image now, and a tag (a pod admitted
// with `mutateImage: false`, or from before trustgate) may by now name another digest: an
// ephemeral container added with the app container's `app:v1` must not run whatever `v1`
// names today unchecked. Pods a controller creates from an updated template get their own
// Pod CREATE review, where every image is checked. The old object comes from the API server
// in the same review as the object: whoever could forge it could forge the object too.
function heldImages(oldObject: unknown, shape: WorkloadShape): ReadonlySet<string> | undefined {
  let decodable = true;
  const images = decodeContainers(oldObject, 'request.oldObject', shape.podSpec, ALL_POD_IMAGE_LISTS, () => void (decodable = false));
  return decodable ? new Set(images.map(heldKey)) : undefined;
}

// One item's identity for heldImages: its list, its name and its image string (names are
// unique within a list; NUL appears in none of them).
function heldKey(container: ContainerImage): string {
  return `${container.list}\u0000${container.name}\u0000${container.image}`;
}

// Every image of `object` (the review's member at `where`) in the given lists of the pod spec
// at `podSpecPath` (pod-image-fields.ts), in list order, each with the pointer to its field.
// Items of a list whose image is optional (volumes of other types) are skipped only when
// they lack the image object altogether.
function decodeContainers(
  object: unknown,
  where: string,
  podSpecPath: readonly string[],
  lists: readonly PodImageList[],
  fail: (path: string, message: string) => void,
): ContainerImage[] {
  if (!isPlainObject(object)) {
    fail(where, 'must be an object');
    return [];
  }
  let spec: unknown = object;
  for (let depth = 0; depth < podSpecPath.length; depth += 1) {
    spec = isPlainObject(spec) ? ownMember(spec, podSpecPath[depth] as string) : undefined;
    if (!isPlainObject(spec)) {
      fail(`${where}.${podSpecPath.slice(0, depth + 1).join('.')}`, 'must be an object holding the pod spec');
      return [];
    }
  }
  const podSpec = spec as Record<string, unknown>;
  const template = isPodTemplate(podSpecPath);
  const containers: ContainerImage[] = [];
  for (const list of lists) {
    const field = podImageField(list);
    const items = ownMember(podSpec, list);
    if (items === undefined || items === null) continue;
    // Field paths are only spelled out for a problem; pointers share the list's prefix.
    const listPath = (): string => `${where}.${[...podSpecPath, list].join('.')}`;
    if (!Array.isArray(items)) {
      fail(listPath(), `must be an array of ${field.label}s`);
      continue;
    }
    const pointers = imagePointersOf(podSpecPath, list);
    const [first, ...rest] = field.imagePath;
    for (let index = 0; index < items.length; index += 1) {
      const item: unknown = items[index];
      if (!isPlainObject(item)) {
        fail(`${listPath()}[${index}]`, 'must be an object');
        continue;
      }
      let image = ownMember(item, first);
      if (!field.everyItem && (image === undefined || image === null)) continue;
      const name = ownMember(item, 'name');
      if (typeof name !== 'string' || name.length === 0) fail(`${listPath()}[${index}].name`, 'must be a non-empty string');
      const holder = image;
      for (const segment of rest) image = isPlainObject(image) ? ownMember(image, segment) : undefined;
      if (template && (rest.length === 0 || isPlainObject(holder)) && isTemplatePlaceholder(image, field.everyItem)) continue;
      if (typeof image !== 'string' || image.length === 0 || image.length > MAX_IMAGE_LENGTH) {
        fail(`${listPath()}[${index}].${field.imagePath.join('.')}`, 'must be a non-empty image reference');
        continue;
      }
      containers.push({ list, index, name: typeof name === 'string' ? name : '', image, pointer: imagePointer(pointers, index) });
    }
  }
  if (containers.length > MAX_CONTAINERS) fail(`${where}.${podSpecPath.join('.')}`, `holds more than ${MAX_CONTAINERS} images`);
  return containers;
}

// Whether the pod spec at `podSpecPath` is a template's (a Deployment's, a CronJob's, a
// PodTemplate's: every such path runs through a `template` member) rather than a Pod's.
function isPodTemplate(podSpecPath: readonly string[]): boolean {
  return podSpecPath.includes('template');
}

// An image field of a pod template that the API server accepts there but refuses in every
// Pod: a container image with leading or trailing whitespace (`" "` is the placeholder that
// image-change triggers, OpenShift's among them, fill in later), and an image volume's
// missing, empty or whitespace-padded reference (of an image object: an `image` that is no
// object is refused as malformed, as before). Such a field is passed over, neither
// checked nor patched: no Pod made from the template can hold it, and the Pods the
// controller makes get their own review, as does the template once the placeholder is
// replaced. Refusing it would refuse a valid object for a field that runs nothing.
function isTemplatePlaceholder(image: unknown, everyItem: boolean): boolean {
  if (!everyItem && (image === undefined || image === null || image === '')) return true;
  return typeof image === 'string' && GO_SPACE_AT_AN_END.test(image);
}

// A first or last character that Go's strings.TrimSpace (unicode.IsSpace) removes, as the
// API server's Pod validation trims: not String.prototype.trim's set, which adds U+FEFF and
// lacks U+0085.
const GO_SPACE_AT_AN_END = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;

// The pointers to the images of a list's items, per pod spec path (the workload shapes'
// constant arrays) and list, each built once and then the same string review after review
// (the patch is serialised from them): at most MAX_CONTAINERS + 1 per list and path, as an
// item past them fails the review anyway.
interface ImagePointers {
  // The list's pointer and the path from an item to its image, as pointers.
  readonly list: string;
  readonly image: string;
  readonly byIndex: string[];
}

const IMAGE_POINTERS = new WeakMap<readonly string[], Map<PodImageList, ImagePointers>>();

function imagePointersOf(podSpecPath: readonly string[], list: PodImageList): ImagePointers {
  let byList = IMAGE_POINTERS.get(podSpecPath);
  if (byList === undefined) {
    byList = new Map();
    IMAGE_POINTERS.set(podSpecPath, byList);
  }
  let pointers = byList.get(list);
  if (pointers === undefined) {
    pointers = { list: toJsonPointer([...podSpecPath, list]), image: toJsonPointer(podImageField(list).imagePath), byIndex: [] };
    byList.set(list, pointers);
  }
  return pointers;
}

// The pointer to the image of item `index`.
function imagePointer(pointers: ImagePointers, index: number): string {
  const known = pointers.byIndex[index];
  if (known !== undefined) return known;
  const pointer = `${pointers.list}/${index}${pointers.image}`;
  if (index <= MAX_CONTAINERS) pointers.byIndex[index] = pointer;
  return pointer;
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_PULL_SECRETS = 64;

// The pod spec's `imagePullSecrets` names and `serviceAccountName` (or the deprecated
// `serviceAccount`), which say where the workload's registry credentials are. A shape
// without a pod spec (the old EphemeralContainers object) has none of its own.
function decodePullSecrets(object: unknown, shape: WorkloadShape, fail: (path: string, message: string) => void): WorkloadPullSecrets {
  if (shape.podSpec.length === 0) return NO_PULL_SECRETS;
  let spec: unknown = object;
  for (const segment of shape.podSpec) spec = isPlainObject(spec) ? ownMember(spec, segment) : undefined;
  if (!isPlainObject(spec)) return NO_PULL_SECRETS;
  const path = `request.object.${shape.podSpec.join('.')}`;
  const names: string[] = [];
  const list = ownMember(spec, 'imagePullSecrets');
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.length > MAX_PULL_SECRETS) {
      fail(`${path}.imagePullSecrets`, `must be an array of at most ${MAX_PULL_SECRETS} {name} references`);
    } else {
      list.forEach((item: unknown, index) => {
        const name = isPlainObject(item) ? ownMember(item, 'name') : undefined;
        // The API server allows an empty reference ({}); it names nothing.
        if (name === undefined || name === '') return;
        if (typeof name !== 'string' || name.length > 253 || !SUBDOMAIN.test(name)) fail(`${path}.imagePullSecrets[${index}].name`, 'must be a Secret name');
        else names.push(name);
      });
    }
  }
  const account = ownMember(spec, 'serviceAccountName') ?? ownMember(spec, 'serviceAccount');
  let serviceAccount = DEFAULT_SERVICE_ACCOUNT;
  if (account !== undefined && account !== null && account !== '') {
    if (typeof account !== 'string' || account.length > 253 || !SUBDOMAIN.test(account)) fail(`${path}.serviceAccountName`, 'must be a service account name');
    else serviceAccount = account;
  }
  return { imagePullSecrets: names, serviceAccount };
}

function decodeKind(value: unknown, fail: (path: string, message: string) => void): GroupVersionKind | undefined {
  if (!isPlainObject(value)) {
    fail('request.kind', 'must be an object {group, version, kind}');
    return undefined;
  }
  const group = ownMember(value, 'group');
  const version = ownMember(value, 'version');
  const kind = ownMember(value, 'kind');
  if (typeof group !== 'string') fail('request.kind.group', 'must be a string');
  if (typeof version !== 'string' || version === '') fail('request.kind.version', 'must be a non-empty string');
  if (typeof kind !== 'string' || kind === '') fail('request.kind.kind', 'must be a non-empty string');
  if (typeof group !== 'string' || typeof version !== 'string' || typeof kind !== 'string') return undefined;
  return { group, version, kind };
}

function optionalString(raw: Record<string, unknown>, key: string, fail: (path: string, message: string) => void): string | undefined {
  const value = ownMember(raw, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    fail(`request.${key}`, 'must be a string');
    return undefined;
  }
  return value;
}

function reject(uid: string, problems: readonly FieldProblem[], request?: AdmissionRequest): DecodedReview {
  const reason = `malformed AdmissionReview: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`;
  return { kind: 'reject', uid, reason, ...(request === undefined ? {} : { request }) };
}

// A short, quoted rendering of an unexpected value for a message.
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- JSON.stringify gives undefined only for functions and symbols, which String renders
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
