// Decoders from served Notary v1 bytes to the read-only model in model.ts. Each checks the
// whole document and reports every bad field path in one TRUST_METADATA_INVALID error.
// A decoded envelope is well-formed only; signatures are checked by signatures.ts.
import { canonicalize } from '@tufjs/canonical-json';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { parseJsonBytes } from '../../json.js';
import { FieldReader, describeKey, describeValue } from './field-reader.js';
import { computeKeyId, decodePublicKey } from './keys.js';
import {
  TOP_LEVEL_ROLES,
  type AnyMetadata,
  type DelegationRole,
  type Envelope,
  type FileMeta,
  type PublicKey,
  type RoleKeys,
  type RootMetadata,
  type Signature,
  type SnapshotMetadata,
  type TargetsMetadata,
  type TimestampMetadata,
  type TopLevelRole,
} from './model.js';

// Notary's rule for delegation names (data.IsDelegation): under 'targets/', lower-case
// letters, digits, '-', '_' and '/', a clean path (no empty segment, no trailing '/'),
// under 256 characters. Names end up in URLs and cache keys, so nothing else gets through.
const DELEGATION_NAME = /^targets(\/[-a-z0-9_]+)+$/;
const MAX_ROLE_NAME_LENGTH = 255;
// The member names messages may repeat (see describeKey): key IDs, role file names, tags,
// hash names.
const KEY_ID_SHAPE = /^[0-9a-f]{64}$/;
const FILE_NAME_SHAPE = /^(?:root|targets|snapshot|timestamp)(?:\/[-a-z0-9_]{1,64}){0,4}$/;
const HASH_NAME_SHAPE = /^sha(?:256|512)$/;
// A Docker tag: what a targets entry is named by.
const TAG_SHAPE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isDelegationName(name: string): boolean {
  return name.length <= MAX_ROLE_NAME_LENGTH && DELEGATION_NAME.test(name);
}

// Go's encoding/json writes a nil slice or map as null and reads null back into a slice, map
// or struct field as its empty value, and Notary publishes null in ordinary repositories
// (`notary delegation remove` of the last role writes "roles": null; of a role's only key,
// "keyids": null). So for every field Notary declares as a slice, map or struct, null is read
// as the empty value, exactly as if written [] or {}. Security: this reaches no value the
// explicit empty spelling did not already reach (no keys never meet a threshold, no paths
// delegate nothing, no hashes bind nothing and are refused where a hash is needed), and the
// signatures are still checked over the canonical JSON of what was signed, null included.
// Absent fields keep their own rules; null inside an array (a null role or signature) stays
// invalid.
function nullAsEmptyArray(value: unknown): unknown {
  return value === null ? [] : value;
}

function nullAsEmptyObject(value: unknown): unknown {
  return value === null ? {} : value;
}

export function decodeRoot(raw: Uint8Array): Envelope<RootMetadata> {
  return decodeEnvelope(raw, 'Root', (signed, reader) => {
    const keys = readKeys(nullAsEmptyObject(signed.keys), 'signed.keys', reader);
    const rolesObject = reader.object(nullAsEmptyObject(signed.roles), 'signed.roles');
    const roles: Partial<Record<TopLevelRole, RoleKeys>> = {};
    if (rolesObject) {
      for (const name of TOP_LEVEL_ROLES) {
        const role = readRoleKeys(rolesObject[name], `signed.roles.${name}`, reader);
        if (role) roles[name] = role;
      }
    }
    // Absent means false, as Go's zero value.
    const consistentSnapshot = signed.consistent_snapshot === undefined ? false : reader.boolean(signed.consistent_snapshot, 'signed.consistent_snapshot');
    return (common) =>
      ({ type: 'Root', ...common, keys: keys ?? new Map(), roles: roles as Record<TopLevelRole, RoleKeys>, consistentSnapshot: consistentSnapshot ?? false });
  });
}

