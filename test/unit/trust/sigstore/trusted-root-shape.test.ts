import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTrustgateError } from '../../../../shared/errors.js';
import { decodeTrustedRoot, trustedRootFingerprint } from '../../../../shared/trust/sigstore/trusted-root-shape.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../../../shared/trust/sigstore/trusted-root-source.js';

const encode = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
const shipped = (): Record<string, unknown> => JSON.parse(JSON.stringify(PUBLIC_GOOD_TRUSTED_ROOT)) as Record<string, unknown>;

function problemsOf(value: unknown): readonly string[] {
  try {
    decodeTrustedRoot(encode(value));
  } catch (error) {
    if (isTrustgateError(error) && error.code === 'SIGSTORE_ROOT_INVALID') return error.problems.map((problem) => problem.path);
    throw error;
  }
  return [];
}

describe('decodeTrustedRoot', () => {
  it('accepts the shipped public-good root', () => {
    expect(decodeTrustedRoot(encode(PUBLIC_GOOD_TRUSTED_ROOT))).toEqual(PUBLIC_GOOD_TRUSTED_ROOT);
  });

  it('gives the same fingerprint however the file is spaced', () => {
    const spaced = decodeTrustedRoot(Buffer.from(JSON.stringify(PUBLIC_GOOD_TRUSTED_ROOT, null, 4)));
    expect(trustedRootFingerprint(spaced)).toBe(trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT));
    expect(trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  describe('when the root is not usable', () => {
    it('reports an unknown media type', () => {
      expect(problemsOf({ ...shipped(), mediaType: 'application/json' })).toEqual(['mediaType']);
    });

    it('reports a log key and a CA certificate that do not parse, each at its path', () => {
      const root = shipped() as { tlogs: Array<{ publicKey: { rawBytes: string } }>; certificateAuthorities: Array<{ certChain: { certificates: Array<{ rawBytes: string }> } }> };
      root.tlogs[0]!.publicKey.rawBytes = Buffer.from('not a key').toString('base64');
      root.certificateAuthorities[0]!.certChain.certificates[0]!.rawBytes = 'AAAA';
      expect(problemsOf(root)).toEqual(['tlogs[0].publicKey.rawBytes', 'certificateAuthorities[0].certChain.certificates[0].rawBytes']);
    });

    it('refuses a root that names no log and no authority', () => {
      expect(problemsOf({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [] })).toEqual(['']);
    });

    it('refuses lists that are not lists and JSON that is not an object', () => {
      expect(problemsOf({ ...shipped(), ctlogs: {} })).toEqual(['ctlogs']);
      expect(() => decodeTrustedRoot(encode([]))).toThrow(expect.objectContaining({ code: 'SIGSTORE_ROOT_INVALID' }));
      expect(() => decodeTrustedRoot(Buffer.from('{'))).toThrow(expect.objectContaining({ code: 'SIGSTORE_ROOT_INVALID' }));
    });
  });

  it('answers any input with a root or SIGSTORE_ROOT_INVALID, never another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.jsonValue().map((value) => ({ ...shipped(), tlogs: [value] })).map((value) => JSON.stringify(value))), (text) => {
        try {
          decodeTrustedRoot(Buffer.from(text));
        } catch (error) {
          expect(error).toMatchObject({ code: 'SIGSTORE_ROOT_INVALID' });
        }
      }),
      { numRuns: 300 },
    );
  });
});
