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
import { createVerifiedRepositoryMemo } from '../../../../shared/trust/notary/verified-repository-memo.js';
import type { NotaryRequirement } from '../../../../shared/trust/verifier.js';
import { createMemoryMetadataSource, type MemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import { DEFAULT_NOW, buildRepository, generateRootCertKey, type BuiltRepository } from '../../../support/notary-builder.js';
import { fixedClock } from '../../../support/clocks.js';

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

function setup(kv: KvStore = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) })): Setup {
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
    const failing = (): KvStore & { down: boolean; inner: KvStore } => {
      const inner = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
      const fail = (): Promise<never> => Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'connection refused'));
      const store = {
        down: true,
        inner,
        get: (key: string) => (store.down ? fail() : inner.get(key)),
        put: (...args: Parameters<KvStore['put']>) => (store.down ? fail() : inner.put(...args)),
        delete: (key: string) => (store.down ? fail() : inner.delete(key)),
      };
      return store;
    };

    it('denies a repository this process never verified with STATE_STORE_FAILED, fetching nothing', async () => {
      const s = setup(failing());
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(0))).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      expect(s.source.fetches).toHaveLength(0);
      expect(s.metrics.count('trustgate_store_errors_total', { operation: 'read' })).toBe(1);
    });

    it('verifies a request that pins root key IDs against the trust server and counts the failed write', async () => {
      const s = setup(failing());
      const pinned = { ...REQUIREMENT, rootKeyIds: s.repo.keys.root.map((key) => key.id) };
      expect((await s.verifier().verify(IMAGE, pinned, at(0))).digest).toBe(s.digest);
      expect(s.metrics.count('trustgate_store_errors_total', { operation: 'write' })).toBe(1);
    });

    it('refuses a root the server now serves in place of the one this process verified', async () => {
      const kv = failing();
      kv.down = false;
      const s = setup(kv);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      kv.down = true;
      s.source.publish(buildRepository(GUN, { targets: { v1: randomBytes(7) } }).metadata);
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(1_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_THRESHOLD_NOT_MET });
    });

    it('keeps refreshing a repository this process verified and serves it stale within max-stale', async () => {
      const kv = failing();
      kv.down = false;
      const s = setup(kv);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      kv.down = true;
      s.source.clearFetches();
      expect((await verifier.verify(IMAGE, REQUIREMENT, at(1_000))).digest).toBe(s.digest);
      expect(s.source.fetches.map((f) => f.role)).toStrictEqual(['timestamp']);
      s.server.down = true;
      expect(await verifier.verify(IMAGE, REQUIREMENT, at(4_999))).toMatchObject({ digest: s.digest, stale: true });
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(5_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_SERVER_UNAVAILABLE });
    });

    it('logs a failed write once per repository per minute and counts every one', async () => {
      const kv = failing();
      const s = setup(kv);
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
      const pinned = { ...REQUIREMENT, rootKeyIds: s.repo.keys.root.map((key) => key.id) };
      const verifier = s.verifier({ logger, freshnessMs: 0 });
      for (const ms of [0, 10_000, 59_999, 60_000]) await verifier.verify(IMAGE, pinned, at(ms));
      expect(warnings.filter((message) => message === 'trusted state not saved')).toHaveLength(2);
      expect(s.metrics.count('trustgate_store_errors_total', { operation: 'write' })).toBe(4);
    });
  });

  describe('when older metadata rows are put back next to the current freshness record', () => {
    async function replayed() {
      const kv = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
      const s = setup(kv);
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      const keys = (['timestamp', 'snapshot', 'targets'] as const).map((role) => trustedStateKey(SERVER, GUN, { kind: 'meta', role }));
      const captured = await Promise.all(keys.map((key) => kv.get(key)));
      const manifest = randomBytes(50);
      s.source.publish(buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2, snapshot: 2, targets: 2 }, targets: { v1: manifest } }).metadata);
      const current = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
      expect((await s.verifier().verify(IMAGE, REQUIREMENT, at(1_000))).digest).toBe(current);
      for (const [index, key] of keys.entries()) {
        const item = captured[index];
        if (item === undefined) throw new Error(`nothing stored under ${key}`);
        await kv.put(key, item);
      }
      s.source.clearFetches();
      return { s, current };
    }

    it('asks the trust server within the window and answers the current digest', async () => {
      const { s, current } = await replayed();
      expect((await s.verifier().verify(IMAGE, REQUIREMENT, at(1_500))).digest).toBe(current);
      expect(s.source.fetches.map((f) => f.role)).toContain('timestamp');
    });

    it('serves nothing stale from them while the trust server is down', async () => {
      const { s } = await replayed();
      s.server.down = true;
      await expect(s.verifier().verify(IMAGE, REQUIREMENT, at(1_500))).rejects.toMatchObject({ code: ErrorCode.TRUST_SERVER_UNAVAILABLE });
    });
  });

  describe('when the cached root was planted without the state key', () => {
    it('rejects with STATE_STORE_FAILED instead of trusting anew', async () => {
      const backend = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
      const s = setup(createAuthenticatedStore(backend, randomBytes(32)));
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      await backend.put(trustedStateKey(SERVER, GUN, { kind: 'root' }), { value: buildRepository(GUN).root, version: 50 });
      await expect(s.verifier({ memo: createVerifiedRepositoryMemo() }).verify(IMAGE, REQUIREMENT, at(5_000))).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });

    it('still verifies a request that pins root key IDs', async () => {
      const backend = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
      const s = setup(createAuthenticatedStore(backend, randomBytes(32)));
      await backend.put(trustedStateKey(SERVER, GUN, { kind: 'root' }), { value: buildRepository(GUN).root, version: 50 });
      const pinned = { ...REQUIREMENT, rootKeyIds: s.repo.keys.root.map((key) => key.id) };
      expect((await s.verifier().verify(IMAGE, pinned, at(0))).digest).toBe(s.digest);
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

  describe('when the caller gives up while the trust server is still answering', () => {
    it('cancels the update once every waiting caller has given up, and not before', async () => {
      const s = setup();
      const pending: AbortSignal[] = [];
      const hanging: MetadataSource = {
        fetchMetadata: (_role, _selector, _max, signal) =>
          new Promise((_resolve, reject) => {
            if (signal !== undefined) pending.push(signal);
            signal?.addEventListener('abort', () => reject(signal.reason as Error));
          }),
      };
      const verifier = s.verifier({ openSource: () => hanging });
      const first = new AbortController();
      const second = new AbortController();
      const answers = [verifier.verify(IMAGE, REQUIREMENT, at(0), first.signal), verifier.verify(IMAGE, REQUIREMENT, at(0), second.signal)];
      await new Promise((resolve) => setImmediate(resolve));
      first.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'budget spent'));
      expect(pending.map((signal) => signal.aborted)).toStrictEqual([false]);
      second.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'budget spent'));
      expect(pending.map((signal) => signal.aborted)).toStrictEqual([true]);
      for (const answer of answers) await expect(answer).rejects.toMatchObject({ code: ErrorCode.ADMISSION_TIMEOUT });
    });
  });

  describe('when a repository is seen for the first time and its image is refused', () => {
    it('stores nothing for it', async () => {
      const kv = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
      const s = setup(kv);
      await expect(s.verifier().verify(parseImageReference(`${GUN}:unsigned`), REQUIREMENT, at(0))).rejects.toMatchObject({ code: ErrorCode.TRUST_NO_SIGNED_TARGET });
      expect(await createTrustedStateStore(kv).load(SERVER, GUN)).toBeUndefined();
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      expect(await createTrustedStateStore(kv).load(SERVER, GUN)).toBeDefined();
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

// Counts the reads that reach a store.
function countingStore(inner: KvStore): KvStore & { reads: number } {
  const counted = {
    reads: 0,
    get: (key: string) => {
      counted.reads += 1;
      return inner.get(key);
    },
    put: inner.put.bind(inner),
    delete: inner.delete.bind(inner),
  };
  return counted;
}

describe('createNotaryVerifier with its memo of verified repositories', () => {
  describe('when the same verifier answers again within the freshness window', () => {
    it('reads nothing from the store and fetches nothing', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      kv.reads = 0;
      s.source.clearFetches();
      const verified = await verifier.verify(IMAGE, REQUIREMENT, at(999));
      expect(verified.digest).toBe(s.digest);
      expect(kv.reads).toBe(0);
      expect(s.source.fetches).toHaveLength(0);
      expect(s.metrics.count('trustgate_cache_requests_total', { result: 'hit' })).toBe(1);
    });

    it('reads the store once after a restart and then answers from the memo', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      await s.verifier().verify(IMAGE, REQUIREMENT, at(0));
      const restarted = s.verifier();
      kv.reads = 0;
      s.source.clearFetches();
      await restarted.verify(IMAGE, REQUIREMENT, at(100));
      expect(kv.reads).toBeGreaterThan(0);
      kv.reads = 0;
      expect((await restarted.verify(IMAGE, REQUIREMENT, at(200))).digest).toBe(s.digest);
      expect(kv.reads).toBe(0);
      expect(s.source.fetches).toHaveLength(0);
    });

    it('reads the store again once the window has passed', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      kv.reads = 0;
      s.source.clearFetches();
      await verifier.verify(IMAGE, REQUIREMENT, at(1_000));
      expect(kv.reads).toBeGreaterThan(0);
      expect(s.source.fetches.map((f) => f.role)).toStrictEqual(['timestamp']);
    });
  });

  describe('when asked for a known answer', () => {
    it('gives the answer verify gave while it holds, counted as a cache hit, and nothing after the window', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const verifier = s.verifier();
      expect(verifier.known?.(IMAGE, REQUIREMENT, at(0))).toBeUndefined();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      await verifier.verify(IMAGE, REQUIREMENT, at(1));
      kv.reads = 0;
      s.source.clearFetches();
      const hits = s.metrics.count('trustgate_cache_requests_total', { result: 'hit' });
      expect(verifier.known?.(IMAGE, REQUIREMENT, at(999))).toMatchObject({ digest: s.digest });
      expect(s.metrics.count('trustgate_cache_requests_total', { result: 'hit' })).toBe(hits + 1);
      expect(verifier.known?.(IMAGE, REQUIREMENT, at(1_000))).toBeUndefined();
      expect(kv.reads).toBe(0);
      expect(s.source.fetches).toHaveLength(0);
    });

    it('gives nothing for a metadata document that has expired since', async () => {
      const s = setup();
      s.source.publish(buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2 }, expires: { timestamp: at(500) }, targets: { v1: randomBytes(5) } }).metadata);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      await verifier.verify(IMAGE, REQUIREMENT, at(1));
      expect(verifier.known?.(IMAGE, REQUIREMENT, at(499))).toBeDefined();
      expect(verifier.known?.(IMAGE, REQUIREMENT, at(500))).toBeUndefined();
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(500))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });
  });

  describe('when a memoised document has expired since, inside the freshness window', () => {
    it('rejects an expired timestamp with TRUST_METADATA_EXPIRED', async () => {
      const s = setup();
      s.source.publish(buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2 }, expires: { timestamp: at(500) }, targets: { v1: randomBytes(5) } }).metadata);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(500))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
      expect(s.source.fetches).toHaveLength(0);
    });

    it('rejects an expired root with TRUST_METADATA_EXPIRED', async () => {
      const s = setup();
      s.source.publish(buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2 }, expires: { root: at(300) }, targets: { v1: randomBytes(5) } }).metadata);
      const verifier = s.verifier({ freshnessMs: 10_000 });
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(300))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });

    it('rejects an expired targets/releases with TRUST_METADATA_EXPIRED', async () => {
      const s = setup();
      const manifest = randomBytes(20);
      s.source.publish(
        buildRepository(GUN, {
          keys: s.repo.keys,
          versions: { timestamp: 2, snapshot: 2, targets: 2 },
          delegations: [{ name: 'targets/releases', targets: { v1: manifest }, expires: at(500) }],
        }).metadata,
      );
      const verifier = s.verifier();
      expect((await verifier.verify(IMAGE, REQUIREMENT, at(0))).signers).toStrictEqual(['targets/releases']);
      expect((await verifier.verify(IMAGE, REQUIREMENT, at(499))).signers).toStrictEqual(['targets/releases']);
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(500))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });

    it('rejects once a delegation that was consulted but did not sign expires', async () => {
      const s = setup();
      s.source.publish(
        buildRepository(GUN, {
          keys: s.repo.keys,
          versions: { timestamp: 2, snapshot: 2, targets: 2 },
          targets: { v1: randomBytes(20) },
          delegations: [
            { name: 'targets/releases', targets: { other: randomBytes(20) } },
            { name: 'targets/releases/team', parent: 'targets/releases', targets: { other: randomBytes(20) }, expires: at(500) },
          ],
        }).metadata,
      );
      const verifier = s.verifier();
      expect((await verifier.verify(IMAGE, REQUIREMENT, at(0))).signers).toStrictEqual(['targets']);
      expect((await verifier.verify(IMAGE, REQUIREMENT, at(499))).signers).toStrictEqual(['targets']);
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(500))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });

    it('rejects a signer whose parent delegation expired with TRUST_METADATA_EXPIRED', async () => {
      const s = setup();
      const built = buildRepository(GUN, {
        keys: s.repo.keys,
        versions: { timestamp: 2, snapshot: 2, targets: 2 },
        delegations: [
          { name: 'targets/team', expires: at(500) },
          { name: 'targets/team/alice', parent: 'targets/team', targets: { v1: randomBytes(20) } },
        ],
      });
      s.source.publish(built.metadata);
      const alice = built.keys.delegations.get('targets/team/alice')?.[0];
      if (alice === undefined) throw new Error('the builder made no key for targets/team/alice');
      const withSigner: NotaryRequirement = { ...REQUIREMENT, signers: [{ name: 'team/alice', publicKeyPem: alice.publicKeyPem }] };
      const verifier = s.verifier();
      expect((await verifier.verify(IMAGE, withSigner, at(0))).signers).toStrictEqual(['targets/team/alice']);
      await expect(verifier.verify(IMAGE, withSigner, at(600))).rejects.toMatchObject({ code: ErrorCode.TRUST_METADATA_EXPIRED });
    });

    it('rejects a root certificate past its notAfter with TRUST_ROOT_CERT_INVALID', async () => {
      const s = setup();
      const rootKey = generateRootCertKey(GUN, { notAfter: at(2_000) });
      s.source.publish(buildRepository(GUN, { keys: { root: [rootKey] }, versions: { root: 2 }, targets: { v1: randomBytes(5) } }).metadata);
      const verifier = s.verifier({ freshnessMs: 10_000 });
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      s.source.clearFetches();
      expect(await verifier.verify(IMAGE, REQUIREMENT, at(1_000))).toHaveProperty('digest');
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(3_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_ROOT_CERT_INVALID });
      expect(s.source.fetches).toHaveLength(0);
    });
  });

  describe('when a refresh confirms a newer state', () => {
    it('replaces the memo entry that verifiers over the same store answer from', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const state = createTrustedStateStore(kv);
      const warm = s.verifier({ state });
      const refreshing = s.verifier({ state, freshnessMs: 0 });
      await warm.verify(IMAGE, REQUIREMENT, at(0));
      const resigned = randomBytes(30);
      s.source.publish(buildRepository(GUN, { keys: s.repo.keys, versions: { timestamp: 2, snapshot: 2, targets: 2 }, targets: { v1: resigned } }).metadata);
      const newDigest = `sha256:${createHash('sha256').update(resigned).digest('hex')}`;
      expect((await refreshing.verify(IMAGE, REQUIREMENT, at(100))).digest).toBe(newDigest);
      kv.reads = 0;
      s.source.clearFetches();
      expect((await warm.verify(IMAGE, REQUIREMENT, at(200))).digest).toBe(newDigest);
      expect(kv.reads).toBe(0);
      expect(s.source.fetches).toHaveLength(0);
    });

    it('keeps answering from the memo it replaced after the window of the old entry', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      await verifier.verify(IMAGE, REQUIREMENT, at(1_000));
      kv.reads = 0;
      s.source.clearFetches();
      await verifier.verify(IMAGE, REQUIREMENT, at(1_900));
      expect(kv.reads).toBe(0);
      expect(s.source.fetches).toHaveLength(0);
    });
  });

  describe('when more repositories are verified than the memo holds', () => {
    it('keeps only the most recently used ones', async () => {
      const kv = countingStore(createMemoryStore({ clock: fixedClock(DEFAULT_NOW) }));
      const s = setup(kv);
      const memo = createVerifiedRepositoryMemo(2);
      const verifier = s.verifier({ memo });
      const on = (server: string): NotaryRequirement => ({ ...REQUIREMENT, server });
      for (const server of ['https://one.example.com', 'https://two.example.com', 'https://three.example.com']) {
        await verifier.verify(IMAGE, on(server), at(0));
      }
      expect(memo.size).toBe(2);
      kv.reads = 0;
      await verifier.verify(IMAGE, on('https://three.example.com'), at(10));
      expect(kv.reads).toBe(0);
      await verifier.verify(IMAGE, on('https://one.example.com'), at(10));
      expect(kv.reads).toBeGreaterThan(0);
      expect(memo.size).toBe(2);
    });
  });

  describe('when the repositories verified hold more bytes than the memo may', () => {
    it('keeps only as many as fit', async () => {
      const s = setup();
      const held = s.repo.root.length + s.repo.timestamp.length + s.repo.snapshot.length + s.repo.targets.length;
      const memo = createVerifiedRepositoryMemo(100, Math.floor(held * 1.5));
      const verifier = s.verifier({ memo });
      for (const server of ['https://one.example.com', 'https://two.example.com', 'https://three.example.com']) {
        await verifier.verify(IMAGE, { ...REQUIREMENT, server }, at(0));
      }
      expect(memo.size).toBe(1);
    });
  });

  describe('when the trust server goes down after the memo was filled', () => {
    it('serves the answer marked stale within freshness + max-stale and refuses after it', async () => {
      const s = setup();
      const verifier = s.verifier();
      await verifier.verify(IMAGE, REQUIREMENT, at(0));
      s.server.down = true;
      expect(await verifier.verify(IMAGE, REQUIREMENT, at(500))).not.toHaveProperty('stale');
      expect(await verifier.verify(IMAGE, REQUIREMENT, at(3_999))).toMatchObject({ digest: s.digest, stale: true });
      await expect(verifier.verify(IMAGE, REQUIREMENT, at(4_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_SERVER_UNAVAILABLE });
    });
  });
});
