// The few DER (X.690) encoders an X.509 certificate needs, written out because Node can
// sign and parse certificates but not build one, and the webhook must not depend on an
// openssl binary being installed where it runs.

export function element(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  let header: number[];
  if (body.length < 0x80) {
    header = [tag, body.length];
  } else {
    const octets: number[] = [];
    for (let n = body.length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
    header = [tag, 0x80 | octets.length, ...octets];
  }
  return new Uint8Array(Buffer.concat([Uint8Array.from(header), body]));
}

export function sequence(...parts: readonly Uint8Array[]): Uint8Array {
  return element(0x30, ...parts);
}

export function set(...parts: readonly Uint8Array[]): Uint8Array {
  return element(0x31, ...parts);
}

// A non-negative INTEGER from big-endian bytes (a leading zero keeps it positive).
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = bytes.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0 || trimmed.length === 0;
  return element(0x02, needsPad ? Uint8Array.from([0]) : new Uint8Array(), trimmed);
}

export function smallInteger(value: number): Uint8Array {
  const octets: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return unsignedInteger(Uint8Array.from(octets.length === 0 ? [0] : octets));
}

export function boolean(value: boolean): Uint8Array {
  return element(0x01, Uint8Array.from([value ? 0xff : 0x00]));
}

export function oid(dotted: string): Uint8Array {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return element(0x06, Uint8Array.from(bytes));
}

export function utf8String(text: string): Uint8Array {
  return element(0x0c, new TextEncoder().encode(text));
}

export function octetString(bytes: Uint8Array): Uint8Array {
  return element(0x04, bytes);
}

export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return element(0x03, Uint8Array.from([unusedBits]), bytes);
}

// UTCTime for 1950-2049 and GeneralizedTime otherwise, as RFC 5280 §4.1.2.5 requires.
export function time(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  const text = new TextEncoder().encode(year >= 1950 && year < 2050 ? digits.slice(2) : digits);
  return element(year >= 1950 && year < 2050 ? 0x17 : 0x18, text);
}
