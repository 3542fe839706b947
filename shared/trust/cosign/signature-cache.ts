// What trustgate keeps of cosign signatures between verifications, on the KvStore port (the
// store the Notary trust data lives in, under the same state key):
//   cosign:["signatures", registry, repository, digest]   the signature material recorded
//                                                          for that digest (signature-material.ts)
//   cosign:["tag", registry, repository, tag]             the digest the tag resolved to
// Each entry's version is the time the registry answered (its check time): a write is
// conditional on a later one, so a slow writer never puts back older material, and the entry
// expires `retainMs` after it (the freshness window plus max-stale: past that nothing may use
// it). In front of the store sits a bounded in-process memo (entries and bytes), so a
// verification within the freshness window reads neither the store nor the registry.
// Security: the store is hostile. Entries are authenticated by the backend
// (authenticated-store.ts: key, version, expiry and value under one MAC), and what the
// material holds is checked cryptographically again on every use, so a forged, moved or
// altered entry is at worst refused: it is dropped and the registry asked again, never
// trusted. A replayed older entry carries its own, older check time (the MAC covers it): it
// can only look older, never fresher. Nothing in it is a trust anchor (keys and identities
// come from the policy), so a store that cannot be read only costs a registry read.
// Private registries: material read with a workload's pull-secret credentials is not public.
// It is kept in process only, apart for each set of credentials (`partition`, an opaque
// per-process fingerprint), and never written to the shared store: a workload whose
// credentials the registry refuses, or one without any, reads the registry itself and is
// refused as before; it never rides on another workload's access.
import { isAuthenticationFailure } from '../../cache/authenticated-store.js';
import { createBoundedMemo, type BoundedMemo } from '../../cache/bounded-memo.js';
import type { ImageReference } from '../../image/reference.js';
import { noopMetrics, silentLogger, type KvStore, type Logger, type Metrics } from '../../ports.js';
import { decodeMaterial, encodeMaterial, type SignatureMaterial } from './signature-material.js';

// A value and when the registry answered it (epoch milliseconds).
export interface Cached<T> {
  readonly value: T;
  readonly checkedAt: number;
}

// `partition`: '' for material read anonymously (shared, stored); else the fingerprint of
// the workload credentials it was read with (in process only, for those credentials alone).
export interface CosignSignatureCache {
  // The digest `image`'s tag resolved to. A memoised answer checked at or after `freshSince`
  // is given without reading the store.
  tagDigest(image: ImageReference, tag: string, freshSince: number, partition: string): Promise<Cached<string> | undefined>;
  // The material recorded for `digest`, likewise.
  material(image: ImageReference, digest: string, freshSince: number, partition: string): Promise<Cached<SignatureMaterial> | undefined>;
  // What this process holds in memory for `image` (read anonymously), without waiting: the
  // material of its digest (pinned, or the tag's memoised resolution) with the older of the
  // two check times, when both were checked at or after `freshSince`; never the store's.
  peek(image: ImageReference, freshSince: number): Cached<SignatureMaterial> | undefined;
  // Keeps what a verification read from the registry at `checkedAt`. Never rejects: a store
  // that cannot be written costs the next process a registry read, not this answer.
  save(image: ImageReference, digest: string, material: SignatureMaterial, checkedAt: number, partition: string): Promise<void>;
}

export interface CosignSignatureCacheOptions {
  // How long an entry is kept after its check time: the freshness window plus max-stale.
  readonly retainMs: number;
  readonly logger?: Logger;
  // Store failures are counted as the Notary cache's are: trustgate_store_errors_total by
  // operation (read, write).
  readonly metrics?: Metrics;
}

// DynamoDB items hold at most 400 KB; a record past this is kept in process only.
export const MAX_STORED_MATERIAL_BYTES = 320 * 1024;
const MEMO_ENTRIES = 1_000;
const MEMO_BYTES = 8 * 1024 * 1024;
const WRITE_FAILURE_LOG_INTERVAL_MS = 60_000;

export function cosignSignaturesKey(registry: string, repository: string, digest: string): string {
  return `cosign:${JSON.stringify(['signatures', registry, repository, digest])}`;
}

export function cosignTagKey(registry: string, repository: string, tag: string): string {
  return `cosign:${JSON.stringify(['tag', registry, repository, tag])}`;
}

// The memo's key: the store's, apart per set of credentials.
function memoKey(key: string, partition: string): string {
  return partition === '' ? key : `${partition}\u0000${key}`;
}

interface Kept<T> extends Cached<T> {
  readonly bytes: number;
}

