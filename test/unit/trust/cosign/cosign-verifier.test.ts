// The cosign verifier on real signatures made by cosign (test/fixtures/cosign), served by an
// in-memory registry: the key-signed vectors verify with their key, and every way a
// signature or a registry can be wrong is refused with its code.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rejectionCodeOf } from '../../../support/trustgate-errors.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import type { CosignRequirement } from '../../../../shared/trust/verifier.js';
import { fixture, MemoryRegistry, readSignatureFile, sha256, type SignatureSpec } from './support/memory-registry.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const REPOSITORY = 'cosign-signed-single-sample';
const IMAGE = parseImageReference(`registry.example.com/${REPOSITORY}:v1`);
const VALID_DIGEST = 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00';
const COSIGN_PUB = fixture('cosign.pub').toString('utf8');
const COSIGN2_PUB = fixture('cosign2.pub').toString('utf8');

function requirement(...keys: readonly string[]): CosignRequirement {
  return { kind: 'cosign', authorities: keys.map((publicKeyPem, index) => ({ name: `key-${index + 1}`, publicKeyPem })), threshold: 1 };
}

// A registry holding the vectors' image at tag v1 with the given signatures.
function registryWith(signatures: readonly SignatureSpec[], manifest: Buffer = fixture('valid/manifest.json')): { registry: MemoryRegistry; digest: string } {
  const registry = new MemoryRegistry();
  const digest = registry.putManifest(REPOSITORY, 'v1', manifest, DOCKER_MANIFEST);
  if (signatures.length > 0) registry.putSignatures(REPOSITORY, digest, signatures);
  return { registry, digest };
}

function verifierFor(registry: MemoryRegistry) {
  return createCosignVerifier({ fetch: registry.fetch, logger: silentLogger });
}


const NOW = new Date('2026-12-01T00:00:00Z');

// A P-256 key pair the test owns, for payloads no real vector has.
function ownKey(): { pem: string; sign(payload: Uint8Array): string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (payload) => sign('sha256', payload, privateKey).toString('base64'),
  };
}

function payloadFor(digest: string, type = 'cosign container image signature'): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': `registry.example.com/${REPOSITORY}` }, image: { 'docker-manifest-digest': digest }, type }, optional: null }));
}

describe('cosign verifier on real cosign signatures', () => {
  it('accepts the key-signed vector with cosign.pub and answers the manifest digest', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    const verified = await verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW);
    expect(verified).toEqual({ digest: VALID_DIGEST, signers: ['cosign:key-1'] });
  });

  it('accepts an image with two signatures and one whose payload carries optional data', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-2'), readSignatureFile('valid/signature-with-optional')]);
    expect((await verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW)).digest).toBe(VALID_DIGEST);
  });

  it('accepts the key-signed vector that also carries a Rekor bundle, with cosign2.pub', async () => {
    const { registry, digest } = registryWith([readSignatureFile('key-rekor/signature-1')], fixture('key-rekor/manifest.json'));
    expect((await verifierFor(registry).verify(IMAGE, requirement(COSIGN2_PUB), NOW)).digest).toBe(digest);
  });

  it('accepts an image pinned by its digest', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    const pinned = parseImageReference(`registry.example.com/${REPOSITORY}@${VALID_DIGEST}`);
    expect((await verifierFor(registry).verify(pinned, requirement(COSIGN_PUB), NOW)).digest).toBe(VALID_DIGEST);
  });

  it('skips a bad signature when another one verifies', async () => {
    const tampered = readSignatureFile('valid/signature-2');
    const { registry } = registryWith([{ ...tampered, payload: Buffer.from(String(tampered.payload).replace('null', '{}')) }, readSignatureFile('valid/signature-1')]);
    expect((await verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW)).signers).toEqual(['cosign:key-1']);
  });

  it('requires each of threshold authorities to have signed', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    const two = { ...requirement(COSIGN_PUB, COSIGN2_PUB), threshold: 2 };
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, two, NOW))).toBe(ErrorCode.COSIGN_THRESHOLD_NOT_MET);
    const one = { ...requirement(COSIGN2_PUB, COSIGN_PUB), threshold: 1 };
    expect((await verifierFor(registry).verify(IMAGE, one, NOW)).signers).toEqual(['cosign:key-2']);
  });
});

