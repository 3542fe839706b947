// Policy snapshots: a cluster's policy set as the deployed functions read it from the
// key-value store. Pure encoding and checking; reading and writing the store is in
// snapshot-store.ts.
//
// Layout under one cluster id:
//   policy-snapshot/<cluster>/head                 which version is current: its SHA-256, size
//                                                  and number of chunks (KvItem.version = version)
//   policy-snapshot/<cluster>/<version>/<sha256>/<index>
//                                                  the payload in chunks of at most CHUNK_BYTES
// The payload is one JSON `List` of Portieris documents (encode-policy-documents.ts),
// decoded on read by the same decoder as a policy file, and, next to its items, the Secrets
// serve left out over its bounds when there are any (snapshot-unheld-secrets.ts).
//
// Security: every entry is authenticated by the store (HMAC under the state key, the MAC
// covering the key, version and value: shared/cache/authenticated-store.ts), so only a holder
// of the key can write a head or a chunk. The head names the SHA-256 of the whole payload and
// the chunks are checked against it after reassembly, so a chunk from another snapshot, a
// missing or truncated chunk, or an altered one is refused as a whole. Rollback: a reader
// never goes from a version to a lower one, and an equal version with other content is
// refused as well (snapshot-store.ts).
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode, TrustgateError, isTrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import { decodePolicyDocuments } from './decode-documents.js';
import { encodePolicyDocuments, toPublishedSet, type JsonDocument } from './encode-policy-documents.js';
import type { PolicySet } from './model.js';
import { decodeUnheldSecrets, encodeUnheldSecrets } from './snapshot-unheld-secrets.js';

export const SNAPSHOT_FORMAT = 'trustgate.dev/policy-snapshot/v1';
// Well below DynamoDB's 400 KB item limit once the MAC, key and attribute names are added.
export const CHUNK_BYTES = 256 * 1024;
// Bounds on what a reader spends on one snapshot, whatever a head claims.
export const MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;
export const MAX_CHUNKS = Math.ceil(MAX_SNAPSHOT_BYTES / CHUNK_BYTES);
const MAX_HEAD_BYTES = 4096;

// Cluster ids are store key segments: a DNS-label-like name, so no id is a prefix path of another.
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface SnapshotHead {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly clusterId: string;
  readonly version: number;
  readonly sha256: string;
  readonly size: number;
  readonly chunks: number;
}

export interface SnapshotPayload {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly documents: readonly JsonDocument[];
}

export { assertClusterId } from './cluster-id.js';

export function headKey(clusterId: string): string {
  return `policy-snapshot/${clusterId}/head`;
}

// Chunks are keyed by version and content: writers of different versions never write or
// delete each other's chunks, and two writers of one version write different keys unless
// their content is the same.
export function chunkKey(clusterId: string, version: number, sha256: string, index: number): string {
  return `policy-snapshot/${clusterId}/${version}/${sha256}/${index}`;
}

// The payload for `set`. Refused (POLICY_SNAPSHOT_INVALID) when decoding it would not give back
// the same policies and published Secrets: a field the encoder does not know would otherwise
// be dropped on the way to the functions, and they would enforce less than the proxy does.
// The Secrets left out travel with them (bounded: see snapshot-unheld-secrets.ts).
export function buildSnapshotPayload(set: PolicySet): SnapshotPayload {
  const documents = encodePolicyDocuments(set);
  const bytes = new TextEncoder().encode(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: documents, ...encodeUnheldSecrets(set) }));
  if (bytes.length > MAX_SNAPSHOT_BYTES) {
    throw new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, `policy snapshot too large: expected at most ${MAX_SNAPSHOT_BYTES} bytes, got ${bytes.length}`);
  }
  const decoded = decodeSnapshotDocuments(bytes, 'policy snapshot');
  if (!isDeepStrictEqual(canonical(decoded), canonical(toPublishedSet(set)))) {
    throw new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, 'the policy set cannot be published: its snapshot would not decode to the same policies');
  }
  return { bytes, sha256: sha256Hex(bytes), documents };
}

export function encodeHead(head: SnapshotHead): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(head));
}

