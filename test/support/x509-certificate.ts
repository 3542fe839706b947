// Self-signed X.509 certificates for tests, written directly in DER (with the webhook's own
// DER writer) so validity dates, subject and signature hash are exact (the OpenSSL 3.0 CLI
// here cannot set notBefore).
// Node's own OpenSSL parses and verifies them in the builder tests, so the bytes are real.
import { sign, type KeyObject } from 'node:crypto';
import { bitString, element, oid, sequence, set, smallInteger, time, utf8String } from '../../infra/webhook-proxy/der-writer.js';
import { toPem as toPemBlock } from '../../infra/webhook-proxy/self-signed-certificate.js';

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
  const name = sequence(...options.commonNames.map((cn) => set(sequence(oid('2.5.4.3'), utf8String(cn)))));
  const tbs = sequence(
    element(0xa0, smallInteger(2)),
    smallInteger(options.serial ?? (nextSerial += 1)),
    algorithm,
    name,
    sequence(time(options.notBefore), time(options.notAfter)),
    name,
    new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  );
  const signature = new Uint8Array(sign(options.hash, tbs, privateKey));
  return sequence(tbs, algorithm, bitString(signature));
}

// The certificate as PEM text, the form Notary carries in x509 key values.
export function toPem(der: Uint8Array): string {
  return toPemBlock('CERTIFICATE', der);
}
