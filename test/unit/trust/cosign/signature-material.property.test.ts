// The decoder of stored signature material on arbitrary input: whatever a store holds (any
// JSON, any bytes, a valid record with any part replaced), decoding answers a material or
// undefined and never throws; and what it answers is about exactly the image and digest asked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { decodeMaterial, emptyMaterial, encodeMaterial } from '../../../../shared/trust/cosign/signature-material.js';

const image = parseImageReference('registry.example.com/team/app:v1');
const digest = `sha256:${'a'.repeat(64)}`;

function validRecord(): Record<string, unknown> {
  const material = emptyMaterial(image, digest);
  material.layers = { ok: true, value: [{ index: 1, digest: `sha256:${'b'.repeat(64)}`, size: 3, mediaType: 'x', signature: 'c2ln' }] };
  material.payloads.set(1, { ok: true, value: new Uint8Array([1, 2, 3]) });
  material.referrers = { ok: false, error: new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, 'bad index') };
  return JSON.parse(new TextDecoder().decode(encodeMaterial(material))) as Record<string, unknown>;
}

describe('decodeMaterial', () => {
  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(() => decodeMaterial(bytes, image, digest)).not.toThrow();
      }),
    );
  });

  it('never throws on a valid record with one field replaced by any JSON value, and never answers another image', () => {
    const fields = Object.keys(validRecord());
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
        const record = { ...validRecord(), [field]: value };
        const decoded = decodeMaterial(new TextEncoder().encode(JSON.stringify(record)), image, digest);
        if (decoded !== undefined) {
          expect(decoded.digest).toBe(digest);
          expect([decoded.registry, decoded.repository]).toEqual([image.registry, image.repository]);
        }
      }),
    );
  });
});