export function decodeTimestamp(raw: Uint8Array): Envelope<TimestampMetadata> {
  return decodeEnvelope(raw, 'Timestamp', (signed, reader) => {
    const meta = reader.object(nullAsEmptyObject(signed.meta), 'signed.meta');
    const snapshot = meta ? readFileMeta(meta.snapshot, 'signed.meta.snapshot', reader) : undefined;
    return (common) => ({ type: 'Timestamp', ...common, snapshot: snapshot as FileMeta });
  });
}

export function decodeSnapshot(raw: Uint8Array): Envelope<SnapshotMetadata> {
  return decodeEnvelope(raw, 'Snapshot', (signed, reader) => {
    const meta = readFileMetaMap(nullAsEmptyObject(signed.meta), 'signed.meta', reader, FILE_NAME_SHAPE);
    return (common) => ({ type: 'Snapshot', ...common, meta: meta ?? new Map() });
  });
}

// Top-level targets and delegated roles alike (Notary serves both with _type "Targets").
export function decodeTargets(raw: Uint8Array): Envelope<TargetsMetadata> {
  return decodeEnvelope(raw, 'Targets', (signed, reader) => {
    const targets = readFileMetaMap(nullAsEmptyObject(signed.targets), 'signed.targets', reader, TAG_SHAPE);
    // Absent (or null) delegations, keys and roles mean none, as Go's zero value.
    const delegationsObject = signed.delegations === undefined ? {} : reader.object(nullAsEmptyObject(signed.delegations), 'signed.delegations');
    let keys: ReadonlyMap<string, PublicKey> | undefined;
    let roles: DelegationRole[] | undefined;
    if (delegationsObject) {
      keys = delegationsObject.keys === undefined ? new Map() : readKeys(nullAsEmptyObject(delegationsObject.keys), 'signed.delegations.keys', reader);
      roles = delegationsObject.roles === undefined ? [] : readDelegationRoles(nullAsEmptyArray(delegationsObject.roles), 'signed.delegations.roles', reader);
    }
    return (common) => ({
      type: 'Targets',
      ...common,
      targets: targets ?? new Map(),
      delegations: { keys: keys ?? new Map(), roles: roles ?? [] },
    });
  });
}

type Common = { readonly version: number; readonly expires: Date };
type SignedDecoder<T> = (signed: Record<string, unknown>, reader: FieldReader) => (common: Common) => T;

// The envelope shared by every role: {signed: {_type, version, expires, ...}, signatures}.
// The role-specific part reads its fields first and only builds the value once no problem
// was found, so a partially valid document never escapes.
function decodeEnvelope<T extends AnyMetadata>(raw: Uint8Array, type: T['type'], decodeSigned: SignedDecoder<T>): Envelope<T> {
  const what = `${type.toLowerCase()} metadata`;
  let json: unknown;
  try {
    json = parseJsonBytes(raw, ErrorCode.TRUST_METADATA_INVALID, what);
  } catch {
    // The parser's message quotes the text around the error; the text is the server's.
    throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `${what} is not valid JSON`);
  }
  const reader = new FieldReader();
  const document = reader.object(json, '(document)');
  const signed = document ? reader.object(document.signed, 'signed') : undefined;
  const signatures = document ? readSignatures(nullAsEmptyArray(document.signatures), 'signatures', reader) : undefined;
  let build: ((common: Common) => T) | undefined;
  let version: number | undefined;
  let expires: Date | undefined;
  let canonical: Uint8Array | undefined;
  if (signed) {
    if (signed._type !== type) reader.report('signed._type', `expected "${type}", got ${describeValue(signed._type)}`);
    version = reader.integer(signed.version, 'signed.version', 1);
    expires = reader.dateTime(signed.expires, 'signed.expires');
    build = decodeSigned(signed, reader);
    canonical = canonicalBytes(signed, raw, reader);
  }
  const [first, ...more] = reader.problems;
  if (first || !build || version === undefined || !expires || !canonical || !signatures) {
    const summary = first ? `${first.path}: ${first.message}${more.length > 0 ? ` (and ${more.length} more)` : ''}` : 'malformed';
    throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `${what} is invalid: ${summary}`, { problems: reader.problems });
  }
  return { signed: build({ version, expires }), signatures, canonical, raw };
}

