// The verify-image function's explicit form with cosign keys (where explicit trust is
// allowed): a key counts once towards the threshold, whatever the request calls it.
import { describe, expect, it } from 'vitest';
import { createVerifyImageHandler } from '../../../functions/verify-image/handler.js';
import { ErrorCode } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/ports.js';
import { createCosignVerifier } from '../../../shared/trust/cosign/cosign-verifier.js';
import type { ImageVerifier, NotaryRequirement } from '../../../shared/trust/verifier.js';
import { fixture, MemoryRegistry, readSignatureFile } from '../trust/cosign/support/memory-registry.js';

const REPOSITORY = 'cosign-signed-single-sample';
const COSIGN_PUB = fixture('cosign.pub').toString('utf8');
const notary: ImageVerifier<NotaryRequirement> = { kind: 'notary', verify: () => Promise.reject(new Error('Notary is not asked in these tests')) };

// The handler over a registry holding the vectors' image, signed twice with cosign.pub.
function handler() {
  const registry = new MemoryRegistry();
  const digest = registry.putManifest(REPOSITORY, 'v1', fixture('valid/manifest.json'), 'application/vnd.docker.distribution.manifest.v2+json');
  registry.putSignatures(REPOSITORY, digest, [readSignatureFile('valid/signature-1'), readSignatureFile('valid/signature-2')]);
  const cosign = createCosignVerifier({ fetch: registry.fetch, logger: silentLogger });
  return createVerifyImageHandler({ notary, cosign, clock: { now: () => new Date('2026-12-01T00:00:00Z') }, logger: silentLogger, allowExplicitTrust: true });
}

describe('verify-image explicit cosign keys', () => {
  describe('when one key is sent under two names with threshold 2', () => {
    it('refuses the request (400 REQUEST_INVALID on the second key) instead of counting the key twice', async () => {
      const keys = [{ name: 'release', publicKey: COSIGN_PUB }, { name: 'release-again', publicKey: COSIGN_PUB.replace(/\n/g, '\r\n') }];
      const response = await handler()({ image: `registry.example.com/${REPOSITORY}:v1`, cosign: { keys, threshold: 2 } });
      expect(response).toMatchObject({ statusCode: 400, body: { error: { code: ErrorCode.REQUEST_INVALID, problems: [{ path: 'cosign.keys[1].publicKey' }] } } });
    });
  });

  it('admits the image with the key sent once', async () => {
    const response = await handler()({ image: `registry.example.com/${REPOSITORY}:v1`, cosign: { keys: [{ name: 'release', publicKey: COSIGN_PUB }] } });
    expect(response).toMatchObject({ statusCode: 200, body: { allowed: true, signers: ['cosign:release'] } });
  });
});
