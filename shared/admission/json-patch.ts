// JSON Patch (RFC 6902) documents the webhook answers with, and the JSON Pointers
// (RFC 6901) inside them.
import { createBoundedMemo } from '../cache/bounded-memo.js';
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

// The patch as the AdmissionResponse carries it: base64 of the JSON document. A warm
// admission of the same workload sends the same patch again, so the base64 of recent
// documents is kept (a pure function of the text; a bounded memo, and only documents of up
// to MEMO_MAX_CHARS, so a request cannot make it hold much).
export function encodeJsonPatch(operations: readonly JsonPatchReplace[]): string {
  const json = JSON.stringify(operations);
  if (json.length > MEMO_MAX_CHARS) return Buffer.from(json, 'utf8').toString('base64');
  let base64 = ENCODED.get(json);
  if (base64 === undefined) {
    base64 = Buffer.from(json, 'utf8').toString('base64');
    ENCODED.set(json, base64);
  }
  return base64;
}

const MEMO_MAX_CHARS = 4096;
const ENCODED = createBoundedMemo<string, string>(256);
