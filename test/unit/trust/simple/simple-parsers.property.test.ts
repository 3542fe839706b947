// Property tests of the parsers that read what a signature store serves: for any bytes,
// each either answers or throws a TrustgateError with its own code; anything else is a bug.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { readKeyring } from '../../../../shared/trust/simple/keyring.js';
import { unwrapSignedMessage } from '../../../../shared/trust/simple/packets.js';
import { decodeSimplePayload } from '../../../../shared/trust/simple/payload.js';
import { verifySimpleSignature, type VerifiedSignature } from '../../../../shared/trust/simple/signature.js';

const FIXTURES = new URL('../../../fixtures/simple-signing/', import.meta.url);
const SAMPLE_SIGNATURE = new Uint8Array(readFileSync(new URL('simple-signing-signature-1.bin', FIXTURES)));
const SAMPLE_KEY = new Uint8Array(readFileSync(new URL('simple-signing-pubkey.asc', FIXTURES)));
const NOW = new Date('2026-12-01T00:00:00Z');

function expectCode(run: () => unknown, code: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(code);
  }
}

describe('simple signing parsers on arbitrary input', () => {
  it('unwrapSignedMessage answers or refuses with SIMPLE_SIGNATURE_INVALID', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => expectCode(() => unwrapSignedMessage(bytes), ErrorCode.SIMPLE_SIGNATURE_INVALID)));
  });

  it('decodeSimplePayload answers or refuses with SIMPLE_PAYLOAD_INVALID', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.jsonValue().map((value) => new TextEncoder().encode(JSON.stringify(value)))), (bytes) => expectCode(() => decodeSimplePayload(bytes), ErrorCode.SIMPLE_PAYLOAD_INVALID)));
  });

  it('verifySimpleSignature refuses the sample with any byte changed, with SIMPLE_SIGNATURE_INVALID', async () => {
    const keyring = await readKeyring('sample', SAMPLE_KEY);
    const original = await verifySimpleSignature(SAMPLE_SIGNATURE, keyring, NOW);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: SAMPLE_SIGNATURE.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
        const changed = new Uint8Array(SAMPLE_SIGNATURE);
        changed[at] = (changed[at] ?? 0) ^ flip;
        const outcome = await verifySimpleSignature(changed, keyring, NOW).then(
          (verified) => verified,
          (error: unknown) => error,
        );
        // A change in what the signature does not cover (packet framing that still parses to
        // the same packets, the creation time's unsigned copy) may still verify; then the
        // payload is the signed one, byte for byte.
        if (outcome instanceof TrustgateError) expect(outcome.code).toBe(ErrorCode.SIMPLE_SIGNATURE_INVALID);
        else expect(decodeSimplePayload((outcome as VerifiedSignature).payload)).toEqual(decodeSimplePayload(original.payload));
      }),
      { numRuns: 60 },
    );
  });
});
