// `trustgate serve`'s connections over TLS: an idle keep-alive connection is kept longer than
// the API server's webhook client keeps its own (90 s), and `--max-connections` bounds what
// outsiders can hold open: one more connection is closed on arrival, logged and counted,
// while the connections already open keep being served.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

// Go's http.DefaultTransport IdleConnTimeout, which the API server's webhook client keeps.
const API_SERVER_IDLE_CONN_TIMEOUT_S = 90;

let ca: TestCa;
let dir: string;
let serve: ServeProcess;
const sockets: TLSSocket[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('serve-connections');
  const policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'all.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: all}\nspec:\n  repositories:\n    - name: "*"\n      policy: {}\n');
  serve = await startTrustgateServe({ policiesDir, stateDir: join(dir, 'state'), caFile: ca.caFile, extraArgs: ['--max-connections', '2'] });
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await serve?.stop();
  await removeDir(dir);
  await ca?.remove();
});

interface Answer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

// One TLS connection to serve speaking HTTP/1.1 by hand, so each request's connection is known.
interface Connection {
  get(path: string): Promise<Answer>;
}

// Resolves with the connection once its handshake is done, or rejects when serve closes it first.
function openConnection(): Promise<Connection> {
  const { port } = new URL(serve.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), ca: serve.caPem, servername: 'localhost' });
  sockets.push(socket);
  let buffered = Buffer.alloc(0);
  let waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void } | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const headEnd = buffered.indexOf('\r\n\r\n');
    if (headEnd === -1 || waiting === undefined) return;
    const head = buffered.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
    if (buffered.length < headEnd + 4 + length) return;
    const body = buffered.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
    buffered = buffered.subarray(headEnd + 4 + length);
    const { resolve } = waiting;
    waiting = undefined;
    resolve({ status: Number(head.split(' ')[1]), head, body });
  });
  socket.on('close', () => waiting?.reject(new Error('connection closed before the answer')));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('connection closed during the handshake')));
    socket.once('secureConnect', () =>
      resolve({
        get: (path) =>
          new Promise<Answer>((resolveAnswer, rejectAnswer) => {
            waiting = { resolve: resolveAnswer, reject: rejectAnswer };
            socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
          }),
      }),
    );
  });
}

describe('trustgate serve connections', { timeout: 30_000 }, () => {
  let first: Connection;
  let second: Connection;

  beforeAll(async () => {
    first = await openConnection();
    second = await openConnection();
  });

  it('keeps an idle connection longer than the API server\'s webhook client does, and says so', async () => {
    const answer = await first.get('/healthz');
    expect(answer.status).toBe(200);
    const timeout = Number(/\r\nkeep-alive: timeout=(\d+)/i.exec(answer.head)?.[1]);
    expect(timeout).toBeGreaterThan(API_SERVER_IDLE_CONN_TIMEOUT_S);
  });

  describe('when --max-connections connections are open', () => {
    it('closes one more on arrival, logs and counts it, and keeps serving the open ones', async () => {
      expect((await second.get('/healthz')).status).toBe(200);

      await expect(openConnection()).rejects.toThrow();

      const metrics = await first.get('/metrics');
      expect(metrics.body).toMatch(/^trustgate_connections_refused_total 1$/m);
      expect((await second.get('/healthz')).status).toBe(200);
      const deadline = Date.now() + 10_000;
      while (!serve.output().includes('connection refused: the server holds its maximum of open connections') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const refusals = serve
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry['message'] === 'connection refused: the server holds its maximum of open connections');
      expect(refusals).toEqual([expect.objectContaining({ level: 'warn', maxConnections: 2, refused: 1 })]);
    });
  });
});
