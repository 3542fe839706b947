// Runs the real notary-server (Debian's 0.7.0) on a free loopback port with in-memory
// storage, for tests that need the exact bytes and behaviour users' servers have.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getFreePort } from './free-port.js';
import { httpGet } from './http-get.js';
import { spawnServer, waitUntilReady } from './server-process.js';
import { createTestCa, type TestCa } from './test-ca.js';
import { makeTempDir, removeDir } from './temp-dir.js';

// Docker-registry style token auth: the server answers 401 with a Bearer challenge.
export interface TokenAuthOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  // PEM bundle of the certificates whose keys sign the tokens.
  readonly rootCertBundleFile: string;
}

export interface NotaryServerOptions {
  // Serve https with a test CA (default true).
  readonly tls?: boolean;
  // Reuse this CA instead of making one (its server certificate is served).
  readonly ca?: TestCa;
  readonly auth?: TokenAuthOptions;
}

export interface NotaryServer {
  // Base URL, e.g. https://127.0.0.1:41234 (no trailing slash).
  readonly url: string;
  // CA that signed the server certificate (absent for plain http).
  readonly caFile?: string;
  readonly ca?: TestCa;
  // URL of one metadata file of a GUN, e.g. metadataUrl(gun, 'timestamp.json').
  metadataUrl(gun: string, file: string): string;
  // The bytes the server serves for one metadata file right now (throws unless 200).
  fetchMetadata(gun: string, file: string): Promise<Buffer>;
  // Everything the server has logged so far.
  log(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 10_000;

// Starts a notary-server and resolves once its health endpoint answers. One retry covers
// the small race between finding a free port and the server binding it.
export async function startNotaryServer(options: NotaryServerOptions = {}): Promise<NotaryServer> {
  try {
    return await startOnce(options);
  } catch {
    return await startOnce(options);
  }
}

async function startOnce(options: NotaryServerOptions): Promise<NotaryServer> {
  const useTls = options.tls ?? true;
  const ownCa = useTls && options.ca === undefined ? await createTestCa() : undefined;
  const ca = options.ca ?? ownCa;
  const dir = await makeTempDir('notary-server');
  const port = await getFreePort();
  const configFile = join(dir, 'server.json');
  await writeFile(configFile, JSON.stringify(toServerConfig(port, useTls ? ca : undefined, options.auth), null, 2));

  const server = spawnServer('notary-server', ['-config', configFile], { cwd: dir });
  const url = `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const cleanUp = async (): Promise<void> => {
    await server.stop();
    await removeDir(dir);
    await ownCa?.remove();
  };

  try {
    await waitUntilReady(server, { name: 'notary-server', url: `${url}/_notary_server/health`, caFile: ca?.caFile, timeoutMs: STARTUP_TIMEOUT_MS });
  } catch (error) {
    await cleanUp();
    throw error;
  }

  const metadataUrl = (gun: string, file: string): string => `${url}/v2/${gun}/_trust/tuf/${file}`;
  return {
    url,
    ...(useTls && ca !== undefined ? { caFile: ca.caFile, ca } : {}),
    metadataUrl,
    async fetchMetadata(gun, file) {
      const response = await httpGet(metadataUrl(gun, file), ca?.caFile);
      if (response.status !== 200) {
        throw new Error(`GET ${file} of ${gun}: expected 200, got ${response.status}: ${response.body.toString('utf8')}`);
      }
      return response.body;
    },
    log: server.log,
    stop: cleanUp,
  };
}

// The configuration REFERENCE §1 measured: memory storage, local signing service, no
// caching headers (tests publish and read back immediately).
function toServerConfig(port: number, ca: TestCa | undefined, auth: TokenAuthOptions | undefined): unknown {
  return {
    server: {
      http_addr: `127.0.0.1:${port}`,
      ...(ca === undefined ? {} : { tls_cert_file: ca.serverCertFile, tls_key_file: ca.serverKeyFile }),
    },
    trust_service: { type: 'local' },
    storage: { backend: 'memory' },
    logging: { level: 'info' },
    caching: { max_age: { current_metadata: 0, consistent_metadata: 0 } },
    ...(auth === undefined
      ? {}
      : {
          auth: {
            type: 'token',
            options: { realm: auth.realm, service: auth.service, issuer: auth.issuer, rootcertbundle: auth.rootCertBundleFile },
          },
        }),
  };
}
