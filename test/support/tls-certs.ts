// Test PKI made with the openssl CLI in a temporary directory: a CA and a server
// certificate for 127.0.0.1 / localhost signed by it (serverAuth), plus an unrelated CA
// for "unknown issuer" cases. Generated once per test process and removed at exit.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  // PEM of the CA that signed the server certificate.
  readonly caPem: string;
  // PEM of a CA that signed nothing we serve.
  readonly otherCaPem: string;
  // Server certificate (SAN IP:127.0.0.1, DNS:localhost) and its private key.
  readonly certPem: string;
  readonly keyPem: string;
}

let generated: Promise<TestCertificates> | undefined;

// Memoised: every test file in a process shares one PKI.
export function getTestCertificates(): Promise<TestCertificates> {
  generated ??= generateCertificates();
  return generated;
}

async function makeCa(dir: string, name: string): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
    '-days', '2', '-subj', `/CN=trustgate test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function generateCertificates(): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'trustgate-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
  await run('openssl', [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr'), '-subj', '/CN=127.0.0.1',
  ]);
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await run('openssl', [
    'x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-CAcreateserial', '-days', '2', '-sha256', '-extfile', join(dir, 'server.ext'), '-out', join(dir, 'server.crt'),
  ]);
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return { caPem: read('ca.crt'), otherCaPem: read('other-ca.crt'), certPem: read('server.crt'), keyPem: read('server.key') };
}