export function createCosignSignatureCache(kv: KvStore, options: CosignSignatureCacheOptions): CosignSignatureCache {
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noopMetrics;
  const tags = createBoundedMemo<string, Kept<string>>(MEMO_ENTRIES, { leastRecentlyUsed: true });
  const materials = createBoundedMemo<string, Kept<SignatureMaterial>>(MEMO_ENTRIES, { leastRecentlyUsed: true, weigh: (kept) => kept.bytes, maxWeight: MEMO_BYTES });
  let writeFailureLoggedAt: number | undefined;

  // Never lets an older check replace a newer one (processes and requests race).
  function keep<T>(memo: BoundedMemo<string, Kept<T>>, key: string, value: Kept<T>): void {
    const current = memo.get(key);
    if (current === undefined || current.checkedAt <= value.checkedAt) memo.set(key, value);
  }

  // The memo's entry when fresh enough; else the newer of the store's and the memo's. A
  // store entry that fails authentication or decoding is dropped (and said so); a store that
  // does not answer leaves the memo's entry, whatever its age.
  async function load<T>(memo: BoundedMemo<string, Kept<T>>, key: string, freshSince: number, partition: string, decode: (bytes: Uint8Array) => T | undefined): Promise<Cached<T> | undefined> {
    const kept = memo.get(memoKey(key, partition));
    if ((kept !== undefined && kept.checkedAt >= freshSince) || partition !== '') return kept;
    let stored: Kept<T> | undefined;
    try {
      const item = await kv.get(key);
      if (item !== undefined) {
        const value = decode(item.value);
        if (value === undefined) logger.warn('cached cosign entry refused, asking the registry', { key, reason: 'not a record of this image' });
        else stored = { value, checkedAt: item.version, bytes: item.value.length };
      }
    } catch (error) {
      if (isAuthenticationFailure(error)) logger.warn('cached cosign entry refused, asking the registry', { key, reason: 'authentication failed' });
      else {
        metrics.increment('trustgate_store_errors_total', { operation: 'read' });
        logger.warn('trust store unavailable, asking the registry for cosign signatures', { key, error: (error as Error).message });
      }
    }
    if (stored === undefined || (kept !== undefined && kept.checkedAt >= stored.checkedAt)) return kept;
    keep(memo, key, stored);
    return stored;
  }

  async function put(key: string, value: Uint8Array, checkedAt: number): Promise<void> {
    try {
      await kv.put(key, { value, version: checkedAt, expiresAt: checkedAt + options.retainMs }, { onlyIfNewer: true });
    } catch (error) {
      metrics.increment('trustgate_store_errors_total', { operation: 'write' });
      if (writeFailureLoggedAt === undefined || checkedAt - writeFailureLoggedAt >= WRITE_FAILURE_LOG_INTERVAL_MS || checkedAt < writeFailureLoggedAt) {
        writeFailureLoggedAt = checkedAt;
        logger.warn('cosign signatures not saved', { key, error: (error as Error).message });
      }
    }
  }

  return {
    tagDigest: (image, tag, freshSince, partition) =>
      load(tags, cosignTagKey(image.registry, image.repository, tag), freshSince, partition, (bytes) => {
        const text = new TextDecoder().decode(bytes);
        return /^sha256:[0-9a-f]{64}$/.test(text) ? text : undefined;
      }),

    material: (image, digest, freshSince, partition) =>
      load(materials, cosignSignaturesKey(image.registry, image.repository, digest), freshSince, partition, (bytes) => decodeMaterial(bytes, image, digest)),

    peek(image, freshSince) {
      let digest = image.digest;
      let digestCheckedAt = Number.POSITIVE_INFINITY;
      if (digest === undefined) {
        const resolved = tags.get(cosignTagKey(image.registry, image.repository, image.tag ?? 'latest'));
        if (resolved === undefined || resolved.checkedAt < freshSince) return undefined;
        digest = resolved.value;
        digestCheckedAt = resolved.checkedAt;
      }
      const material = materials.get(cosignSignaturesKey(image.registry, image.repository, digest));
      if (material === undefined || material.checkedAt < freshSince) return undefined;
      return { value: material.value, checkedAt: Math.min(digestCheckedAt, material.checkedAt) };
    },

    async save(image, digest, material, checkedAt, partition) {
      const bytes = encodeMaterial(material);
      const key = cosignSignaturesKey(image.registry, image.repository, digest);
      const shared = partition === '';
      keep(materials, memoKey(key, partition), { value: material, checkedAt, bytes: bytes.length });
      const writes: Promise<void>[] = [];
      if (shared && bytes.length <= MAX_STORED_MATERIAL_BYTES) writes.push(put(key, bytes, checkedAt));
      else if (shared) logger.warn('cosign signatures too large to store, kept in process only', { key, bytes: bytes.length });
      if (image.digest === undefined && image.tag !== undefined) {
        const tagKey = cosignTagKey(image.registry, image.repository, image.tag);
        keep(tags, memoKey(tagKey, partition), { value: digest, checkedAt, bytes: digest.length });
        if (shared) writes.push(put(tagKey, new TextEncoder().encode(digest), checkedAt));
      }
      await Promise.all(writes);
    },
  };
}
