// The images a migration looks at, from what an operator has at hand: image references on
// the command line, a file listing one per line, or a `kubectl get -o json` dump of
// workloads (a List, or one object), whose pod specs are read through the same table of
// image fields admission uses, so the report sees every image admission would verify.
// Security: the dump is the operator's file, but it may come from a cluster anyone can
// create objects in: it is parsed without prototype pollution, and the number of images
// taken from it is capped.
import { lookupWorkloadShape } from '../admission/workload-kinds.js';
import { podImageField } from '../admission/pod-image-fields.js';
import { ErrorCode, TrustgateError } from '../errors.js';
import { isPlainObject, parseJsonSafely } from '../json.js';

// One image to look at, in the namespace whose policies govern it.
export interface ImageInput {
  readonly image: string;
  readonly namespace: string;
  // Where it was found ('deployment team/api container "api"'), when from a workload dump.
  readonly source?: string;
}

// More images than any cluster runs distinct ones; a ceiling on the work a hostile dump causes.
export const MAX_IMAGE_INPUTS = 10_000;

// The images named in a file: a workload dump when the text is a JSON object, otherwise
// one image per line (blank lines and `#` comments skipped), each in every namespace given.
export function decodeImageFile(text: string, namespaces: readonly string[], defaultNamespace: string): ImageInput[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const document = parseJsonSafely(text, ErrorCode.REQUEST_INVALID, 'workload dump');
    return imagesOfWorkloads(document, namespaces, defaultNamespace);
  }
  const images = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return capped(imagesInNamespaces(images, namespaces.length > 0 ? namespaces : [defaultNamespace]));
}

// Each image in each namespace.
export function imagesInNamespaces(images: readonly string[], namespaces: readonly string[]): ImageInput[] {
  return capped(images.flatMap((image) => namespaces.map((namespace) => ({ image, namespace }))));
}

// Every image of every workload in a `kubectl get -o json` answer (kind List with `items`, or
// a single object), in the workload's namespace; only workloads in `namespaces` when any are
// given. Kinds admission does not check (Services, ConfigMaps) are skipped; a pair seen
// twice is listed once.
export function imagesOfWorkloads(document: unknown, namespaces: readonly string[], defaultNamespace: string): ImageInput[] {
  if (!isPlainObject(document)) throw invalid('a workload dump must be a JSON object');
  const items = document['kind'] === 'List' || Array.isArray(document['items']) ? document['items'] : [document];
  if (!Array.isArray(items)) throw invalid('a List must have an "items" array');
  const wanted = new Set(namespaces);
  const seen = new Set<string>();
  const inputs: ImageInput[] = [];
  items.forEach((item: unknown, index) => {
    if (!isPlainObject(item)) throw invalid(`items[${index}] is not an object`);
    const kind = typeof item['kind'] === 'string' ? item['kind'] : '';
    const apiVersion = typeof item['apiVersion'] === 'string' ? item['apiVersion'] : '';
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    const shape = lookupWorkloadShape({ group: group ?? '', version: version ?? '', kind }, undefined);
    if (shape.kind !== 'shape') return;
    const metadata = isPlainObject(item['metadata']) ? item['metadata'] : {};
    const namespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : defaultNamespace;
    if (wanted.size > 0 && !wanted.has(namespace)) return;
    const name = typeof metadata['name'] === 'string' ? metadata['name'] : `items[${index}]`;
    const podSpec = walk(item, shape.shape.podSpec);
    if (!isPlainObject(podSpec)) return;
    for (const list of shape.shape.lists) {
      const field = podImageField(list);
      const entries = podSpec[list];
      if (!Array.isArray(entries)) continue;
      for (const entry of entries as unknown[]) {
        const image = walk(entry, field.imagePath);
        if (typeof image !== 'string' || image === '') continue;
        const key = `${namespace}\n${image}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const entryName = isPlainObject(entry) && typeof entry['name'] === 'string' ? ` "${entry['name']}"` : '';
        inputs.push({ image, namespace, source: `${kind.toLowerCase()} ${namespace}/${name} ${field.label}${entryName}` });
        if (inputs.length > MAX_IMAGE_INPUTS) throw tooMany();
      }
    }
  });
  return inputs;
}

function walk(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (!isPlainObject(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function capped(inputs: ImageInput[]): ImageInput[] {
  if (inputs.length > MAX_IMAGE_INPUTS) throw tooMany();
  return inputs;
}

function tooMany(): TrustgateError {
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `more than ${MAX_IMAGE_INPUTS} images to look at: split the list`);
}

function invalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `workload dump: ${message}`);
}
