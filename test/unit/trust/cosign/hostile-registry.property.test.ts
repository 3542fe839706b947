// Whatever a registry answers, the cosign verifier ends in an answer or one of our error
// codes: never a crash, never INTERNAL. And the payload check, given any bytes, accepts only
// cosign's simple-signing document for the digest asked about.
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger, type Fetch } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import { checkPayload } from '../../../../shared/trust/cosign/payload.js';
import { fixture, MemoryRegistry, readSignatureFile, sha256 } from './support/memory-registry.js';

const IMAGE = parseImageReference('registry.example.com/app:v1');
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const KNOWN = new Set<string>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL));
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof TrustgateError) return error.code;
    throw error;
  }
  return undefined;
}

const jsonish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.json().map((text) => Buffer.from(text)),
  fc.anything().map((value) => Buffer.from(JSON.stringify({ critical: value, optional: null }) ?? '')),
);

describe('checkPayload on any bytes', () => {
  it('throws only COSIGN_PAYLOAD_INVALID or COSIGN_DIGEST_MISMATCH, or accepts a payload for the digest', () => {
    fc.assert(
      fc.property(jsonish, (bytes) => {
        const code = codeOf(() => checkPayload(bytes, DIGEST));
        if (code === undefined) expect(JSON.parse(Buffer.from(bytes).toString('utf8'))).toMatchObject({ critical: { image: { 'docker-manifest-digest': DIGEST } } });
        else expect([ErrorCode.COSIGN_PAYLOAD_INVALID, ErrorCode.COSIGN_DIGEST_MISMATCH]).toContain(code);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the cosign verifier against a registry answering anything', () => {
  it('answers or fails with one of its codes, never INTERNAL', async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, jsonish, jsonish, fc.constantFrom(200, 200, 301, 401, 404, 500), async (manifest, signatures, payload, status) => {
        const registry = new MemoryRegistry();
        const digest = registry.putManifest('app', 'v1', Buffer.from(manifest), 'application/vnd.oci.image.manifest.v1+json');
        registry.putManifest('app', `${digest.replace(':', '-')}.sig`, Buffer.from(signatures), 'application/vnd.oci.image.manifest.v1+json');
        const fetch: Fetch = async (request) => {
          if (request.url.includes('/blobs/')) return { status, body: payload, header: () => undefined };
          return registry.fetch(request);
        };
        const verifier = createCosignVerifier({ fetch, logger: silentLogger });
        try {
          await verifier.verify(IMAGE, { kind: 'cosign', authorities: [{ name: 'k', publicKeyPem: PEM }], threshold: 1 }, new Date(0));
          throw new Error('a random registry answer must not verify');
        } catch (error) {
          expect(error).toBeInstanceOf(TrustgateError);
          expect(KNOWN).toContain((error as TrustgateError).code);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('blob redirects', () => {
  const signature = readSignatureFile('valid/signature-1');
  const cosignPub = fixture('cosign.pub').toString('utf8');
  const image = parseImageReference('registry.example.com/cosign-signed-single-sample:v1');

  function redirecting(location: string): { fetch: Fetch; seen: { url: string; authorization: string | undefined }[] } {
    const registry = new MemoryRegistry();
    const digest = registry.putManifest('cosign-signed-single-sample', 'v1', fixture('valid/manifest.json'), 'application/vnd.docker.distribution.manifest.v2+json');
    registry.putSignatures('cosign-signed-single-sample', digest, [signature]);
    const seen: { url: string; authorization: string | undefined }[] = [];
    const fetch: Fetch = async (request) => {
      seen.push({ url: request.url, authorization: request.headers?.['authorization'] });
      if (request.url.startsWith('https://registry.example.com/') && request.url.includes('/blobs/')) {
        return { status: 307, body: new Uint8Array(), header: (name) => (name === 'location' ? location : undefined) };
      }
      if (request.url.startsWith('https://storage.example.com/')) return { status: 200, body: signature.payload, header: () => undefined };
      return registry.fetch(request);
    };
    return { fetch, seen };
  }

  it('follows a redirect to https storage and verifies what it serves', async () => {
    const { fetch, seen } = redirecting('https://storage.example.com/blob?sig=x');
    const verified = await createCosignVerifier({ fetch, logger: silentLogger }).verify(image, { kind: 'cosign', authorities: [{ name: 'k', publicKeyPem: cosignPub }], threshold: 1 }, new Date(0));
    expect(verified.digest).toBe(sha256(fixture('valid/manifest.json')));
    expect(seen.find((request) => request.url.startsWith('https://storage.example.com/'))?.authorization).toBeUndefined();
  });

  it('refuses a redirect to plain http off loopback', async () => {
    const { fetch } = redirecting('http://storage.example.com/blob');
    const verifier = createCosignVerifier({ fetch, logger: silentLogger });
    const error = await verifier.verify(image, { kind: 'cosign', authorities: [{ name: 'k', publicKeyPem: cosignPub }], threshold: 1 }, new Date(0)).catch((thrown: unknown) => thrown);
    expect((error as TrustgateError).code).toBe(ErrorCode.REGISTRY_RESPONSE_INVALID);
  });
});