describe('cosign verifier threshold counting', () => {
  describe('when two authorities name the same key', () => {
    const sameKeyTwice: CosignRequirement = { kind: 'cosign', authorities: [{ name: 'release', publicKeyPem: COSIGN_PUB }, { name: 'release-copy', publicKeyPem: `${COSIGN_PUB}\n` }], threshold: 2 };

    it('counts the key once, so threshold 2 is not met, even with two signatures by it', async () => {
      const { registry } = registryWith([readSignatureFile('valid/signature-1'), readSignatureFile('valid/signature-2')]);
      const error = await verifierFor(registry).verify(IMAGE, sameKeyTwice, NOW).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(TrustgateError);
      expect((error as TrustgateError).code).toBe(ErrorCode.COSIGN_THRESHOLD_NOT_MET);
      expect((error as TrustgateError).message).toContain('release-copy');
    });

    it('reports only the authority the key was counted for at threshold 1', async () => {
      const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
      expect((await verifierFor(registry).verify(IMAGE, { ...sameKeyTwice, threshold: 1 }, NOW)).signers).toEqual(['cosign:release']);
    });
  });

  it('meets threshold 2 with two different keys, reporting both', async () => {
    const own = ownKey();
    const payload = payloadFor(VALID_DIGEST);
    const { registry } = registryWith([readSignatureFile('valid/signature-1'), { payload, signature: own.sign(payload) }]);
    const two: CosignRequirement = { kind: 'cosign', authorities: [{ name: 'a', publicKeyPem: COSIGN_PUB }, { name: 'b', publicKeyPem: own.pem }], threshold: 2 };
    expect((await verifierFor(registry).verify(IMAGE, two, NOW)).signers).toEqual(['cosign:a', 'cosign:b']);
  });
});

describe('cosign verifier refusals', () => {
  it('refuses a signature checked with the wrong key (cosign2.pub)', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN2_PUB), NOW))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('refuses a tampered payload', async () => {
    const original = readSignatureFile('valid/signature-1');
    const payload = Buffer.from(original.payload);
    payload[payload.length - 3] = (payload[payload.length - 3] ?? 0) ^ 0x01;
    const { registry } = registryWith([{ ...original, payload }]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('refuses a genuine signature copied from another image (digest claim for another image)', async () => {
    // The key-rekor image's signature is valid for cosign2.pub, but vouches for its own digest.
    const { registry } = registryWith([readSignatureFile('key-rekor/signature-1')]);
    const error = await verifierFor(registry).verify(IMAGE, requirement(COSIGN2_PUB), NOW).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.COSIGN_DIGEST_MISMATCH);
    expect((error as TrustgateError).message).toContain('sha256:0489474d');
  });

  it('refuses a signed payload of another type', async () => {
    const key = ownKey();
    const payload = payloadFor(VALID_DIGEST, 'atomic container signature');
    const { registry } = registryWith([{ payload, signature: key.sign(payload) }]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(key.pem), NOW))).toBe(ErrorCode.COSIGN_PAYLOAD_INVALID);
  });

  it('refuses a signed payload with an unknown critical member', async () => {
    const key = ownKey();
    const document = JSON.parse(payloadFor(VALID_DIGEST).toString()) as { critical: Record<string, unknown> };
    document.critical['extra'] = true;
    const payload = Buffer.from(JSON.stringify(document));
    const { registry } = registryWith([{ payload, signature: key.sign(payload) }]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(key.pem), NOW))).toBe(ErrorCode.COSIGN_PAYLOAD_INVALID);
  });

  it('reads every JSON key of a payload as data (__proto__ is just an unknown member)', async () => {
    const key = ownKey();
    const payload = Buffer.from(payloadFor(VALID_DIGEST).toString().replace('"optional":null', '"optional":null,"__proto__":{"critical":1}'));
    const { registry } = registryWith([{ payload, signature: key.sign(payload) }]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(key.pem), NOW))).toBe(ErrorCode.COSIGN_PAYLOAD_INVALID);
  });

  it('refuses an Ed25519 key with its own code', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(pem), NOW))).toBe(ErrorCode.COSIGN_KEY_UNSUPPORTED);
    expect(registry.requests).toEqual([]);
  });

  it('answers COSIGN_SIGNATURE_MISSING when the image has no signature manifest', async () => {
    const { registry } = registryWith([]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.COSIGN_SIGNATURE_MISSING);
  });

  it('answers IMAGE_NOT_FOUND for an image the registry does not have', async () => {
    const { registry } = registryWith([]);
    const missing = parseImageReference(`registry.example.com/${REPOSITORY}:nope`);
    expect(await rejectionCodeOf(verifierFor(registry).verify(missing, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.IMAGE_NOT_FOUND);
  });
});

