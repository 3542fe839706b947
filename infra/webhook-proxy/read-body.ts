// Reads a request body while streaming and stops at a byte cap, so a client cannot make
// the webhook buffer an unbounded body before anything has looked at it.
import type { IncomingMessage } from 'node:http';

export type BodyRead = { readonly kind: 'body'; readonly bytes: Uint8Array } | { readonly kind: 'too-large' };

export function readBody(request: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => readBodyThen(request, maxBytes, resolve, reject));
}

const TOO_LARGE: BodyRead = { kind: 'too-large' };

// The same, calling `done` with the body (or `failed` with the stream's error) once, from the
// stream's own callback: a warm admission review is answered right there, without a promise
// and the microtasks that settle it.
export function readBodyThen(request: IncomingMessage, maxBytes: number, done: (read: BodyRead) => void, failed: (error: unknown) => void): void {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    done(TOO_LARGE);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  request.on('data', (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > maxBytes) {
      settled = true;
      chunks.length = 0;
      // Keep draining without storing, so the answer can still be written on this socket.
      done(TOO_LARGE);
      return;
    }
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (settled) return;
    settled = true;
    done({ kind: 'body', bytes: Buffer.concat(chunks) });
  });
  request.on('error', (error) => {
    if (settled) return;
    settled = true;
    failed(error);
  });
}
