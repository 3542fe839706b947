// A real Kubernetes control plane without nodes: Debian's etcd and kube-apiserver 1.20.2
// (built from Debian's source package by scripts/install-kube-apiserver.sh into a
// machine-level cache), each on free loopback ports with its own temporary directory.
// Objects are stored and admitted, webhooks are called for real; nothing is scheduled.
// Spoken to over HTTPS with a bearer token in system:masters, as kubectl would.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { request } from 'node:https';
import { getFreePort } from './free-port.js';
import { spawnServer, waitUntilReady, type ServerProcess } from './server-process.js';
import { makeTempDir, removeDir } from './temp-dir.js';

const KUBE_VERSION = '1.20.2';
const INSTALL_HINT = 'run scripts/install-kube-apiserver.sh (as root; scripts/install-test-servers.sh runs it too)';

// Where scripts/install-kube-apiserver.sh puts the binary (the same default chain).
export const KUBE_APISERVER_BIN = join(
  process.env['TRUSTGATE_KUBE_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'trustgate', `kube-apiserver-${KUBE_VERSION}`),
  'kube-apiserver',
);

const STARTUP_TIMEOUT_MS = 30_000;

export interface KubeAnswer {
  readonly status: number;
  // The parsed JSON body (a Kubernetes object or a Status).
  readonly body: KubeObject;
  readonly text: string;
  // Each `Warning` header, as sent (`299 - "text"`): what kubectl prints as `Warning: text`.
  readonly warnings: readonly string[];
}

export type KubeObject = Record<string, unknown>;

export interface KubeApiServer {
  // Base URL, e.g. https://127.0.0.1:41234
  readonly url: string;
  // A kubeconfig file authenticating as the `trustgate` ServiceAccount of `trustgate-system`
  // (a static token for its user name, so the RBAC shipped for it decides what it may do).
  readonly webhookKubeconfig: string;
  // The CA that signed the server's certificate (valid for 127.0.0.1), and the admin's bearer token.
  readonly caPem: string;
  readonly adminToken: string;
  // One REST call as the cluster admin; `path` starts with /api or /apis and may carry a query.
  request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<KubeAnswer>;
  // What etcd and the API server have logged so far.
  log(): string;
  // Stops both processes and removes their directories.
  stop(): Promise<void>;
}

// Starts etcd, then kube-apiserver against it, and resolves once /readyz answers 200. Fails
// (never skips) when a binary is missing, naming the install script.
export interface KubeApiServerOptions {
  // --admission-control-config-file: e.g. the kubeconfig the webhooks are called with.
  readonly admissionConfigFile?: string;
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  assertInstalled();
  const dir = await makeTempDir('kube');
  const processes: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const server of processes.reverse()) await server.stop();
    await removeDir(dir);
  };
  try {
    const etcdUrl = await startEtcd(dir, processes);
    return await startApiServer(dir, etcdUrl, processes, stop, options);
  } catch (error) {
    await stop();
    throw error;
  }
}

function assertInstalled(): void {
  if (!existsSync(KUBE_APISERVER_BIN)) throw new Error(`kube-apiserver ${KUBE_VERSION} is missing at ${KUBE_APISERVER_BIN}: ${INSTALL_HINT}`);
  if (findOnPath('etcd') === undefined) throw new Error(`etcd (Debian's etcd-server) is not on PATH: ${INSTALL_HINT}`);
}

