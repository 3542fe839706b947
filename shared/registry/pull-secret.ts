// Registry credentials from Kubernetes pull Secrets, decoded once at the edge:
//   kubernetes.io/dockerconfigjson: data[".dockerconfigjson"] = {"auths": {KEY: ENTRY}}
//   kubernetes.io/dockercfg:        data[".dockercfg"]        = {KEY: ENTRY}
// where ENTRY holds `auth` (base64 of "user:password", which wins over the fields, as in the
// kubelet), or `username`/`password`, and/or `identitytoken` (an OAuth2 refresh token), and
// KEY names the registry as the Docker client writes it (`https://index.docker.io/v1/`,
// `registry.example:5000`, `registry.example/team`, `*.example.com`). Field names are read
// as the kubelet's Go decoder reads them: in any case, the last of repeated members winning.
// Security: a Secret's bytes are hostile input (a policy file, an API object a workload's
// owner wrote), so size, entry count and field lengths are bounded; and its values are
// credentials, so no message below ever quotes a value: only the Secret's name, the entry's
// registry key (a host name, not secret) and what is wrong.
import { ErrorCode, TrustgateError } from '../errors.js';
import { goFieldValues } from '../go-json-fields.js';
import { JsonMembers, parseJsonInOrder, type JsonInOrder } from '../json-in-order.js';

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG_TYPE = 'kubernetes.io/dockercfg';
const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
const DOCKER_CFG_KEY = '.dockercfg';

// The API server stores Secrets up to 1 MiB; a pull secret is a few hundred bytes.
export const MAX_PULL_SECRET_BYTES = 256 * 1024;
const MAX_ENTRIES = 128;
const MAX_KEY_LENGTH = 512;
const MAX_FIELD_LENGTH = 16 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// One credential: user name and password, or an identity (refresh) token, or both.
export interface RegistryCredential {
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
}

// One entry of a pull secret: the registry key as written, and its credential.
export interface PullSecretEntry {
  readonly key: string;
  readonly credential: RegistryCredential;
  // Where it came from, for messages: `Secret <namespace>/<name>`, never a value.
  readonly source: string;
}

// What decoding needs of a Secret: its identity, type and decoded data.
export interface SecretData {
  readonly name: string;
  readonly namespace: string;
  readonly type?: string | undefined;
  readonly data: ReadonlyMap<string, Uint8Array>;
}

export function isPullSecretType(type: string | undefined): boolean {
  return type === DOCKER_CONFIG_JSON_TYPE || type === DOCKER_CFG_TYPE;
}

// The entries of a pull Secret, in the order the document lists them. A Secret of another
// type, or without its data key, or whose content is not a Docker config, is refused with
// POLICY_INVALID naming the Secret (the caller decides whether that denies).
export function decodePullSecret(secret: SecretData): PullSecretEntry[] {
  const source = `Secret ${secret.namespace}/${secret.name}`;
  const fail = (message: string): TrustgateError => new TrustgateError(ErrorCode.POLICY_INVALID, `${source}: ${message}`);
  const dataKey = secret.type === DOCKER_CONFIG_JSON_TYPE ? DOCKER_CONFIG_JSON_KEY : secret.type === DOCKER_CFG_TYPE ? DOCKER_CFG_KEY : undefined;
  if (dataKey === undefined) throw fail(`type must be ${DOCKER_CONFIG_JSON_TYPE} or ${DOCKER_CFG_TYPE} to hold registry credentials`);
  const bytes = secret.data.get(dataKey);
  if (bytes === undefined) throw fail(`data.${dataKey} is required for type ${secret.type ?? ''}`);
  if (bytes.length > MAX_PULL_SECRET_BYTES) throw fail(`data.${dataKey} is ${bytes.length} bytes, more than the ${MAX_PULL_SECRET_BYTES} read`);
  let document: JsonInOrder;
  try {
    document = parseJsonInOrder(new TextDecoder('utf-8', { fatal: true }).decode(bytes), ErrorCode.POLICY_INVALID, dataKey);
  } catch {
    // The parser's message quotes the text around the error, which is the credential.
    throw fail(`data.${dataKey} is not UTF-8 JSON`);
  }
  if (!(document instanceof JsonMembers)) throw fail(`data.${dataKey} must be a JSON object`);
  // Read as the kubelet reads it (Go's encoding/json): the legacy form is the registry map
  // itself; the config form's registry map is every member whose key is `auths` in any case,
  // merged in document order into one map (a later registry key replaces an earlier one, a
  // null `auths` empties the map).
  const registries = new Map<string, JsonInOrder>();
  const maps = dataKey === DOCKER_CONFIG_JSON_KEY ? goFieldValues(document, 'auths') : [document];
  for (const map of maps) {
    if (map === null) registries.clear();
    else if (!(map instanceof JsonMembers)) throw fail(`data.${dataKey}: auths must be an object`);
    else for (const [key, entry] of map.members) registries.set(key, entry);
  }
  if (registries.size > MAX_ENTRIES) throw fail(`data.${dataKey} has ${registries.size} registries, more than the ${MAX_ENTRIES} read`);
  return Array.from(registries, ([key, entry]) => {
    const where = `data.${dataKey}: registry ${JSON.stringify(key.slice(0, 100))}`;
    if (key === '' || key.length > MAX_KEY_LENGTH) throw fail(`${where}: the registry key must have 1 to ${MAX_KEY_LENGTH} characters`);
    return { key, credential: decodeEntry(entry, (message) => fail(`${where}: ${message}`)), source };
  });
}

// One auths entry. `auth` decodes to "user:password" split at the first colon and overrides
// username/password; `email` and the Docker client's other fields are ignored. A field is
// read as Go reads it: every member whose key is the field's name in any case (`Auth`,
// `USERNAME`, `identityToken`) must be a string or null, a null one is skipped, and the last
// string is the field's value ('' meaning absent).
function decodeEntry(entry: JsonInOrder, fail: (message: string) => TrustgateError): RegistryCredential {
  if (!(entry instanceof JsonMembers)) throw fail('must be an object');
  const text = (field: string): string | undefined => {
    let value: string | undefined;
    for (const member of goFieldValues(entry, field)) {
      if (member === null) continue;
      if (typeof member !== 'string') throw fail(`${field} must be a string`);
      value = member;
    }
    if (value === undefined || value === '') return undefined;
    if (value.length > MAX_FIELD_LENGTH) throw fail(`${field} is longer than ${MAX_FIELD_LENGTH} characters`);
    return value;
  };
  let username = text('username');
  let password = text('password');
  const auth = text('auth');
  const identityToken = text('identitytoken');
  if (auth !== undefined) {
    if (!BASE64.test(auth)) throw fail('auth must be padded base64 of "username:password"');
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw fail('auth must decode to "username:password"');
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  for (const [field, value] of [['username', username], ['password', password], ['identitytoken', identityToken]] as const) {
    // Sent in an HTTP header or form body: control characters could split a header.
    // eslint-disable-next-line no-control-regex
    if (value !== undefined && /[\x00-\x1f\x7f]/.test(value)) throw fail(`${field} holds control characters`);
  }
  if (identityToken === undefined && (username === undefined || password === undefined || username === '')) {
    throw fail('needs auth, username and password, or identitytoken');
  }
  return {
    ...(username === undefined || username === '' ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(identityToken === undefined ? {} : { identityToken }),
  };
}
