// JSON Patch (RFC 6902) documents the webhook answers with, and the JSON Pointers
// (RFC 6901) inside them.
import type { JsonPatchReplace } from './admission-review.js';

// One reference token: '~' becomes '~0' and '/' becomes '~1', in that order, so a key
// holding either character addresses itself and nothing else (RFC 6901 §3).
export function escapePointerToken(token: string): string {
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function toJsonPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((token) => `/${escapePointerToken(String(token))}`).join('');
}

// The patch as the AdmissionResponse carries it: base64 of the JSON document (its UTF-8
// bytes). A document of ASCII characters only (the usual one: pointers into a pod spec and
// pinned references; as many UTF-8 bytes as characters) is its own UTF-8 and is encoded by
// btoa, which takes no buffer; any other goes through its UTF-8 bytes (btoa would encode
// code points 128 to 255 as one byte each).
export function encodeJsonPatch(operations: readonly JsonPatchReplace[]): string {
  const text = JSON.stringify(operations);
  return Buffer.byteLength(text, 'utf8') === text.length ? btoa(text) : Buffer.from(text, 'utf8').toString('base64');
}
