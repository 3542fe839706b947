// The webhook's certificate files in its state directory: a private CA (kept across
// restarts, so the caBundle registered with the API server stays valid) and a server
// certificate re-issued whenever it is missing, expiring or does not cover the names asked.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificateAuthority, issueServerCertificate, type CertificateAndKey } from './self-signed-certificate.js';
import { isIP } from 'node:net';

export interface GeneratedTls extends CertificateAndKey {
  // Where the CA certificate is, for the webhook's caBundle.
  readonly caFile: string;
  readonly caCreated: boolean;
}

// Re-issue when less than this is left, so a long-running pod never serves an expired certificate.
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

export async function loadOrCreateTls(stateDir: string, names: readonly string[], now: Date): Promise<GeneratedTls> {
  const dir = join(stateDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (name: string): string => join(dir, name);
  let ca = await readPair(file('ca.crt'), file('ca.key'));
  let caCreated = false;
  if (ca === undefined || !isUsable(ca.certPem, now)) {
    ca = createCertificateAuthority(now);
    await writePair(file('ca.crt'), file('ca.key'), ca);
    caCreated = true;
  }
  let server = caCreated ? undefined : await readPair(file('server.crt'), file('server.key'));
  if (server === undefined || !isUsable(server.certPem, now) || !covers(server.certPem, ca.certPem, names)) {
    server = issueServerCertificate(ca, names, now);
    await writePair(file('server.crt'), file('server.key'), server);
  }
  return { certPem: server.certPem, keyPem: server.keyPem, caFile: file('ca.crt'), caCreated };
}

async function readPair(certFile: string, keyFile: string): Promise<CertificateAndKey | undefined> {
  try {
    return { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

// Key first and private (0600), each file written whole then renamed into place.
async function writePair(certFile: string, keyFile: string, pair: CertificateAndKey): Promise<void> {
  await writeFile(`${keyFile}.tmp`, pair.keyPem, { mode: 0o600 });
  await rename(`${keyFile}.tmp`, keyFile);
  await writeFile(`${certFile}.tmp`, pair.certPem, { mode: 0o644 });
  await rename(`${certFile}.tmp`, certFile);
}

function isUsable(certPem: string, now: Date): boolean {
  try {
    const certificate = new X509Certificate(certPem);
    return new Date(certificate.validFrom) <= now && new Date(certificate.validTo).getTime() - now.getTime() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

function covers(certPem: string, caPem: string, names: readonly string[]): boolean {
  try {
    const certificate = new X509Certificate(certPem);
    if (!certificate.checkIssued(new X509Certificate(caPem))) return false;
    return names.every((name) => (isIP(name) === 0 ? certificate.checkHost(name) : certificate.checkIP(name)) !== undefined);
  } catch {
    return false;
  }
}