// The first executable `name` on PATH, checked up front because a spawn of a missing program
// reports ENOENT as an unhandled error event rather than a failed start.
function findOnPath(name: string): string | undefined {
  for (const folder of (process.env['PATH'] ?? '').split(delimiter)) {
    if (folder === '') continue;
    try {
      accessSync(join(folder, name), constants.X_OK);
      return join(folder, name);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

// One etcd member on two free loopback ports (client, peer), data in `dir`. One retry covers
// the race between finding a free port and etcd binding it.
async function startEtcd(dir: string, processes: ServerProcess[]): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    const [clientPort, peerPort] = [await getFreePort(), await getFreePort()];
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = spawnServer(
      'etcd',
      [
        '--name', 'trustgate-test',
        '--data-dir', join(dir, `etcd-${attempt}`),
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `trustgate-test=${peerUrl}`,
        '--log-level', 'warn',
      ],
      { cwd: dir },
    );
    processes.push(etcd);
    try {
      await waitUntilReady(etcd, { name: 'etcd', url: `${clientUrl}/health`, timeoutMs: STARTUP_TIMEOUT_MS });
      return clientUrl;
    } catch (error) {
      await etcd.stop();
      if (attempt === 2) throw error;
    }
  }
}

// kube-apiserver on a free secure port of 127.0.0.1 with what REFERENCE §4 lists: token
// authentication (one admin in system:masters), RBAC, service-account keys (made here; the
// server refuses to start without them), the ServiceAccount admission plugin off (nothing
// creates the default service accounts without a controller manager). The insecure port,
// on 8080 by default in 1.20, is closed: it would skip authentication and collide between
// parallel runs. TLS: the server makes its own CA and certificate in --cert-dir.
async function startApiServer(dir: string, etcdUrl: string, processes: ServerProcess[], stop: () => Promise<void>, options: KubeApiServerOptions): Promise<KubeApiServer> {
  const token = randomBytes(24).toString('hex');
  const webhookToken = randomBytes(24).toString('hex');
  await writeFile(
    join(dir, 'tokens.csv'),
    `${token},trustgate-test-admin,trustgate-test-admin,"system:masters"\n${webhookToken},system:serviceaccount:trustgate-system:trustgate,trustgate-webhook,"system:serviceaccounts"\n`,
    { mode: 0o600 },
  );
  const serviceAccountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(join(dir, 'sa.key'), serviceAccountKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(join(dir, 'sa.pub'), serviceAccountKey.publicKey.export({ type: 'spki', format: 'pem' }));

  for (let attempt = 1; ; attempt += 1) {
    const port = await getFreePort();
    const certDir = join(dir, `certs-${attempt}`);
    const apiServer = spawnServer(
      KUBE_APISERVER_BIN,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--insecure-port=0',
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--disable-admission-plugins=ServiceAccount',
        ...(options.admissionConfigFile === undefined ? [] : [`--admission-control-config-file=${options.admissionConfigFile}`]),
        '--v=0',
      ],
      // Only PATH: a proxy or kubeconfig from the caller's environment must not reach the server.
      { cwd: dir, env: { PATH: process.env['PATH'] ?? '' } },
    );
    processes.push(apiServer);
    const url = `https://127.0.0.1:${port}`;
    // The certificate file holds the serving certificate followed by the CA that signed it.
    const certFile = join(certDir, 'apiserver.crt');
    try {
      await waitUntilReady(apiServer, { name: 'kube-apiserver', url: `${url}/readyz`, caFile: certFile, timeoutMs: STARTUP_TIMEOUT_MS });
    } catch (error) {
      await apiServer.stop();
      if (attempt === 2) throw error;
      continue;
    }
    const caPem = await readFile(certFile, 'utf8');
    const webhookKubeconfig = join(dir, 'webhook.kubeconfig');
    await writeFile(webhookKubeconfig, webhookKubeconfigText(url, caPem, webhookToken), { mode: 0o600 });
    return {
      url,
      webhookKubeconfig,
      caPem,
      adminToken: token,
      request: (method, path, body) => kubeRequest(`${url}${path}`, caPem, token, method, body),
      log: () => processes.map((server) => server.log()).join('\n'),
      stop,
    };
  }
}

function webhookKubeconfigText(url: string, caPem: string, token: string): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'trustgate', user: { token } }],
    contexts: [{ name: 'trustgate', context: { cluster: 'test', user: 'trustgate' } }],
    'current-context': 'trustgate',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

// One JSON exchange with the API server, trusting only its own CA.
function kubeRequest(url: string, caPem: string, token: string, method: string, body: unknown): Promise<KubeAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) };
    const outgoing = request(url, { method, ca: caPem, headers, timeout: 20_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          const warnings = response.rawHeaders.filter((_, index) => index % 2 === 1 && response.rawHeaders[index - 1]?.toLowerCase() === 'warning');
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as KubeObject, text, warnings });
        } catch {
          reject(new Error(`${method} ${url}: expected JSON, got ${response.statusCode ?? 0}: ${text.slice(0, 200)}`));
        }
      });
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${url} timed out`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}
