// The JSON Patch document as the AdmissionResponse carries it.
import { describe, expect, it } from 'vitest';
import { encodeJsonPatch } from '../../../shared/admission/json-patch.js';

function decoded(patch: string): unknown {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
}

describe('encodeJsonPatch', () => {
  it('encodes the document as base64 of its JSON text', () => {
    const operations = [{ op: 'replace' as const, path: '/spec/containers/0/image', value: `registry.test:5000/it/app@sha256:${'ab'.repeat(32)}` }];
    const patch = encodeJsonPatch(operations);
    expect(patch).toBe(Buffer.from(JSON.stringify(operations), 'utf8').toString('base64'));
    expect(decoded(patch)).toEqual(operations);
  });

  it('encodes characters beyond ASCII as their UTF-8 bytes, as the API server decodes them', () => {
    // U+00E9 lies in the range a Latin-1 encoding would write as one byte; U+20AC and U+1F600 beyond it.
    const operations = [{ op: 'replace' as const, path: '/spec/volumes/0/image/reference~1\u00e9', value: 'caf\u00e9 \u20ac \u{1f600}' }];
    const patch = encodeJsonPatch(operations);
    expect(patch).toBe(Buffer.from(JSON.stringify(operations), 'utf8').toString('base64'));
    expect(decoded(patch)).toEqual(operations);
  });
});
