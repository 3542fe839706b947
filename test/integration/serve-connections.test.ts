// `trustgate serve`'s connections over TLS, with a client CA as in a cluster: an idle
// keep-alive connection is kept longer than the API server's webhook client keeps its own
// (90 s), and `--max-connections` bounds what outsiders can hold open without shutting the
// API server out: bare TCP connections and idle TLS connections filling the bound are evicted,
// oldest first, so a new client with the API server's certificate has its review answered;
// idle connections without the client certificate go before the API server's, and an
// outsider's slow requests are cut for it; only a bound full of the API server's requests in
// flight refuses the newcomer (logged, counted).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { runCommandOrThrow } from './support/run-command.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';
import { http1Connection, type Http1Connection } from '../support/http1-connection.js';

// Go's http.DefaultTransport IdleConnTimeout, which the API server's webhook client keeps.
const API_SERVER_IDLE_CONN_TIMEOUT_S = 90;
const MAX_CONNECTIONS = 3;

let ca: TestCa;
let dir: string;
let serve: ServeProcess;
let client: { readonly cert: string; readonly key: string };
const sockets: Socket[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('serve-connections');
  client = await makeClientCertificate(ca, dir);
  const policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'all.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: all}\nspec:\n  repositories:\n    - name: "*"\n      policy: {}\n');
  serve = await startTrustgateServe({ policiesDir, stateDir: join(dir, 'state'), caFile: ca.caFile, extraArgs: ['--max-connections', String(MAX_CONNECTIONS), '--client-ca', ca.caFile] });
}, 60_000);

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

afterAll(async () => {
  await serve?.stop();
  await removeDir(dir);
  await ca?.remove();
});

// A client certificate (EKU clientAuth) issued by the test CA, which serve is given as --client-ca.
async function makeClientCertificate(testCa: TestCa, into: string): Promise<{ cert: string; key: string }> {
  const path = (suffix: string): string => join(into, `apiserver.${suffix}`);
  await runCommandOrThrow('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('key'), '-out', path('csr'), '-subj', '/CN=kube-apiserver'], { cwd: into });
  await writeFile(path('ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:false\n');
  await runCommandOrThrow('openssl', ['x509', '-req', '-in', path('csr'), '-CA', testCa.caFile, '-CAkey', join(testCa.dir, 'ca.key'), '-CAcreateserial', '-out', path('crt'), '-days', '30', '-extfile', path('ext')], { cwd: into });
  return { cert: await readFile(path('crt'), 'utf8'), key: await readFile(path('key'), 'utf8') };
}

const port = (): number => Number(new URL(serve.url).port);

// Resolves with the connection once its handshake is done, or rejects when serve closes it first.
function openConnection(certificate?: { cert: string; key: string }): Promise<Http1Connection> {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port: port(), ca: serve.caPem, servername: 'localhost', ...certificate });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('connection closed during the handshake')));
    socket.once('secureConnect', () => resolve(http1Connection(socket, 'localhost')));
  });
}

// A bare TCP connection that never starts its TLS handshake; resolves once connected.
function openBareSocket(): Promise<Socket> {
  const socket = connectTcp(port(), '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

const review = (): string => JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: 'registry.example/app:v1' }] })), { namespace: 'default' }));

