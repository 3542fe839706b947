// Delegate signing keys made with openssl, in the two forms Notary accepts for
// `delegation add`: a self-signed certificate (key type ecdsa-x509) or a PEM public key
// (ecdsa). Keys from `notary key generate` cannot be imported, so openssl it is.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommandOrThrow } from './run-command.js';

export interface DelegateKey {
  readonly name: string;
  // P-256 private key (PEM), for `notary key import`.
  readonly privateKeyFile: string;
  // What `notary delegation add` is given: the certificate or the public key PEM.
  readonly delegationFile: string;
  // PEM public key, what trustgate's `--signer NAME=PEMFILE` is given.
  readonly publicKeyFile: string;
  readonly publicKeyPem: string;
}

export type DelegateKeyForm = 'x509' | 'public-key';

// Creates a P-256 key pair for the delegate `name` in `dir`.
export async function createDelegateKey(dir: string, name: string, form: DelegateKeyForm = 'x509'): Promise<DelegateKey> {
  const base = join(dir, `${name}-${Math.random().toString(36).slice(2, 10)}`);
  const privateKeyFile = `${base}.key`;
  const publicKeyFile = `${base}.pub.pem`;
  const certificateFile = `${base}.crt`;
  await runCommandOrThrow('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', privateKeyFile]);
  await runCommandOrThrow('openssl', ['pkey', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
  if (form === 'x509') {
    // Ten years: Notary warns about certificates expiring within six months.
    await runCommandOrThrow('openssl', [
      'req', '-x509', '-new', '-key', privateKeyFile, '-out', certificateFile, '-days', '3650', '-subj', `/CN=${name}`,
    ]);
  }
  return {
    name,
    privateKeyFile,
    delegationFile: form === 'x509' ? certificateFile : publicKeyFile,
    publicKeyFile,
    publicKeyPem: await readFile(publicKeyFile, 'utf8'),
  };
}
