import { isPlainObject } from '../json.js';
import type { ProblemScope } from './problem-scope.js';

export interface DecodedMetadata {
  readonly name: string;
  readonly namespace?: string;
  readonly annotations: ReadonlyMap<string, string>;
}

// Kubernetes object names (DNS-1123 subdomain) and namespace names (DNS-1123 label).
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Decode `metadata` of one object. Fields Kubernetes adds when an object is exported (uid,
// resourceVersion, managedFields, ...) are ignored; the ones this product reads are checked.
// A namespace on a cluster-scoped object is an error rather than ignored, since it suggests the
// author meant an ImagePolicy and would otherwise get a policy for every namespace.
export function decodeMetadata(value: unknown, scope: ProblemScope, namespaced: boolean): DecodedMetadata | undefined {
  if (!isPlainObject(value)) {
    scope.add('', value === undefined ? 'is required' : 'must be object');
    return undefined;
  }
  const before = scope.count();
  const name = value['name'];
  if (typeof name !== 'string') {
    scope.add('name', name === undefined ? 'is required' : 'must be string');
  } else if (name.length > 253 || !SUBDOMAIN.test(name)) {
    scope.add('name', `must be a lower-case DNS subdomain name, got "${truncate(name)}"`);
  }
  const namespace = value['namespace'];
  if (namespace !== undefined) {
    if (!namespaced) scope.add('namespace', 'must not be set on a cluster-scoped object');
    else if (typeof namespace !== 'string') scope.add('namespace', 'must be string');
    else if (namespace.length > 63 || !LABEL.test(namespace)) {
      scope.add('namespace', `must be a lower-case DNS label, got "${truncate(namespace)}"`);
    }
  }
  const annotations = decodeStringMap(value['annotations'], scope.child('annotations'));
  decodeStringMap(value['labels'], scope.child('labels'));
  if (scope.count() !== before || typeof name !== 'string' || annotations === undefined) return undefined;
  return typeof namespace === 'string' ? { name, namespace, annotations } : { name, annotations };
}

// A map of string to string (annotations, labels, stringData); absent means empty.
export function decodeStringMap(value: unknown, scope: ProblemScope): ReadonlyMap<string, string> | undefined {
  if (value === undefined || value === null) return new Map();
  if (!isPlainObject(value)) {
    scope.add('', 'must be object');
    return undefined;
  }
  const map = new Map<string, string>();
  let valid = true;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string') {
      map.set(key, entry);
    } else {
      scope.add(key, 'must be string');
      valid = false;
    }
  }
  return valid ? map : undefined;
}

// Shorten user input quoted in a one-line message.
export function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
