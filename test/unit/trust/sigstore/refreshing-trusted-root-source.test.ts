// Sigstore's trusted root kept current with tuf-js (the real Updater) from a real TUF
// repository the tests build, sign and serve on loopback, over the in-memory store. Shows the
// offline start, a refresh that picks up a new root, and every refused refresh (tampered
// target, forged signature, rollback, expired metadata, an unusable root, a bounded budget)
// keeping the last good root, logged once with its code and counted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { createNodeFetch } from '../../../../shared/http/node-fetch.js';
import { createPrometheusRegistry, type PrometheusRegistry } from '../../../../shared/metrics/prometheus-registry.js';
import type { Clock, KvStore, LogFields, Logger } from '../../../../shared/ports.js';
import {
  createRefreshingTrustedRootSource,
  createShippedSigstoreRootSource,
  SIGSTORE_ROOT_REFRESH_METRIC,
  type SigstoreRootSource,
} from '../../../../shared/trust/sigstore/refreshing-trusted-root-source.js';
import { trustedRootFingerprint } from '../../../../shared/trust/sigstore/trusted-root-shape.js';
import { PUBLIC_GOOD_TRUSTED_ROOT, type TrustedRootJson } from '../../../../shared/trust/sigstore/trusted-root-source.js';
import { runTufUpdate } from '../../../../shared/trust/sigstore/tuf-update.js';
import { clockFrom } from '../../../support/clocks.js';
import { startLocalServer, type LocalServer } from '../../../support/local-http-server.js';
import { makeTufKey, TufRepository } from '../../../support/tuf-repository.js';

const HOUR_MS = 3_600_000;

// A usable trusted root other than the shipped one: the public-good root with its Rekor URL
// renamed, so each variant has its own fingerprint.
function rootVariant(name: string): TrustedRootJson {
  const copy = JSON.parse(JSON.stringify(PUBLIC_GOOD_TRUSTED_ROOT)) as { tlogs: Array<{ baseUrl: string }> };
  const first = copy.tlogs[0];
  if (first === undefined) throw new Error('shipped root has no tlog');
  first.baseUrl = `https://rekor.${name}.example`;
  return copy;
}

