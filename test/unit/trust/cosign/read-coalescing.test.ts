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
});