describe('cosign verifier against a hostile registry', () => {
  it('refuses a manifest whose Docker-Content-Digest is not the hash of its body', async () => {
    const registry = new MemoryRegistry();
    registry.putManifest(REPOSITORY, 'v1', fixture('valid/manifest.json'), DOCKER_MANIFEST, { 'docker-content-digest': sha256(Buffer.from('other')) });
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_DIGEST_MISMATCH);
  });

  it('refuses another manifest served for a pinned digest', async () => {
    const registry = new MemoryRegistry();
    const other = Buffer.from(`${fixture('valid/manifest.json').toString()} `);
    registry.manifests.set(`${REPOSITORY}/${VALID_DIGEST}`, { body: other, headers: { 'content-type': DOCKER_MANIFEST } });
    const pinned = parseImageReference(`registry.example.com/${REPOSITORY}@${VALID_DIGEST}`);
    expect(await rejectionCodeOf(verifierFor(registry).verify(pinned, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_DIGEST_MISMATCH);
  });

  it('refuses a payload blob that does not hash to its descriptor digest', async () => {
    const signature = readSignatureFile('valid/signature-1');
    const { registry } = registryWith([signature]);
    registry.blobs.set(sha256(signature.payload), Buffer.from(signature.payload.toString().replace('null', 'true')));
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_DIGEST_MISMATCH);
  });

  it('refuses a manifest that is not an image manifest (garbage, schema 1)', async () => {
    const registry = new MemoryRegistry();
    registry.putManifest(REPOSITORY, 'v1', Buffer.from('<html>not json</html>'), 'text/html');
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_RESPONSE_INVALID);
    registry.putManifest(REPOSITORY, 'v1', Buffer.from('{"schemaVersion":1,"name":"x"}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_RESPONSE_INVALID);
  });

  it('looks at no more than 32 signature layers and fetches none of them past that', async () => {
    const signature = readSignatureFile('valid/signature-1');
    const { registry } = registryWith(Array.from({ length: 33 }, () => signature));
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE);
    expect(registry.requests.filter((url) => url.includes('/blobs/'))).toEqual([]);
  });

  it('does not read a payload larger than the cap, whatever size its descriptor claims', async () => {
    const key = ownKey();
    const big = Buffer.concat([payloadFor(VALID_DIGEST).subarray(0, -1), Buffer.from(`,"pad":"${'x'.repeat(70 * 1024)}"}`)]);
    const { registry } = registryWith([{ payload: big, signature: key.sign(big), size: 100 }]);
    expect(await rejectionCodeOf(verifierFor(registry).verify(IMAGE, requirement(key.pem), NOW))).toBe(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE);
    const claimed = registryWith([{ payload: big, signature: key.sign(big) }]).registry;
    expect(await rejectionCodeOf(verifierFor(claimed).verify(IMAGE, requirement(key.pem), NOW))).toBe(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE);
    expect(claimed.requests.filter((url) => url.includes('/blobs/'))).toEqual([]);
  });

  it('stops at the deadline shared by all of a verification\'s requests', async () => {
    const { registry } = registryWith([readSignatureFile('valid/signature-1')]);
    let now = 0;
    const slow = async (request: Parameters<typeof registry.fetch>[0]) => {
      now += 600;
      return registry.fetch(request);
    };
    const verifier = createCosignVerifier({ fetch: slow, logger: silentLogger, deadlineMs: 1000, monotonicNow: () => now });
    expect(await rejectionCodeOf(verifier.verify(IMAGE, requirement(COSIGN_PUB), NOW))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    expect(registry.requests.length).toBe(2);
  });
});
