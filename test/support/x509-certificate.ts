// Self-signed X.509 certificates for tests, written directly in DER so validity dates,
// subject and signature hash are exact (the OpenSSL 3.0 CLI here cannot set notBefore).
// Node's own OpenSSL parses and verifies them in the builder tests, so the bytes are real.
import { sign, type KeyObject } from 'node:crypto';

export interface CertificateOptions {
  readonly commonNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly hash: 'sha256' | 'sha1';
  readonly serial?: number;
}

const SIGNATURE_ALGORITHMS = {
  ec: { sha256: '1.2.840.10045.4.3.2', sha1: '1.2.840.10045.4.1' },
  rsa: { sha256: '1.2.840.113549.1.1.11', sha1: '1.2.840.113549.1.1.5' },
} as const;

let nextSerial = 0;

// A v3 certificate for `publicKey`, issued by and to the same name, signed with `privateKey`.
export function createSelfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, options: CertificateOptions): Uint8Array {
  const kind = privateKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec';
  const algorithmOid = SIGNATURE_ALGORITHMS[kind][options.hash];
  // RSA AlgorithmIdentifiers carry an explicit NULL parameter; ECDSA ones carry none.
  const algorithm = kind === 'rsa' ? sequence(oid(algorithmOid), Uint8Array.from([0x05, 0x00])) : sequence(oid(algorithmOid));
  const name = sequence(...options.commonNames.map((cn) => element(0x31, sequence(oid('2.5.4.3'), element(0x0c, utf8(cn))))));
  const tbs = sequence(
    element(0xa0, integer(2)),
    integer(options.serial ?? (nextSerial += 1)),
    algorithm,
    name,
    sequence(time(options.notBefore), time(options.notAfter)),
    name,
    new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  );
  const signature = new Uint8Array(sign(options.hash, tbs, privateKey));
  return sequence(tbs, algorithm, element(0x03, Uint8Array.from([0]), signature));
}

export function toPem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function element(tag: number, ...parts: Uint8Array[]): Uint8Array {
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

function sequence(...parts: Uint8Array[]): Uint8Array {
  return element(0x30, ...parts);
}

function integer(value: number): Uint8Array {
  const octets: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  if (octets.length === 0 || (octets[0] ?? 0) & 0x80) octets.unshift(0);
  return element(0x02, Uint8Array.from(octets));
}

function oid(dotted: string): Uint8Array {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return element(0x06, Uint8Array.from(bytes));
}

// UTCTime for 1950-2049 and GeneralizedTime otherwise, as RFC 5280 §4.1.2.5 requires.
function time(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? element(0x17, utf8(digits.slice(2))) : element(0x18, utf8(digits));
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