// Decodes a head read under `clusterId` at store version `version`; the head must say both.
export function decodeHead(bytes: Uint8Array, clusterId: string, version: number): SnapshotHead {
  if (bytes.length > MAX_HEAD_BYTES) throw invalid(`head of ${bytes.length} bytes, expected at most ${MAX_HEAD_BYTES}`);
  let value: unknown;
  try {
    value = parseJsonBytes(bytes, ErrorCode.POLICY_SNAPSHOT_INVALID, 'policy snapshot head');
  } catch (error) {
    throw invalid('head is not JSON', error);
  }
  if (!isPlainObject(value)) throw invalid('head is not an object');
  const { format, clusterId: id, version: stated, sha256, size, chunks } = value;
  if (format !== SNAPSHOT_FORMAT) throw invalid(`head format ${JSON.stringify(String(format).slice(0, 60))}, expected ${SNAPSHOT_FORMAT}`);
  if (id !== clusterId) throw invalid('head names another cluster');
  if (stated !== version) throw invalid(`head says version ${String(stated)}, stored as version ${version}`);
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) throw invalid('head sha256 is not 64 hex characters');
  if (!Number.isSafeInteger(size) || (size as number) < 1 || (size as number) > MAX_SNAPSHOT_BYTES) throw invalid(`head size must be 1..${MAX_SNAPSHOT_BYTES}`);
  if (chunks !== chunkCount(size as number)) throw invalid(`head says ${String(chunks)} chunks, expected ${chunkCount(size as number)} for ${String(size)} bytes`);
  return { format, clusterId, version, sha256, size: size as number, chunks: chunks };
}

export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_BYTES);
}

// The payload split into chunks.
export function toChunks(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) chunks.push(bytes.subarray(offset, offset + CHUNK_BYTES));
  return chunks;
}

// Reassembles and checks the chunks against the head, then decodes the documents and the
// Secrets left out. Any mismatch refuses the whole snapshot.
export function decodeSnapshot(head: SnapshotHead, chunks: readonly Uint8Array[]): { readonly set: PolicySet; readonly documents: readonly JsonDocument[] } {
  if (chunks.length !== head.chunks) throw invalid(`${chunks.length} chunks, expected ${head.chunks}`);
  const size = chunks.reduce((total, chunk) => total + chunk.length, 0);
  if (size !== head.size) throw invalid(`payload of ${size} bytes, expected ${head.size}`);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  if (sha256Hex(bytes) !== head.sha256) throw invalid(`payload SHA-256 does not match the head's ${head.sha256}`);
  const set = decodeSnapshotDocuments(bytes, `policy snapshot ${head.clusterId} v${head.version}`);
  // Decoded as a List above: an object whose items are documents.
  const parsed = parseJsonBytes(bytes, ErrorCode.POLICY_SNAPSHOT_INVALID, 'policy snapshot') as Record<string, unknown> & { items: JsonDocument[] };
  return { set: { ...set, ...decodeUnheldSecrets(parsed) }, documents: parsed.items };
}

// The documents decoded as a policy file is: every problem refuses the snapshot.
function decodeSnapshotDocuments(bytes: Uint8Array, source: string): PolicySet {
  try {
    return decodePolicyDocuments([{ source: `${source}.json`, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) }]);
  } catch (error) {
    if (isTrustgateError(error) || error instanceof TypeError) throw invalid(`documents do not decode: ${(error as Error).message}`, error);
    throw error;
  }
}

// Sets compared regardless of document order.
function canonical(set: PolicySet): PolicySet {
  const by = <T>(key: (item: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  return {
    imagePolicies: [...set.imagePolicies].sort(by((policy) => `${policy.namespace}/${policy.name}`)),
    clusterPolicies: [...set.clusterPolicies].sort(by((policy) => policy.name)),
    secrets: [...set.secrets].sort(by((secret) => `${secret.namespace}/${secret.name}`)),
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function invalid(why: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, `policy snapshot refused: ${why}`, cause === undefined ? {} : { cause });
}

// What changed between two snapshots' documents, by identity (kind, namespace, name).
export interface SnapshotChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export function diffDocuments(before: readonly JsonDocument[], after: readonly JsonDocument[]): SnapshotChanges {
  const index = (documents: readonly JsonDocument[]) => new Map(documents.map((document) => [identityOf(document), JSON.stringify(document)]));
  const old = index(before);
  const next = index(after);
  return {
    added: [...next.keys()].filter((identity) => !old.has(identity)),
    removed: [...old.keys()].filter((identity) => !next.has(identity)),
    changed: [...next].filter(([identity, text]) => old.has(identity) && old.get(identity) !== text).map(([identity]) => identity),
  };
}

function identityOf(document: JsonDocument): string {
  const metadata = isPlainObject(document['metadata']) ? document['metadata'] : {};
  const namespace = typeof metadata['namespace'] === 'string' ? `${metadata['namespace']}/` : '';
  return `${String(document['kind'])} ${namespace}${String(metadata['name'])}`;
}
