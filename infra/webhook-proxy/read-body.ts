// Reads a request body while streaming and stops at a byte cap, so a client cannot make
// the webhook buffer an unbounded body before anything has looked at it.
import type { IncomingMessage } from 'node:http';

export type BodyRead = { readonly kind: 'body'; readonly bytes: Uint8Array } | { readonly kind: 'too-large' };

export function readBody(request: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      request.resume();
      resolve({ kind: 'too-large' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        chunks.length = 0;
        // Keep draining without storing, so the answer can still be written on this socket.
        resolve({ kind: 'too-large' });
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (done) return;
      done = true;
      resolve({ kind: 'body', bytes: Buffer.concat(chunks) });
    });
    request.on('error', (error) => {
      if (done) return;
      done = true;
      reject(error);
    });
  });
}