// What was signed: the canonical JSON of `signed` as parsed. Values canonical JSON cannot
// express (non-integer numbers) make the document invalid rather than unverifiable later.
// Notary serves the signed part exactly as it was signed (canonical JSON inside the
// envelope), so the canonical bytes are usually a stretch of `raw` already: then the
// envelope shares them with `raw` instead of keeping a second copy of a document that may
// be megabytes. Sharing changes nothing checked: the bytes are compared, and equal.
function canonicalBytes(signed: Record<string, unknown>, raw: Uint8Array, reader: FieldReader): Uint8Array | undefined {
  let encoded: Buffer;
  try {
    encoded = Buffer.from(canonicalize(signed), 'utf8');
  } catch {
    reader.report('signed', 'expected values canonical JSON can encode (no fractional numbers)');
    return undefined;
  }
  return sharedWithRaw(encoded, raw) ?? new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}

// Where `raw` holds `canonical` verbatim, that stretch of `raw`. Only envelopes whose
// signatures and wrapping add at most MAX_ENVELOPE_OVERHEAD bytes are searched (Notary's
// add a few hundred per signature), so the search costs one pass over `raw` at most.
const MAX_ENVELOPE_OVERHEAD = 64 * 1024;

function sharedWithRaw(canonical: Buffer, raw: Uint8Array): Uint8Array | undefined {
  if (raw.byteLength - canonical.byteLength > MAX_ENVELOPE_OVERHEAD) return undefined;
  const at = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).indexOf(canonical);
  return at < 0 ? undefined : raw.subarray(at, at + canonical.byteLength);
}

// Signatures one document may carry. Notary signs a document once per key it holds for the
// role (a root during a rotation: old and new root keys; a delegation: the keys of the
// signers that published it): real documents carry one to a few. Security: every signature
// under a listed key costs a synchronous verification; with the count bounded, and at most
// one verification per distinct key until the threshold is met (signatures.ts), a padded
// document cannot hold the event loop.
export const MAX_SIGNATURES = 64;

function readSignatures(value: unknown, path: string, reader: FieldReader): Signature[] | undefined {
  const items = reader.array(value, path);
  if (!items) return undefined;
  if (items.length > MAX_SIGNATURES) {
    throw new TrustgateError(ErrorCode.TRUST_METADATA_TOO_LARGE, `too many signatures: expected at most ${MAX_SIGNATURES}, got ${items.length}`);
  }
  const signatures: Signature[] = [];
  items.forEach((item, index) => {
    const at = `${path}[${index}]`;
    const entry = reader.object(item, at);
    if (!entry) return;
    const keyId = reader.string(entry.keyid, `${at}.keyid`);
    const method = reader.string(entry.method, `${at}.method`);
    const sig = reader.base64(entry.sig, `${at}.sig`);
    if (keyId !== undefined && method !== undefined && sig) signatures.push({ keyId, method, sig });
  });
  return signatures;
}

