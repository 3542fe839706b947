// A private certificate authority and a server certificate issued by it, for running the
// webhook without a certificate from elsewhere: the API server is given the CA (the
// webhook's caBundle) and verifies the server certificate against it. ECDSA P-256 with
// SHA-256, and the extensions Go's and OpenSSL's verifiers check: basicConstraints,
// keyUsage, extKeyUsage serverAuth, subjectAltName (Go ignores the CN), key identifiers.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, element, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der-writer.js';

export interface CertificateAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';
const DAY_MS = 24 * 60 * 60 * 1000;
// Certificates are valid from a little before issue, tolerating clock skew between nodes.
const BACKDATE_MS = 5 * 60 * 1000;
export const CA_VALIDITY_DAYS = 3650;
export const SERVER_VALIDITY_DAYS = 365;

// A self-signed CA allowed to sign certificates only (keyCertSign, cRLSign; path length 0).
export function createCertificateAuthority(now: Date, commonName = 'trustgate webhook CA'): CertificateAndKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = distinguishedName(commonName);
  const keyId = keyIdentifier(publicKey);
  const extensions = [
    extension('2.5.29.19', true, sequence(boolean(true), smallInteger(0))),
    // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, one unused bit.
    extension('2.5.29.15', true, bitString(Uint8Array.from([0x06]), 1)),
    extension('2.5.29.14', false, octetString(keyId)),
  ];
  const der = signCertificate({ subject, issuer: subject, publicKey, signingKey: privateKey, now, days: CA_VALIDITY_DAYS, extensions });
  return { certPem: toPem('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

// A serverAuth certificate for the given DNS names and IP addresses, signed by the CA.
export function issueServerCertificate(ca: CertificateAndKey, names: readonly string[], now: Date): CertificateAndKey {
  const caKey = createPrivateKey(ca.keyPem);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const unique = [...new Set(names)];
  const alternativeNames = unique.map((name) => {
    const version = isIP(name);
    // iPAddress [7] holds the raw address bytes; dNSName [2] an IA5String.
    return version === 0 ? element(0x82, new TextEncoder().encode(name)) : element(0x87, ipBytes(name, version));
  });
  const extensions = [
    extension('2.5.29.19', true, sequence()),
    // digitalSignature (bit 0): 0b1000_0000, seven unused bits.
    extension('2.5.29.15', true, bitString(Uint8Array.from([0x80]), 7)),
    extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
    extension('2.5.29.17', false, sequence(...alternativeNames)),
    extension('2.5.29.14', false, octetString(keyIdentifier(publicKey))),
    extension('2.5.29.35', false, sequence(element(0x80, keyIdentifier(createPublicKey(caKey))))),
  ];
  const issuerName = distinguishedName(caCommonName(ca.certPem));
  const der = signCertificate({
    subject: distinguishedName(unique[0] ?? 'trustgate'),
    issuer: issuerName,
    publicKey,
    signingKey: caKey,
    now,
    days: SERVER_VALIDITY_DAYS,
    extensions,
  });
  return { certPem: toPem('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

interface CertificateFields {
  readonly subject: Uint8Array;
  readonly issuer: Uint8Array;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly now: Date;
  readonly days: number;
  readonly extensions: readonly Uint8Array[];
}

// TBSCertificate (RFC 5280 §4.1) signed with ECDSA-SHA256; a random positive 128-bit serial.
function signCertificate(fields: CertificateFields): Uint8Array {
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const notBefore = new Date(fields.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(fields.now.getTime() + fields.days * DAY_MS);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const tbs = sequence(
    element(0xa0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    fields.issuer,
    sequence(time(notBefore), time(notAfter)),
    fields.subject,
    new Uint8Array(fields.publicKey.export({ type: 'spki', format: 'der' })),
    element(0xa3, sequence(...fields.extensions)),
  );
  const signature = new Uint8Array(sign('sha256', tbs, fields.signingKey));
  return sequence(tbs, algorithm, bitString(signature));
}

function distinguishedName(commonName: string): Uint8Array {
  return sequence(set(sequence(oid(ORGANIZATION), utf8String('trustgate'))), set(sequence(oid(COMMON_NAME), utf8String(commonName))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

// RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the public key info.
function keyIdentifier(publicKey: KeyObject): Uint8Array {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return new Uint8Array(createHash('sha256').update(spki).digest().subarray(0, 20));
}

// The CA's common name, read back from the certificate this module wrote: rebuilding its
// subject from the same strings gives the same DER, which must be the issuer byte for byte.
function caCommonName(certPem: string): string {
  const match = /^CN=(.+)$/m.exec(new X509Certificate(certPem).subject);
  return match?.[1] ?? 'trustgate webhook CA';
}

function ipBytes(address: string, version: number): Uint8Array {
  if (version === 4) return Uint8Array.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return Uint8Array.from(all.flatMap((group) => [group >> 8, group & 0xff]));
}

export function toPem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