function bytesOf(root: TrustedRootJson): Uint8Array {
  return Buffer.from(JSON.stringify(root));
}

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (message: string, fields: LogFields = {}) => {
    lines.push({ level, message, fields });
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

let repo: TufRepository;
let server: LocalServer;
let nowMs: number;
let clock: Clock;
let kv: KvStore;
let metrics: PrometheusRegistry;
let logs: LogLine[];
const fetch = createNodeFetch();

beforeEach(async () => {
  repo = new TufRepository();
  server = await repo.serve();
  nowMs = Date.now();
  clock = clockFrom(() => nowMs);
  kv = createMemoryStore({ clock });
  metrics = createPrometheusRegistry({});
  logs = [];
});

afterEach(async () => {
  await server.close();
});

// One process's source over the shared store (a new call is a restarted process).
function openSource(options: { readonly intervalMs?: number; readonly url?: string; readonly limits?: { maxFetches?: number; maxBytes?: number; deadlineMs?: number } } = {}): SigstoreRootSource {
  const url = options.url ?? server.url;
  return createRefreshingTrustedRootSource({
    mirror: { metadataUrl: url, targetsUrl: `${url}/targets` },
    initialTufRoot: repo.root(1),
    shippedRoot: PUBLIC_GOOD_TRUSTED_ROOT,
    kv,
    fetch,
    clock,
    logger: recordingLogger(logs),
    metrics,
    intervalMs: options.intervalMs ?? 0,
    update: runTufUpdate,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
}

// The counter's value for one result (and code), read from the Prometheus exposition.
function refreshCount(result: string, code?: string): number {
  const line = metrics
    .render()
    .split('\n')
    .find((text) => text.startsWith(`${SIGSTORE_ROOT_REFRESH_METRIC}{`) && text.includes(`result="${result}"`) && (code === undefined ? !text.includes('code=') : text.includes(`code="${code}"`)));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const warnings = (): LogLine[] => logs.filter((line) => line.level === 'warn');

describe('the refreshing Sigstore trusted root source', () => {
  describe('with no TUF mirror configured', () => {
    it('serves the shipped public-good root and refuses a refresh with CONFIG_INVALID', async () => {
      const source = createShippedSigstoreRootSource(PUBLIC_GOOD_TRUSTED_ROOT);
      expect(await source.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
      expect(await source.status()).toEqual({ origin: 'shipped', fingerprint: trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT) });
      await expect(source.refresh()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    });
  });

  describe('when it starts with an empty store and a mirror that does not answer', () => {
    it('serves the shipped root at once while the background refresh waits on the mirror', async () => {
      const held: ServerResponse[] = [];
      const silent = await startLocalServer((_request: IncomingMessage, response: ServerResponse) => {
        held.push(response);
      });
      try {
        const source = openSource({ url: silent.url, intervalMs: 24 * HOUR_MS, limits: { deadlineMs: 60_000 } });
        expect(await source.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
        // The refresh was started (its first request reached the mirror) and is still pending.
        await new Promise<void>((resolve) => {
          const poll = (): void => (silent.requests.length > 0 ? resolve() : void setImmediate(poll));
          poll();
        });
        expect(silent.requests[0]?.url).toBe('/2.root.json');
        expect(await source.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
        source.close();
        const record = await source.refresh();
        expect(record).toMatchObject({ result: 'failed', code: 'TRUST_SERVER_UNAVAILABLE' });
        expect((await source.status()).origin).toBe('shipped');
      } finally {
        await silent.close();
      }
    });

    it('gives up a refresh the mirror never answers at its deadline, keeping the shipped root (TRUST_SERVER_UNAVAILABLE)', async () => {
      const silent = await startLocalServer(() => undefined);
      try {
        const source = openSource({ url: silent.url, limits: { deadlineMs: 200 } });
        expect(await source.refresh()).toMatchObject({ result: 'failed', code: 'TRUST_SERVER_UNAVAILABLE' });
        expect(await source.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
        expect(refreshCount('failed', 'TRUST_SERVER_UNAVAILABLE')).toBe(1);
        expect(warnings()).toHaveLength(1);
      } finally {
        await silent.close();
      }
    });
  });

  describe('when the mirror publishes a new trusted root', () => {
    it('picks it up on refresh, then the next one, counting each as updated', async () => {
      const first = rootVariant('first');
      repo.publishTarget(bytesOf(first));
      const source = openSource();
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
      expect(await source.current()).toEqual(first);
      expect(await source.status()).toMatchObject({ origin: 'mirror', fingerprint: trustedRootFingerprint(first), tuf: { root: 1, timestamp: 1, snapshot: 1, targets: 1 } });

      const second = rootVariant('second');
      repo.publishTarget(bytesOf(second));
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
      expect(await source.current()).toEqual(second);
      expect(refreshCount('updated')).toBe(2);
      expect(warnings()).toEqual([]);
    });

    it('answers unchanged, without downloading the target again, when the signed hash still names the root in force', async () => {
      repo.publishTarget(bytesOf(rootVariant('same')));
      const source = openSource();
      await source.refresh();
      const targetRequests = (): number => server.requests.filter((request) => request.url.startsWith('/targets/')).length;
      const before = targetRequests();
      expect(await source.refresh()).toMatchObject({ result: 'unchanged' });
      expect(targetRequests()).toBe(before);
    });

    it('follows a root rotation signed by the old and the new root key', async () => {
      repo.publishTarget(bytesOf(rootVariant('before-rotation')));
      const source = openSource();
      await source.refresh();
      const oldRootKey = repo.keys.root;
      repo.keys.root = makeTufKey();
      repo.publishRoot([oldRootKey, repo.keys.root]);
      const rotated = rootVariant('after-rotation');
      repo.publishTarget(bytesOf(rotated));
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
      expect(await source.status()).toMatchObject({ tuf: { root: 2 } });
      expect(await source.current()).toEqual(rotated);
    });

    it('names the root in force without waiting only once the store was read and while no refresh is due', async () => {
      const first = rootVariant('in-force');
      repo.publishTarget(bytesOf(first));
      const source = openSource({ intervalMs: 24 * HOUR_MS });
      expect(source.inForce?.()).toBeUndefined();
      await source.current();
      await source.refresh();
      expect(source.inForce?.()).toEqual(first);
      expect(source.inForce?.()).toBe(await source.current());
      nowMs += 25 * HOUR_MS;
      expect(source.inForce?.()).toBeUndefined();
    });

    it('refreshes in the background on use once the interval has passed, not before', async () => {
      const first = rootVariant('background-1');
      repo.publishTarget(bytesOf(first));
      const source = openSource({ intervalMs: 24 * HOUR_MS });
      await source.current();
      await source.refresh(); // joins the background refresh the first use started
      expect(await source.current()).toEqual(first);
      const requests = server.requests.length;

      repo.publishTarget(bytesOf(rootVariant('background-2')));
      nowMs += 23 * HOUR_MS;
      expect(await source.current()).toEqual(first);
      expect(server.requests.length).toBe(requests);

      nowMs += 2 * HOUR_MS;
      await source.current();
      await source.refresh();
      expect(await source.current()).toEqual(rootVariant('background-2'));
    });
  });

  describe('when a refresh is refused', () => {
    let source: SigstoreRootSource;
    const good = rootVariant('good');

    beforeEach(async () => {
      repo.publishTarget(bytesOf(good));
      source = openSource();
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
    });

    // The refused refresh changed nothing, said so once and was counted.
    async function expectRefused(code: string): Promise<void> {
      expect(await source.current()).toEqual(good);
      expect(await source.status()).toMatchObject({ origin: 'mirror', fingerprint: trustedRootFingerprint(good), lastRefresh: { result: 'rejected', code } });
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]?.fields).toMatchObject({ code, result: 'rejected', fingerprint: trustedRootFingerprint(good) });
      expect(refreshCount('rejected', code)).toBe(1);
    }

    it('keeps the last good root when the served target is not the signed one (TRUST_HASH_MISMATCH)', async () => {
      const forged = bytesOf(rootVariant('forged'));
      repo.publishTarget(bytesOf(rootVariant('genuine')));
      repo.replaceServedTarget(forged);
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_HASH_MISMATCH' });
      await expectRefused('TRUST_HASH_MISMATCH');
    });

    it('keeps the last good root when the timestamp is signed by a key the root does not name (TRUST_SIGNATURE_INVALID)', async () => {
      repo.publishTarget(bytesOf(rootVariant('forged')), { signers: { timestamp: makeTufKey() } });
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_SIGNATURE_INVALID' });
      await expectRefused('TRUST_SIGNATURE_INVALID');
    });

    it('keeps the last good root when the targets metadata is signed by a key the root does not name (TRUST_SIGNATURE_INVALID)', async () => {
      repo.publishTarget(bytesOf(rootVariant('forged')), { signers: { targets: makeTufKey() } });
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_SIGNATURE_INVALID' });
      await expectRefused('TRUST_SIGNATURE_INVALID');
    });

    it('keeps the last good root when the mirror puts back older metadata (TRUST_ROLLBACK)', async () => {
      const old = repo.saveFiles();
      const newer = rootVariant('newer');
      repo.publishTarget(bytesOf(newer));
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
      logs.length = 0;
      repo.restoreFiles(old);
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_ROLLBACK' });
      expect(await source.current()).toEqual(newer);
      expect(warnings()).toHaveLength(1);
      expect(refreshCount('rejected', 'TRUST_ROLLBACK')).toBe(1);
    });

    it('keeps the last good root when the new metadata has expired (TRUST_METADATA_EXPIRED)', async () => {
      repo.publishTarget(bytesOf(rootVariant('stale')), { expiresInMs: -HOUR_MS });
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_METADATA_EXPIRED' });
      await expectRefused('TRUST_METADATA_EXPIRED');
    });

    it('judges expiry by its clock, not the system clock: metadata current now is expired 8 days on', async () => {
      repo.publishTarget(bytesOf(rootVariant('week')));
      nowMs += 8 * 24 * HOUR_MS;
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_METADATA_EXPIRED' });
      await expectRefused('TRUST_METADATA_EXPIRED');
    });

    it('judges expiry by its clock, not the system clock: metadata expired now was current 2 hours ago', async () => {
      const earlier = rootVariant('earlier');
      repo.publishTarget(bytesOf(earlier), { expiresInMs: -HOUR_MS });
      nowMs -= 2 * HOUR_MS;
      expect(await source.refresh()).toMatchObject({ result: 'updated' });
      expect(await source.current()).toEqual(earlier);
    });

    it('keeps the last good root when the signed target is not a usable trusted root (SIGSTORE_ROOT_INVALID)', async () => {
      repo.publishTarget(Buffer.from(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [{ baseUrl: 'https://x', publicKey: { rawBytes: 'AAAA' }, logId: { keyId: 'AAAA' } }] })));
      expect(await source.refresh()).toMatchObject({ result: 'rejected', code: 'SIGSTORE_ROOT_INVALID' });
      await expectRefused('SIGSTORE_ROOT_INVALID');
    });

    it('keeps the last good root when the mirror goes away (TRUST_SERVER_UNAVAILABLE, counted as failed)', async () => {
      await server.close();
      expect(await source.refresh()).toMatchObject({ result: 'failed', code: 'TRUST_SERVER_UNAVAILABLE' });
      expect(await source.current()).toEqual(good);
      expect(refreshCount('failed', 'TRUST_SERVER_UNAVAILABLE')).toBe(1);
    });

    it('stops a refresh that needs more requests than its budget (TRUST_METADATA_TOO_LARGE)', async () => {
      repo.publishTarget(bytesOf(rootVariant('far')));
      const bounded = openSource({ limits: { maxFetches: 2 } });
      expect(await bounded.refresh()).toMatchObject({ result: 'failed', code: 'TRUST_METADATA_TOO_LARGE' });
      expect(await bounded.current()).toEqual(good);
    });

    it('stops a refresh that needs more bytes than its budget (TRUST_METADATA_TOO_LARGE)', async () => {
      repo.publishTarget(bytesOf(rootVariant('big')));
      const bounded = openSource({ limits: { maxBytes: 2_000 } });
      expect(await bounded.refresh()).toMatchObject({ result: 'failed', code: 'TRUST_METADATA_TOO_LARGE' });
      expect(await bounded.current()).toEqual(good);
    });
  });

  describe('across processes sharing the store', () => {
    it('a new process starts from the last good root in the store, even with the mirror gone', async () => {
      const first = rootVariant('persisted');
      repo.publishTarget(bytesOf(first));
      expect(await openSource().refresh()).toMatchObject({ result: 'updated' });
      await server.close();

      const restarted = openSource({ intervalMs: 24 * HOUR_MS });
      expect(await restarted.current()).toEqual(first);
      expect(await restarted.status()).toMatchObject({ origin: 'store', tuf: { targets: 1 }, lastRefresh: { result: 'updated' } });
    });

    it('a new process keeps the stored TUF metadata as its rollback anchor', async () => {
      repo.publishTarget(bytesOf(rootVariant('v1')));
      const old = repo.saveFiles();
      const newest = rootVariant('v2');
      repo.publishTarget(bytesOf(newest));
      expect(await openSource().refresh()).toMatchObject({ result: 'updated' });

      // Without the stored metadata, a fresh client would accept this older, validly signed state.
      repo.restoreFiles(old);
      const restarted = openSource();
      expect(await restarted.refresh()).toMatchObject({ result: 'rejected', code: 'TRUST_ROLLBACK' });
      expect(await restarted.current()).toEqual(newest);
    });

    it('a process whose interval has passed adopts the root another process refreshed since, without asking the mirror', async () => {
      repo.publishTarget(bytesOf(rootVariant('one')));
      const source = openSource({ intervalMs: 24 * HOUR_MS });
      await source.current();
      await source.refresh(); // joins the refresh the first use started

      const two = rootVariant('two');
      repo.publishTarget(bytesOf(two));
      nowMs += 23 * HOUR_MS;
      expect(await openSource().refresh()).toMatchObject({ result: 'updated' });
      const requests = server.requests.length;

      nowMs += 2 * HOUR_MS;
      expect(await source.current()).toEqual(two);
      expect(await source.status()).toMatchObject({ origin: 'store', nextRefreshAt: nowMs + 22 * HOUR_MS });
      expect(server.requests.length).toBe(requests);
    });
  });
});