// A key map {keyId: {keytype, keyval: {public, private: null}}}. Security: the map key must
// equal the key ID computed from the key itself, otherwise a document could list an
// attacker's key under the ID of a trusted one and have its signatures counted for it.
function readKeys(value: unknown, path: string, reader: FieldReader): Map<string, PublicKey> | undefined {
  const object = reader.object(value, path);
  if (!object) return undefined;
  const keys = new Map<string, PublicKey>();
  for (const [index, [id, entry]] of Object.entries(object).entries()) {
    const at = `${path}${describeKey(id, index, KEY_ID_SHAPE)}`;
    const key = reader.object(entry, at);
    if (!key) continue;
    const type = reader.string(key.keytype, `${at}.keytype`);
    const keyval = reader.object(key.keyval, `${at}.keyval`);
    const publicBase64 = keyval ? reader.string(keyval.public, `${at}.keyval.public`) : undefined;
    if (keyval && keyval.private !== undefined && keyval.private !== null) {
      reader.report(`${at}.keyval.private`, 'expected null (published metadata never carries a private key)');
    }
    if (type === undefined || publicBase64 === undefined) continue;
    let decoded: PublicKey;
    try {
      decoded = decodePublicKey(type, publicBase64);
    } catch (error) {
      reader.report(`${at}.keyval.public`, error instanceof TrustgateError ? error.message : 'unreadable key');
      continue;
    }
    if (decoded.id !== id) {
      reader.report(at, `expected the key ID computed from the key, ${computeKeyId(decoded.type, publicBase64)}, got another`);
      continue;
    }
    keys.set(id, decoded);
  }
  return keys;
}

function readRoleKeys(value: unknown, path: string, reader: FieldReader): RoleKeys | undefined {
  const role = reader.object(value, path);
  if (!role) return undefined;
  const keyIds = reader.stringArray(nullAsEmptyArray(role.keyids), `${path}.keyids`);
  const threshold = reader.integer(role.threshold, `${path}.threshold`, 1);
  return keyIds && threshold !== undefined ? { keyIds, threshold } : undefined;
}

// Delegation roles. A role with only path_hash_prefixes (no 'paths') gets no paths and so
// matches no target: hashed-prefix delegation is not supported and must not widen trust.
function readDelegationRoles(value: unknown, path: string, reader: FieldReader): DelegationRole[] | undefined {
  const items = reader.array(value, path);
  if (!items) return undefined;
  const roles: DelegationRole[] = [];
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const at = `${path}[${index}]`;
    const entry = reader.object(item, at);
    if (!entry) return;
    const name = reader.string(entry.name, `${at}.name`);
    if (name !== undefined && !isDelegationName(name)) {
      reader.report(`${at}.name`, `expected a delegation name like "targets/releases", got ${describeValue(name)}`);
    } else if (name !== undefined && seen.has(name)) {
      reader.report(`${at}.name`, `expected each delegation once, got "${name}" again`);
    }
    if (name !== undefined) seen.add(name);
    const keys = readRoleKeys(entry, at, reader);
    const paths = entry.paths === undefined ? [] : reader.stringArray(nullAsEmptyArray(entry.paths), `${at}.paths`);
    if (entry.path_hash_prefixes !== undefined) reader.stringArray(nullAsEmptyArray(entry.path_hash_prefixes), `${at}.path_hash_prefixes`);
    if (name !== undefined && keys && paths) roles.push({ name, ...keys, paths });
  });
  return roles;
}

function readFileMetaMap(value: unknown, path: string, reader: FieldReader, nameShape: RegExp): Map<string, FileMeta> | undefined {
  const object = reader.object(value, path);
  if (!object) return undefined;
  const entries = new Map<string, FileMeta>();
  for (const [index, [name, entry]] of Object.entries(object).entries()) {
    const meta = readFileMeta(entry, `${path}${describeKey(name, index, nameShape)}`, reader);
    if (meta) entries.set(name, meta);
  }
  return entries;
}

function readFileMeta(value: unknown, path: string, reader: FieldReader): FileMeta | undefined {
  const object = reader.object(value, path);
  if (!object) return undefined;
  const length = reader.integer(object.length, `${path}.length`, 0);
  const hashesObject = reader.object(nullAsEmptyObject(object.hashes), `${path}.hashes`);
  const hashes = new Map<string, Uint8Array>();
  if (hashesObject) {
    for (const [index, [name, digest]] of Object.entries(hashesObject).entries()) {
      const bytes = reader.base64(digest, `${path}.hashes${HASH_NAME_SHAPE.test(name) ? `.${name}` : `[#${index}]`}`);
      if (bytes) hashes.set(name, bytes);
    }
  }
  return length !== undefined && hashesObject ? { length, hashes } : undefined;
}
