// The OpenPGP packets of a simple signing signature (RFC 4880 §4, §5), walked with bounds
// before the OpenPGP library sees them. What `gpg --sign` (and so skopeo) writes is one
// compressed data packet holding a one-pass signature packet, a literal data packet (the
// JSON payload) and a signature packet.
// Security: a signature comes from a store anyone may write to, so it is hostile until
// verified. Its size is capped, compression is undone here with a cap on the output (a
// small deflate stream can expand a thousandfold; the OpenPGP library would inflate it all
// into memory), every packet's length is checked against the bytes that hold it and a cap,
// and only the packet sequence of a signed message is accepted (no nested compression, no
// encryption, no keys). The library then parses a small, already-bounded packet list.
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { ErrorCode, TrustgateError } from '../../errors.js';

// node:zlib, loaded when a signature is first inflated: every verify command loads this module
// (the simple signing verifier is part of the verifier), and zlib is a visible part of a cold
// Notary-only verify that never inflates anything.
let zlib: typeof Zlib | undefined;
const loadZlib = (): typeof Zlib => (zlib ??= createRequire(import.meta.url)('node:zlib') as typeof Zlib);

export interface PacketLimits {
  // Largest signature file read (compressed), and largest packet list after inflation.
  readonly maxSignatureBytes: number;
  readonly maxInflatedBytes: number;
  // Most packets in one signature's message.
  readonly maxPackets: number;
}

export const DEFAULT_PACKET_LIMITS: PacketLimits = {
  maxSignatureBytes: 64 * 1024,
  maxInflatedBytes: 256 * 1024,
  maxPackets: 8,
};

const TAG = { signature: 2, onePassSignature: 4, compressed: 8, marker: 10, literal: 11 } as const;
const COMPRESSION = { none: 0, zip: 1, zlib: 2 } as const;

interface Packet {
  readonly tag: number;
  readonly body: Uint8Array;
  // Offset of the next packet.
  readonly end: number;
}

// The packet list of the signed message inside `bytes` (compression undone), ready for the
// OpenPGP library: one-pass signatures, exactly one literal data packet, one or more
// signatures. Anything else throws SIMPLE_SIGNATURE_INVALID naming what was wrong.
export function unwrapSignedMessage(bytes: Uint8Array, limits: PacketLimits = DEFAULT_PACKET_LIMITS): Uint8Array {
  if (bytes.length === 0) throw invalid('is empty');
  if (bytes.length > limits.maxSignatureBytes) throw invalid(`is ${bytes.length} bytes, more than the ${limits.maxSignatureBytes} read`);
  const outer = readPackets(bytes, limits.maxPackets, limits.maxSignatureBytes);
  const first = outer[0];
  if (outer.length === 1 && first?.tag === TAG.compressed) {
    const inner = inflate(first.body, limits.maxInflatedBytes);
    checkSignedMessage(readPackets(inner, limits.maxPackets, limits.maxInflatedBytes));
    return inner;
  }
  checkSignedMessage(outer);
  return bytes;
}

// A signed message is [one-pass signature]* literal signature+ (RFC 4880 §11.3), or the
// older signature+ literal form; marker packets are not expected from gpg and are refused.
function checkSignedMessage(packets: readonly Packet[]): void {
  const tags = packets.map((packet) => packet.tag);
  const literals = tags.filter((tag) => tag === TAG.literal).length;
  const signatures = tags.filter((tag) => tag === TAG.signature).length;
  const other = tags.find((tag) => tag !== TAG.literal && tag !== TAG.signature && tag !== TAG.onePassSignature);
  if (other !== undefined) throw invalid(`holds an OpenPGP packet of tag ${other}: expected only a signed message`);
  if (literals !== 1) throw invalid(`holds ${literals} literal data packets: expected exactly 1`);
  if (signatures === 0) throw invalid('holds no signature packet');
}

