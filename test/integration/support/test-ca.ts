// A throwaway certificate authority and a loopback server certificate made with openssl,
// so the notary-server, the tamper proxy and trustgate (NODE_EXTRA_CA_CERTS) speak real TLS.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommandOrThrow } from './run-command.js';
import { makeTempDir, removeDir } from './temp-dir.js';

export interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  // Server certificate for 127.0.0.1 / localhost (EKU serverAuth), signed by the CA.
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  remove(): Promise<void>;
}

// Generates a P-256 CA and a server certificate in a new temporary directory.
export async function createTestCa(): Promise<TestCa> {
  const dir = await makeTempDir('ca');
  const path = (name: string): string => join(dir, name);
  const openssl = (args: readonly string[]): Promise<unknown> => runCommandOrThrow('openssl', args, { cwd: dir });
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', path('ca.key'), '-out', path('ca.crt'), '-days', '30', '-subj', '/CN=trustgate test CA',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=localhost',
  ]);
  await writeFile(
    path('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:false\n',
  );
  await openssl([
    'x509', '-req', '-in', path('server.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'),
    '-CAcreateserial', '-out', path('server.crt'), '-days', '30', '-extfile', path('server.ext'),
  ]);
  return {
    dir,
    caFile: path('ca.crt'),
    serverCertFile: path('server.crt'),
    serverKeyFile: path('server.key'),
    remove: () => removeDir(dir),
  };
}
