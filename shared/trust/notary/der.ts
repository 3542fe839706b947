// A minimal DER reader for the few certificate fields node:crypto does not expose
// (signature algorithm OID, validity as dates, subject attributes by type). It reads
// hostile bytes: every length is bounds-checked and any malformed input returns undefined,
// never a partial or guessed value.

export interface DerElement {
  // Identifier octet (class, constructed bit and tag number; only low tag numbers are read).
  readonly tag: number;
  readonly contents: Uint8Array;
}

export const DerTag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
} as const;

// Reads one element at `offset`; returns it with the offset just past it, or undefined
// when the header or length is malformed, indefinite, non-minimal or runs past the end.
function readElement(bytes: Uint8Array, offset: number): { element: DerElement; next: number } | undefined {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) return undefined;
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 4) return undefined;
    length = 0;
    for (let i = 0; i < octets; i += 1) {
      const octet = bytes[start + i];
      if (octet === undefined) return undefined;
      length = length * 256 + octet;
    }
    if (length < 0x80 || bytes[start] === 0) return undefined;
    start += octets;
  }
  const end = start + length;
  if (end > bytes.length) return undefined;
  return { element: { tag, contents: bytes.subarray(start, end) }, next: end };
}

// Exactly one element filling `bytes`, as a whole certificate must.
export function readSingle(bytes: Uint8Array): DerElement | undefined {
  const read = readElement(bytes, 0);
  return read && read.next === bytes.length ? read.element : undefined;
}

// The elements inside a constructed value, or undefined if any is malformed.
export function readChildren(element: DerElement): DerElement[] | undefined {
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < element.contents.length) {
    const read = readElement(element.contents, offset);
    if (!read) return undefined;
    children.push(read.element);
    offset = read.next;
  }
  return children;
}

// Dotted-decimal form of an OBJECT IDENTIFIER, e.g. '1.2.840.10045.4.3.2'.
export function decodeOid(element: DerElement): string | undefined {
  if (element.tag !== DerTag.OID || element.contents.length === 0) return undefined;
  const arcs: number[] = [];
  let value = 0;
  let pending = false;
  for (const octet of element.contents) {
    if (!pending && octet === 0x80) return undefined; // non-minimal arc encoding
    value = value * 128 + (octet & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return undefined;
    pending = (octet & 0x80) !== 0;
    if (!pending) {
      arcs.push(value);
      value = 0;
    }
  }
  if (pending) return undefined;
  const [head, ...rest] = arcs;
  if (head === undefined) return undefined;
  const firstArc = head < 40 ? 0 : head < 80 ? 1 : 2;
  return [firstArc, head - firstArc * 40, ...rest].join('.');
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

// An X.509 Time (RFC 5280 §4.1.2.5: UTCTime with the 1950-2049 window, or GeneralizedTime),
// both in the mandatory "Z", seconds-precision form.
export function decodeTime(element: DerElement): Date | undefined {
  const text = new TextDecoder('latin1').decode(element.contents);
  let parts: number[];
  if (element.tag === DerTag.UTC_TIME) {
    const match = UTC_TIME.exec(text);
    if (!match) return undefined;
    parts = match.slice(1).map(Number);
    const yy = parts[0] ?? 0;
    parts[0] = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (element.tag === DerTag.GENERALIZED_TIME) {
    const match = GENERALIZED_TIME.exec(text);
    if (!match) return undefined;
    parts = match.slice(1).map(Number);
  } else {
    return undefined;
  }
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = parts;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const roundTrips =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return roundTrips ? date : undefined;
}

// The text of a directory string in one of the encodings certificates use for names.
// T61String and BMPString are not read: an unreadable name is treated as no name.
export function decodeDirectoryString(element: DerElement): string | undefined {
  if (element.tag !== DerTag.UTF8_STRING && element.tag !== DerTag.PRINTABLE_STRING && element.tag !== DerTag.IA5_STRING) {
    return undefined;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(element.contents);
  } catch {
    return undefined;
  }
}