// The value of a counter on serve's /metrics, read on a new connection (tried again while
// serve has yet to see the test's previous connections close).
async function counter(name: string): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const metrics = await (await openConnection()).get('/metrics');
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics.body)?.[1]);
    } catch (error) {
      if (attempt === 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

// serve's JSON log lines with this message.
async function logged(message: string): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 10_000;
  const entries = (): Array<Record<string, unknown>> =>
    serve
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['message'] === message);
  while (entries().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return entries();
}

describe('trustgate serve connections', { timeout: 60_000 }, () => {
  it('keeps an idle connection longer than the API server\'s webhook client does, and says so', async () => {
    const answer = await (await openConnection()).get('/healthz');
    expect(answer.status).toBe(200);
    const timeout = Number(/\r\nkeep-alive: timeout=(\d+)/i.exec(answer.head)?.[1]);
    expect(timeout).toBeGreaterThan(API_SERVER_IDLE_CONN_TIMEOUT_S);
  });

  describe('when idle TLS connections and bare TCP connections fill --max-connections', () => {
    it('evicts the oldest of them, so a new client with the client certificate has its review answered', async () => {
      const idle: Http1Connection[] = [];
      for (let index = 0; index < MAX_CONNECTIONS; index += 1) {
        const connection = await openConnection();
        expect((await connection.get('/healthz')).status).toBe(200);
        idle.push(connection);
      }
      // Bare sockets arriving at the bound evict the idle connections, then one another.
      for (let index = 0; index < MAX_CONNECTIONS; index += 1) await openBareSocket();
      await idle[0]?.ended;

      const apiServer = await openConnection(client);
      const answer = await apiServer.post('/admit?timeout=10s', review());
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body) as { response: { allowed: boolean } }).response.allowed).toBe(true);
      // And again on the same kept-alive connection.
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);

      expect(await counter('trustgate_connections_evicted_total')).toBeGreaterThanOrEqual(MAX_CONNECTIONS);
      expect(await logged('connection evicted: the server holds its maximum of open connections')).toEqual([
        expect.objectContaining({ level: 'warn', maxConnections: MAX_CONNECTIONS, evicted: 1 }),
      ]);
    });
  });

  describe('when the API server\'s idle connection is the oldest at the bound', () => {
    it('evicts an idle connection without the client certificate instead, and keeps the API server\'s', async () => {
      const apiServer = await openConnection(client);
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);
      const others: Http1Connection[] = [];
      for (let index = 1; index < MAX_CONNECTIONS; index += 1) {
        const connection = await openConnection();
        expect((await connection.get('/healthz')).status).toBe(200);
        others.push(connection);
      }

      const newcomer = await openConnection();
      expect((await newcomer.get('/healthz')).status).toBe(200);
      await others[0]?.ended;
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);
    });
  });

  describe('when outsiders\' slow requests (no client certificate) fill --max-connections', () => {
    it('cuts the oldest of them, so a new client with the client certificate has its review answered', async () => {
      const slow: Http1Connection[] = [];
      for (let index = 0; index < MAX_CONNECTIONS; index += 1) {
        const connection = await openConnection();
        await connection.startSlowPost('/functions/policy-lookup');
        slow.push(connection);
      }

      const apiServer = await openConnection(client);
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);
      await slow[0]?.ended;
    });
  });

  describe('when the API server\'s idle connection and outsiders\' requests in flight fill --max-connections', () => {
    it('cuts an outsider\'s request for a newcomer, and keeps the API server\'s idle connection', async () => {
      const apiServer = await openConnection(client);
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);
      const slow: Http1Connection[] = [];
      for (let index = 1; index < MAX_CONNECTIONS; index += 1) {
        const connection = await openConnection();
        await connection.startSlowPost('/functions/policy-lookup');
        slow.push(connection);
      }

      await openBareSocket();
      await slow[0]?.ended;
      expect(apiServer.socket.destroyed).toBe(false);
      expect((await apiServer.post('/admit?timeout=10s', review())).status).toBe(200);
      for (const socket of sockets.splice(0)) socket.destroy();
    });
  });

  describe('when the API server\'s requests in flight fill --max-connections', () => {
    it('refuses the newcomer, logs and counts it', async () => {
      const refusedBefore = await counter('trustgate_connections_refused_total');
      for (let index = 0; index < MAX_CONNECTIONS; index += 1) await (await openConnection(client)).startSlowPost('/admit?timeout=10s');
      await expect(openConnection()).rejects.toThrow();
      for (const socket of sockets.splice(0)) socket.destroy();

      expect(await counter('trustgate_connections_refused_total')).toBeGreaterThan(refusedBefore);
      expect(await logged('connection refused: every open connection is the API server\'s with a request in flight')).toEqual([
        expect.objectContaining({ level: 'warn', maxConnections: MAX_CONNECTIONS, refused: 1 }),
      ]);
    });
  });
});
