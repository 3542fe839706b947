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

// The patch as the AdmissionResponse carries it: base64 of the JSON document.
export function encodeJsonPatch(operations: readonly JsonPatchReplace[]): string {
  return Buffer.from(JSON.stringify(operations), 'utf8').toString('base64');
}
