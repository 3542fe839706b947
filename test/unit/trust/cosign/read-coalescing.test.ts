// Concurrent verifications of one image share one registry read (registry-read-flights.ts):
// a caller that gives up stops waiting without cancelling the read the others still wait
// for, and a verifier that must read the registry itself (freshness 0) never joins a read
// already under way.
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger, type Fetch, type HttpRequest, type HttpResponse } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import { createCosignSignatureCache } from '../../../../shared/trust/cosign/signature-cache.js';
import type { Deadline } from '../../../../shared/trust/cosign/deadline.js';
import type { RegistryClient } from '../../../../shared/trust/cosign/registry-client.js';
import { createRegistryReadFlights } from '../../../../shared/trust/cosign/registry-read-flights.js';
import type { CosignRequirement } from '../../../../shared/trust/verifier.js';
import { fixture, MemoryRegistry, readSignatureFile } from './support/memory-registry.js';

const NOW = new Date('2026-12-01T00:00:00Z');
const REQUIREMENT: CosignRequirement = { kind: 'cosign', authorities: [{ name: 'release', publicKeyPem: fixture('cosign.pub').toString('utf8') }], threshold: 1 };
const IMAGE = parseImageReference('registry.example.com/app:v1');

// A registry holding one signed image whose payload blobs are answered only once released.
function heldRegistry(): { fetch: Fetch; requests: HttpRequest[]; blobAsked: Promise<void>; release(): void } {
  const registry = new MemoryRegistry();
  const digest = registry.putManifest('app', 'v1', fixture('valid/manifest.json'), 'application/vnd.docker.distribution.manifest.v2+json');
  registry.putSignatures('app', digest, [readSignatureFile('valid/signature-1')]);
  const requests: HttpRequest[] = [];
  let onBlob: () => void = () => undefined;
  const blobAsked = new Promise<void>((resolve) => (onBlob = resolve));
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const fetch: Fetch = async (request): Promise<HttpResponse> => {
    requests.push(request);
    if (!request.url.includes('/blobs/')) return registry.fetch(request);
    onBlob();
    await released;
    return registry.fetch(request);
  };
  return { fetch, requests, blobAsked, release };
}

function verifierOver(fetch: Fetch, freshnessMs: number) {
  const store = createCosignSignatureCache(createMemoryStore({ clock: { now: () => NOW } }), { retainMs: 60_000 });
  return createCosignVerifier({ fetch, logger: silentLogger, cache: { store, freshnessMs, maxStaleMs: 0 } });
}

