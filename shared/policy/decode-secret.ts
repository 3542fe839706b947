import { isTrustgateError } from '../errors.js';
import { isPlainObject } from '../json.js';
import { decodePullSecret, isPullSecretType } from '../registry/pull-secret.js';
import { decodeMetadata, decodeStringMap } from './decode-metadata.js';
import type { PolicySecret } from './model.js';
import type { ProblemScope } from './problem-scope.js';

const SECRET_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'type', 'immutable', 'data', 'stringData']);
// Kubernetes Secret key syntax.
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
// Standard alphabet, padded, as Kubernetes (Go's base64.StdEncoding) requires for `data`.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Decode a v1 Secret. `data` values must be valid base64 (Buffer.from would silently skip bad
// characters and hand back different key bytes); `stringData` entries override `data` entries
// with the same key, as the API server does. Namespace defaults to `default`.
export function decodeSecret(document: Readonly<Record<string, unknown>>, scope: ProblemScope): PolicySecret | undefined {
  const before = scope.count();
  if (document['apiVersion'] !== 'v1') scope.add('apiVersion', `must be "v1" for a Secret`);
  for (const key of Object.keys(document)) {
    if (!SECRET_FIELDS.has(key)) scope.add(key, 'is not a known field of Secret');
  }
  const metadata = decodeMetadata(document['metadata'], scope.child('metadata'), true);
  if (document['type'] !== undefined && typeof document['type'] !== 'string') scope.add('type', 'must be string');
  if (document['immutable'] !== undefined && typeof document['immutable'] !== 'boolean') {
    scope.add('immutable', 'must be boolean');
  }
  const data = decodeData(document['data'], scope.child('data'));
  const stringData = decodeStringMap(document['stringData'], scope.child('stringData'));
  if (stringData !== undefined) {
    for (const key of stringData.keys()) {
      if (!SECRET_KEY.test(key)) scope.child('stringData').add(key, 'is not a valid Secret key');
    }
  }
  if (scope.count() !== before || metadata === undefined || data === undefined || stringData === undefined) return undefined;
  const merged = new Map(data);
  const encoder = new TextEncoder();
  for (const [key, text] of stringData) merged.set(key, encoder.encode(text));
  const type = typeof document['type'] === 'string' ? document['type'] : undefined;
  const secret = { name: metadata.name, namespace: metadata.namespace ?? 'default', ...(type === undefined ? {} : { type }), data: merged };
  // A pull secret that does not decode is a problem of the policy files, found at load time
  // rather than at the admission that needs it. The message names no value.
  if (isPullSecretType(type)) {
    try {
      decodePullSecret(secret);
    } catch (error) {
      if (!isTrustgateError(error)) throw error;
      scope.add('data', error.message);
      return undefined;
    }
  }
  return secret;
}

// `data`: Secret key -> base64 text, decoded to bytes; every bad entry is reported.
function decodeData(value: unknown, scope: ProblemScope): Map<string, Uint8Array> | undefined {
  const data = new Map<string, Uint8Array>();
  if (value === undefined || value === null) return data;
  if (!isPlainObject(value)) {
    scope.add('', 'must be object');
    return undefined;
  }
  let valid = true;
  for (const [key, encoded] of Object.entries(value)) {
    if (!SECRET_KEY.test(key)) {
      scope.add(key, 'is not a valid Secret key');
      valid = false;
    } else if (typeof encoded !== 'string') {
      scope.add(key, 'must be a base64 string');
      valid = false;
    } else if (!BASE64.test(encoded)) {
      scope.add(key, 'must be valid padded base64');
      valid = false;
    } else {
      data.set(key, new Uint8Array(Buffer.from(encoded, 'base64')));
    }
  }
  return valid ? data : undefined;
}
