import { ErrorCode, TrustgateError, type ErrorCode as Code } from './errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

// Parse JSON from an untrusted source. Keys that could pollute prototypes are rejected
// rather than dropped, so a hostile document cannot change meaning between parsers.
export function parseJsonSafely(text: string, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  let value: unknown;
  try {
    // The reviver costs a call per value; a text that cannot spell a forbidden key (not
    // even through a \u escape) skips it and is parsed the plain, faster way.
    value = MAY_HOLD_FORBIDDEN_KEY.test(text)
      ? JSON.parse(text, (key, v: unknown) => {
          if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError(`forbidden key "${key}"`);
          return v;
        })
      : JSON.parse(text);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return value;
}

// Decoding without `stream` keeps no state between calls, so one decoder serves them all.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBytes(bytes: Uint8Array, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not UTF-8`, { cause: error });
  }
  return parseJsonSafely(text, code, what);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
