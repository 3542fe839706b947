// Strict standard base64 (RFC 4648 §4, padded), as Go's encoding/json writes []byte fields.
// Node's Buffer.from(text, 'base64') silently skips invalid characters, so hostile input is
// checked against the alphabet first: two different strings must never decode to one value.

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// The decoded bytes, or undefined when `text` is not padded standard base64.
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!STANDARD_BASE64.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
