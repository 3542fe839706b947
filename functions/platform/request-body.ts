// A function's request body within its bound (shared/function-request-limits.ts) on every
// platform, refused before it is decoded or parsed.
// Security: the caller is not trusted until the handler has checked it, so what a body makes
// the function spend (base64 decoding, JSON parsing, the objects built) is bounded first.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { MAX_FUNCTION_REQUEST_BYTES } from '../../shared/function-request-limits.js';

export const MAX_REQUEST_BODY_BYTES = MAX_FUNCTION_REQUEST_BYTES;

// The longest base64 text a body of MAX_REQUEST_BODY_BYTES may be sent as: its encoding, with
// room for a line break (CR LF) every 64 characters, which the decoder skips.
const MAX_BASE64_CHARS = Math.ceil(MAX_REQUEST_BODY_BYTES / 3) * 4 * (1 + 2 / 64);

// The refusal of an oversized body: REQUEST_INVALID, the caller's error (400).
export function bodyTooLargeError(): TrustgateError {
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `request body is larger than ${MAX_REQUEST_BODY_BYTES} bytes`);
}

// The body's text: `raw` itself, or decoded from base64 when `base64`. Refused with
// bodyTooLargeError when the text would exceed MAX_REQUEST_BODY_BYTES; base64 text longer than
// any encoding of such a body is refused before it is decoded.
export function decodeRequestBodyText(raw: string, base64: boolean): string {
  if (base64 && raw.length > MAX_BASE64_CHARS) throw bodyTooLargeError();
  if (!base64 && raw.length > MAX_REQUEST_BODY_BYTES) throw bodyTooLargeError();
  const text = base64 ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > MAX_REQUEST_BODY_BYTES) throw bodyTooLargeError();
  return text;
}