// Undoes the compression of a compressed data packet: ZIP (raw deflate) or ZLIB, with the
// output capped. BZip2 is refused (gpg uses it only when configured to).
function inflate(body: Uint8Array, maxBytes: number): Uint8Array {
  const algorithm = body[0];
  const data = body.subarray(1);
  try {
    if (algorithm === COMPRESSION.none) return data;
    if (algorithm === COMPRESSION.zip) return new Uint8Array(loadZlib().inflateRawSync(data, { maxOutputLength: maxBytes }));
    if (algorithm === COMPRESSION.zlib) return new Uint8Array(loadZlib().inflateSync(data, { maxOutputLength: maxBytes }));
  } catch (error) {
    const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw invalid(tooLarge ? `expands to more than the ${maxBytes} bytes allowed` : 'holds compressed data that does not inflate', error);
  }
  throw invalid(`uses compression algorithm ${algorithm ?? 'none'}: expected ZIP or ZLIB`);
}

// Every packet of `bytes`, in order; a length that runs past the end, a packet body larger
// than `maxBody` or more than `maxPackets` packets are refused.
function readPackets(bytes: Uint8Array, maxPackets: number, maxBody: number): Packet[] {
  const packets: Packet[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    if (packets.length === maxPackets) throw invalid(`holds more than ${maxPackets} OpenPGP packets`);
    const packet = readPacket(bytes, offset, maxBody);
    packets.push(packet);
    offset = packet.end;
  }
  return packets;
}

// One packet at `offset`: old-format (RFC 4880 §4.2.1, including the indeterminate length
// gpg uses for compressed data) or new-format headers (§4.2.2, including partial body
// lengths, whose chunks are joined).
function readPacket(bytes: Uint8Array, offset: number, maxBody: number): Packet {
  const ctb = byteAt(bytes, offset);
  if ((ctb & 0x80) === 0) throw invalid(`is not OpenPGP data (byte ${offset} is not a packet header)`);
  if ((ctb & 0x40) === 0) {
    const tag = (ctb >> 2) & 0x0f;
    const lengthType = ctb & 0x03;
    if (lengthType === 3) return { tag, body: bytes.subarray(offset + 1), end: bytes.length };
    const size = 1 << lengthType;
    const length = readLength(bytes, offset + 1, size);
    return bodyOf(bytes, tag, offset + 1 + size, length, maxBody);
  }
  const tag = ctb & 0x3f;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (let at = offset + 1; ; ) {
    const first = byteAt(bytes, at);
    if (first >= 224 && first < 255) {
      // A partial body chunk of 2^n bytes; more length octets follow it.
      const length = 1 << (first & 0x1f);
      total += length;
      if (total > maxBody) throw invalid(`holds an OpenPGP packet larger than ${maxBody} bytes`);
      chunks.push(slice(bytes, at + 1, length));
      at += 1 + length;
      continue;
    }
    const [length, headerSize] = first < 192 ? [first, 1] : first < 224 ? [((first - 192) << 8) + byteAt(bytes, at + 1) + 192, 2] : [readLength(bytes, at + 1, 4), 5];
    if (chunks.length === 0) return bodyOf(bytes, tag, at + headerSize, length, maxBody);
    total += length;
    if (total > maxBody) throw invalid(`holds an OpenPGP packet larger than ${maxBody} bytes`);
    chunks.push(slice(bytes, at + headerSize, length));
    const body = new Uint8Array(total);
    let written = 0;
    for (const chunk of chunks) {
      body.set(chunk, written);
      written += chunk.length;
    }
    return { tag, body, end: at + headerSize + length };
  }
}

function bodyOf(bytes: Uint8Array, tag: number, start: number, length: number, maxBody: number): Packet {
  if (length > maxBody) throw invalid(`holds an OpenPGP packet of ${length} bytes, more than the ${maxBody} allowed`);
  return { tag, body: slice(bytes, start, length), end: start + length };
}

function readLength(bytes: Uint8Array, at: number, size: number): number {
  let length = 0;
  for (let index = 0; index < size; index += 1) length = length * 256 + byteAt(bytes, at + index);
  return length;
}

function slice(bytes: Uint8Array, start: number, length: number): Uint8Array {
  if (start + length > bytes.length) throw invalid('ends inside an OpenPGP packet (truncated)');
  return bytes.subarray(start, start + length);
}

function byteAt(bytes: Uint8Array, at: number): number {
  const value = bytes[at];
  if (value === undefined) throw invalid('ends inside an OpenPGP packet header (truncated)');
  return value;
}

function invalid(what: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_SIGNATURE_INVALID, `signature ${what}`, cause === undefined ? {} : { cause });
}
