// The caller's budget reaches the cosign verifier's registry requests: when an admission has
// answered (its signal aborted), requests to a registry that never answers are aborted too,
// rather than running on to the verifier's own deadline.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger, type Fetch, type HttpRequest, type HttpResponse } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import type { ImageVerifier, NotaryRequirement } from '../../../../shared/trust/verifier.js';
import { verifyImage } from '../../../../shared/verify/verify-image.js';
import { decodeVerifyImageRequest } from '../../../../shared/verify/verify-image-request.js';
import { fixture, MemoryRegistry, readSignatureFile } from './support/memory-registry.js';

const COSIGN_PUB = fixture('cosign.pub').toString('utf8');

// A registry that accepts every request and never answers. Like the real HTTP adapter, a
// request rejects only when its own signal aborts (its timeout is far away).
function silentRegistry(): { fetch: Fetch; requests: HttpRequest[]; asked: Promise<void> } {
  const requests: HttpRequest[] = [];
  let onAsked: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => (onAsked = resolve));
  const fetch: Fetch = (request) => {
    requests.push(request);
    onAsked();
    return new Promise<HttpResponse>((_resolve, reject) => {
      request.signal?.addEventListener('abort', () => reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'request aborted')), { once: true });
    });
  };
  return { fetch, requests, asked };
}

const notaryNeverAsked: ImageVerifier<NotaryRequirement> = {
  kind: 'notary',
  verify: () => Promise.reject(new Error('Notary is not part of this request')),
};

describe('cosign verification under the caller\'s budget', () => {
  it('aborts the registry request when the admission\'s signal aborts, and answers a denial', async () => {
    const registry = silentRegistry();
    const cosign = createCosignVerifier({ fetch: registry.fetch, logger: silentLogger });
    const request = decodeVerifyImageRequest({ image: 'registry.example.com/app:v1', cosign: { keys: [{ name: 'release', publicKey: COSIGN_PUB }] } });
    const admission = new AbortController();
    const answer = verifyImage(
      { notary: notaryNeverAsked, cosign, clock: { now: () => new Date('2026-12-01T00:00:00Z') }, logger: silentLogger },
      request,
      admission.signal,
    );
    await registry.asked;
    expect(registry.requests).toHaveLength(1);
    expect(registry.requests[0]?.signal?.aborted).toBe(false);
    admission.abort();
    expect(registry.requests[0]?.signal?.aborted).toBe(true);
    expect(await answer).toMatchObject({ allowed: false, codes: [ErrorCode.REGISTRY_UNAVAILABLE] });
    expect(registry.requests).toHaveLength(1);
  });

  it('sends no registry request at all once the caller\'s signal has already aborted', async () => {
    const registry = silentRegistry();
    const cosign = createCosignVerifier({ fetch: registry.fetch, logger: silentLogger });
    const requirement = { kind: 'cosign' as const, authorities: [{ name: 'release', publicKeyPem: COSIGN_PUB }], threshold: 1 };
    const image = parseImageReference('registry.example.com/app:v1');
    const error = await cosign.verify(image, requirement, new Date('2026-12-01T00:00:00Z'), AbortSignal.abort()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    expect(registry.requests).toEqual([]);
  });

  it('stops at the payload being read when the caller gives up, and asks for no other signature', async () => {
    // Manifests are answered; payload blobs never are.
    const registry = new MemoryRegistry();
    const digest = registry.putManifest('app', 'v1', fixture('valid/manifest.json'), 'application/vnd.docker.distribution.manifest.v2+json');
    registry.putSignatures('app', digest, [readSignatureFile('valid/signature-1'), readSignatureFile('valid/signature-2')]);
    const blobs: HttpRequest[] = [];
    let onBlob: () => void = () => undefined;
    const blobAsked = new Promise<void>((resolve) => (onBlob = resolve));
    const fetch: Fetch = (request) => {
      if (!request.url.includes('/blobs/')) return registry.fetch(request);
      blobs.push(request);
      onBlob();
      return new Promise<HttpResponse>((_resolve, reject) => {
        request.signal?.addEventListener('abort', () => reject(request.signal?.reason as Error), { once: true });
      });
    };
    const cosign = createCosignVerifier({ fetch, logger: silentLogger });
    const requirement = { kind: 'cosign' as const, authorities: [{ name: 'release', publicKeyPem: COSIGN_PUB }], threshold: 1 };
    const admission = new AbortController();
    const verified = cosign.verify(parseImageReference('registry.example.com/app:v1'), requirement, new Date('2026-12-01T00:00:00Z'), admission.signal).catch((thrown: unknown) => thrown);
    await blobAsked;
    admission.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'admission budget spent'));

    expect(blobs[0]?.signal?.aborted).toBe(true);
    expect(await verified).toMatchObject({ code: ErrorCode.ADMISSION_TIMEOUT });
    expect(blobs).toHaveLength(1);
  });
});