describe('concurrent cosign verifications of one image', () => {
  it('answer the caller still waiting when the other gives up, from one read', async () => {
    const registry = heldRegistry();
    const cosign = verifierOver(registry.fetch, 30_000);
    const impatient = new AbortController();
    const first = cosign.verify(IMAGE, REQUIREMENT, NOW, impatient.signal).catch((thrown: unknown) => thrown);
    const second = cosign.verify(IMAGE, REQUIREMENT, NOW, new AbortController().signal);
    await registry.blobAsked;
    impatient.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'admission budget spent'));
    expect(await first).toMatchObject({ code: ErrorCode.ADMISSION_TIMEOUT });
    const blobs = registry.requests.filter((request) => request.url.includes('/blobs/'));
    expect(blobs).toHaveLength(1);
    expect(blobs[0]?.signal?.aborted).toBe(false);
    registry.release();
    expect(await second).toMatchObject({ digest: expect.stringMatching(/^sha256:/) as unknown, signers: ['cosign:release'] });
    expect(registry.requests.filter((request) => request.url.includes('/blobs/'))).toHaveLength(1);
  });

  it('cancel the shared read once every caller has given up', async () => {
    const registry = heldRegistry();
    const cosign = verifierOver(registry.fetch, 30_000);
    const callers = [new AbortController(), new AbortController()];
    const answers = callers.map((caller) => cosign.verify(IMAGE, REQUIREMENT, NOW, caller.signal).catch((thrown: unknown) => thrown));
    await registry.blobAsked;
    const blob = registry.requests.find((request) => request.url.includes('/blobs/'));
    callers[0]?.abort();
    expect(blob?.signal?.aborted).toBe(false);
    callers[1]?.abort();
    expect(blob?.signal?.aborted).toBe(true);
    for (const answer of await Promise.all(answers)) expect(answer).toMatchObject({ code: ErrorCode.REGISTRY_UNAVAILABLE });
    registry.release();
  });

  it('each read the registry when the verifier must always read it (freshness 0)', async () => {
    const registry = heldRegistry();
    const cosign = verifierOver(registry.fetch, 0);
    const answers = [cosign.verify(IMAGE, REQUIREMENT, NOW), cosign.verify(IMAGE, REQUIREMENT, NOW)];
    await registry.blobAsked;
    registry.release();
    for (const answer of await Promise.all(answers)) expect(answer).toMatchObject({ signers: ['cosign:release'] });
    expect(registry.requests.filter((request) => request.url.includes('/blobs/'))).toHaveLength(2);
  });

  it('keep the verdict of every caller of the shared read, each under its own requirement', async () => {
    const registry = heldRegistry();
    const cosign = verifierOver(registry.fetch, 30_000);
    const renamed: CosignRequirement = { ...REQUIREMENT, authorities: [{ name: 'renamed', publicKeyPem: fixture('cosign.pub').toString('utf8') }] };
    const answers = [cosign.verify(IMAGE, REQUIREMENT, NOW), cosign.verify(IMAGE, renamed, NOW)];
    await registry.blobAsked;
    registry.release();
    const [first, second] = await Promise.all(answers);
    expect(cosign.known?.(IMAGE, REQUIREMENT, NOW)).toEqual(first);
    expect(cosign.known?.(IMAGE, renamed, NOW)).toEqual(second);
    expect(second).toMatchObject({ signers: ['cosign:renamed'] });
  });

  it('keep no verdict from a read a caller gave up on: the recording is incomplete and not kept', async () => {
    const registry = heldRegistry();
    const cosign = verifierOver(registry.fetch, 30_000);
    const impatient = new AbortController();
    const first = cosign.verify(IMAGE, REQUIREMENT, NOW, impatient.signal).catch((thrown: unknown) => thrown);
    const second = cosign.verify(IMAGE, REQUIREMENT, NOW);
    await registry.blobAsked;
    impatient.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'admission budget spent'));
    expect(await first).toMatchObject({ code: ErrorCode.ADMISSION_TIMEOUT });
    registry.release();
    expect(await second).toMatchObject({ signers: ['cosign:release'] });
    expect(cosign.known?.(IMAGE, REQUIREMENT, NOW)).toBeUndefined();
  });
});

describe('createRegistryReadFlights', () => {
  // A registry client whose digest resolution waits for `answer`, or for its read to be cancelled.
  function pendingClient(): { client: RegistryClient; resolutions: () => number; answer(digest: string): void } {
    let resolutions = 0;
    const waiting: ((digest: string) => void)[] = [];
    const client = {
      resolveDigest: (_image: unknown, deadline: Deadline) => {
        resolutions += 1;
        return new Promise<string>((resolve, reject) => {
          waiting.push(resolve);
          deadline.signal?.addEventListener('abort', () => reject(new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, 'cancelled')), { once: true });
        });
      },
    } as unknown as RegistryClient;
    return { client, resolutions: () => resolutions, answer: (digest) => waiting.forEach((resolve) => resolve(digest)) };
  }
  const DIGEST = `sha256:${'ab'.repeat(32)}`;
  const flightsFor = () => createRegistryReadFlights({ deadlineMs: 10_000, keep: () => Promise.resolve() });

  it('starts a new read for a caller arriving once every earlier caller gave up on the read', async () => {
    const registry = pendingClient();
    const flights = flightsFor();
    const first = new AbortController();
    const abandoned = flights.join(IMAGE, registry.client, '', NOW.getTime(), 30_000, first.signal);
    const abandonedDigest = abandoned.digest().catch((thrown: unknown) => thrown);
    first.abort();
    const later = flights.join(IMAGE, registry.client, '', NOW.getTime(), 30_000, undefined);
    expect(registry.resolutions()).toBe(2);
    registry.answer(DIGEST);
    expect(await later.digest()).toBe(DIGEST);
    expect(await abandonedDigest).toMatchObject({ code: ErrorCode.REGISTRY_UNAVAILABLE });
    await abandoned.leave();
    await later.leave();
    expect(flights.size).toBe(0);
  });

  it('holds a read only while some caller waits on it', async () => {
    const registry = pendingClient();
    const flights = flightsFor();
    const reads = [0, 1, 2].map(() => flights.join(IMAGE, registry.client, '', NOW.getTime(), 30_000, undefined));
    expect(registry.resolutions()).toBe(1);
    expect(flights.size).toBe(1);
    registry.answer(DIGEST);
    for (const read of reads) expect(await read.digest()).toBe(DIGEST);
    await reads[0]?.leave();
    expect(flights.size).toBe(1);
    await Promise.all(reads.map((read) => read.leave()));
    expect(flights.size).toBe(0);
  });
});
