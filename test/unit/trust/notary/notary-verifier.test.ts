import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import type { KvStore, MetricLabels, Metrics } from '../../../../shared/ports.js';
import { silentLogger } from '../../../../shared/ports.js';
import { createNotaryVerifier, type NotaryVerifierDeps } from '../../../../shared/trust/notary/notary-verifier.js';
import type { MetadataSource } from '../../../../shared/trust/notary/source.js';
import { createTrustedStateStore, trustedStateKey } from '../../../../shared/trust/notary/trusted-state-store.js';
import type { NotaryRequirement } from '../../../../shared/trust/verifier.js';
import { createMemoryMetadataSource, type MemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import { DEFAULT_NOW, buildRepository, type BuiltRepository } from '../../../support/notary-builder.js';

const GUN = 'registry.example.com/team/app';
const SERVER = 'https://notary.example.com';
const IMAGE = parseImageReference(`${GUN}:v1`);
const REQUIREMENT: NotaryRequirement = { kind: 'notary', server: SERVER, signers: [], rootKeyIds: [] };
const at = (ms: number): Date => new Date(DEFAULT_NOW.getTime() + ms);

// Counts metrics by name and labels.
function recordingMetrics(): Metrics & { count(name: string, labels: MetricLabels): number } {
  const counts = new Map<string, number>();
  const id = (name: string, labels: MetricLabels = {}): string => `${name}${JSON.stringify(labels)}`;
  return {
    increment(name, labels, value = 1) {
      counts.set(id(name, labels), (counts.get(id(name, labels)) ?? 0) + value);
    },
    observe: () => undefined,
    count: (name, labels) => counts.get(id(name, labels)) ?? 0,
  };
}

// A source that can be taken down like an unreachable trust server.
function switchable(source: MemoryMetadataSource): MetadataSource & { down: boolean } {
  const wrapped = {
    down: false,
    fetchMetadata: (...args: Parameters<MetadataSource['fetchMetadata']>) =>
      wrapped.down ? Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'connection refused')) : source.fetchMetadata(...args),
  };
  return wrapped;
}

interface Setup {
  readonly repo: BuiltRepository;
  readonly source: MemoryMetadataSource;
  readonly server: MetadataSource & { down: boolean };
  readonly kv: KvStore;
  readonly metrics: ReturnType<typeof recordingMetrics>;
  readonly digest: string;
  verifier(extra?: Partial<NotaryVerifierDeps>): ReturnType<typeof createNotaryVerifier>;
}

function setup(kv: KvStore = createMemoryStore({ now: () => DEFAULT_NOW.getTime() })): Setup {
  const manifest = randomBytes(100);
  const repo = buildRepository(GUN, { targets: { v1: manifest } });
  const source = createMemoryMetadataSource();
  source.publish(repo.metadata);
  const server = switchable(source);
  const metrics = recordingMetrics();
  return {
    repo,
    source,
    server,
    kv,
    metrics,
    digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    verifier: (extra = {}) =>
      createNotaryVerifier({
        fetch: () => Promise.reject(new Error('no network in unit tests')),
        state: createTrustedStateStore(kv),
        logger: silentLogger,
        metrics,
        openSource: () => server,
        freshnessMs: 1_000,
        maxStaleMs: 3_000,
        ...extra,
      }),
  };
}

describe('createNotaryVerifier', () => {
  describe('when the repository was verified within the freshness window', () => {
    it('answers from the cache without fetching anything', async () => {
      const s = setup();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      const verified = await s.verifier().verify(IMAGE, REQUIREMENT, at(999));
      expect(verified.digest).toBe(s.digest);
      expect(s.source.fetches).toHaveLength(0);
      expect(s.metrics.count('trustgate_cache_requests_total', { result: 'hit' })).toBe(1);
    });

    it('still refuses metadata that has expired since', async () => {
      const s = setup();
      const shortLived = buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2 }, expires: { timestamp: at(500) }, targets: { v1: randomBytes(5) } });
      s.source.publish(shortLived.metadata);
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(600))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });
  });

  describe('when the freshness window has passed and nothing changed', () => {
    it('fetches only timestamp.json', async () => {
      const s = setup();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(1_000));
      expect(s.source.fetches.map((f) => f.role)).toStrictEqual(['timestamp']);
      expect(s.metrics.count('trustgate_cache_requests_total', { result: 'miss' })).toBe(2);
    });
  });

  describe('when the freshness window is zero', () => {
    it('asks the trust server on every verification', async () => {
      const s = setup();
      await s.verifier({ freshnessMs: 0 }).verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      await s.verifier({ freshnessMs: 0 }).verify(IMAGE, REQUIREMENT, at(0));
      expect(s.source.fetches.map((f) => f.role)).toStrictEqual(['timestamp']);
    });
  });

  describe('when the trust server is unavailable', () => {
    it('serves the cached answer marked stale within freshness + max-stale', async () => {
      const s = setup();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.server.down = true;
      const verified = await s.verifier().verify(IMAGE, REQUIREMENT, at(3_999));
      expect(verified).toMatchObject({ digest: s.digest, stale: true });
      expect(s.metrics.count('trustgate_cache_requests_total', { result: 'stale' })).toBe(1);
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE after max-stale', async () => {
      const s = setup();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.server.down = true;
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(4_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_SERVER_UNAVAILABLE });
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE when nothing is cached', async () => {
      const s = setup();
      s.server.down = true;
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(0))).rejects.toMatchObject({ code: ErrorCode.TRUST_SERVER_UNAVAILABLE });
    });
  });

  describe('when the store is unavailable', () => {
    it('verifies against the trust server and counts the store error', async () => {
      const failing: KvStore = {
        get: () => Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'down')),
        put: () => Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'down')),
        delete: () => Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'down')),
      };
      const s = setup(failing);
      expect((await s.verifier().verify(IMAGE, REQUIREMENT, at(0))).digest).toBe(s.digest);
      expect(s.metrics.count('trustgate_store_errors_total', { operation: 'read' })).toBe(1);
      expect(s.metrics.count('trustgate_store_errors_total', { operation: 'write' })).toBe(1);
    });
  });

  describe('when the cached root was planted without the state key', () => {
    it('rejects with STATE_STORE_FAILED instead of trusting anew', async () => {
      const backend = createMemoryStore();
      const s = setup(createAuthenticatedStore(backend, randomBytes(32)));
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      await backend.put(trustedStateKey(SERVER, GUN, { kind: 'root' }), { value: buildRepository(GUN).root, version: 50 });
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(5_000))).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });

  describe('when several verifications of one repository run at once', () => {
    it('fetches the timestamp once', async () => {
      const s = setup();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      const verifier = s.verifier({ freshnessMs: 0 });
      await Promise.all(Array.from({ length: 5 }, () => verifier.verify(IMAGE, REQUIREMENT, at(10))));
      expect(s.source.fetches.map((f) => f.role)).toStrictEqual(['timestamp']);
    });
  });

  describe('when first use is not allowed', () => {
    it('rejects an unpinned first verification with CONFIG_INVALID', async () => {
      const s = setup();
      await expect(s.verifier({ allowFirstUse: false }).verify(IMAGE, REQUIREMENT, at(0))).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
      expect(s.source.fetches).toHaveLength(0);
    });

    it('bootstraps from pinned root key IDs', async () => {
      const s = setup();
      const pinned = { ...REQUIREMENT, rootKeyIds: s.repo.keys.root.map((key) => key.id) };
      expect((await s.verifier({ allowFirstUse: false }).verify(IMAGE, pinned, at(0))).digest).toBe(s.digest);
    });
  });
});
