// The webhook server's connection handling, over real sockets: an idle keep-alive connection
// outlives the client's own idle timeout (the API server's webhook client keeps idle
// connections 90 s and does not retry a POST on one the server has just closed), an idle
// connection is closed once the configured keep-alive ends, and at the bound on open
// connections a newcomer evicts the oldest connection doing nothing (bare TCP connections
// that never speak, then idle kept-alive ones), so a flood cannot shut clients out; only
// when every open connection has a request in flight is the newcomer refused (logged once,
// counted).
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookServer, DEFAULT_CONNECTION_LIMITS, WEBHOOK_SERVER_METRICS, WebhookServerMetric, type ConnectionLimits, type FunctionRoute, type WebhookServer } from '../../../infra/webhook-proxy/webhook-server.js';
import { createPrometheusRegistry } from '../../../shared/metrics/prometheus-registry.js';
import type { Logger } from '../../../shared/ports.js';
import { http1Connection, type Http1Connection } from '../../support/http1-connection.js';

// The idle timeout of the API server's webhook client (Go's http.DefaultTransport).
const API_SERVER_IDLE_CONN_TIMEOUT_MS = 90_000;

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (message: string, fields: Readonly<Record<string, unknown>> = {}) => void lines.push({ level, message, fields });
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

const running: WebhookServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((server) => server.close(0)));
});

async function startServer(connections: Partial<ConnectionLimits>, logLines: LogLine[] = [], functions: Readonly<Record<string, FunctionRoute>> = {}) {
  const metrics = createPrometheusRegistry(WEBHOOK_SERVER_METRICS);
  const server = createWebhookServer({
    admit: () => ({ status: 200, body: { admitted: true } }),
    functions,
    renderMetrics: () => metrics.render(),
    logger: recordingLogger(logLines),
    metrics,
    connections,
  });
  running.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { port, metrics };
}

async function openConnection(port: number): Promise<Http1Connection> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return http1Connection(socket, 'trustgate');
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('createWebhookServer connections', () => {
  describe('by default', () => {
    it('keeps idle connections open longer than the API server\'s webhook client does', () => {
      expect(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs).toBeGreaterThan(API_SERVER_IDLE_CONN_TIMEOUT_MS);
    });

    it('tells clients the keep-alive it keeps', async () => {
      const { port } = await startServer({});
      const connection = await openConnection(port);
      const answer = await connection.get('/healthz');
      expect(answer.head).toMatch(new RegExp(`\\r\\nkeep-alive: timeout=${DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs / 1000}\\b`, 'i'));
    });
  });

  describe('when a keep-alive connection has been idle for less than the keep-alive timeout', () => {
    it('answers the next request on that same connection', async () => {
      const { port } = await startServer({ keepAliveTimeoutMs: 60_000 });
      const connection = await openConnection(port);
      expect((await connection.get('/healthz')).status).toBe(200);
      await pause(300);
      expect((await connection.get('/healthz')).status).toBe(200);
      expect(connection.socket.destroyed).toBe(false);
    });
  });

  describe('when a keep-alive connection stays idle past the keep-alive timeout', () => {
    it('is closed by the server', async () => {
      const { port } = await startServer({ keepAliveTimeoutMs: 100 });
      const connection = await openConnection(port);
      expect((await connection.get('/healthz')).status).toBe(200);
      await connection.ended;
      expect(connection.socket.readableEnded || connection.socket.destroyed).toBe(true);
    });
  });

  describe('when bare TCP connections that never send a byte fill the bound', () => {
    it('evicts the oldest of them for a new client, which is answered; logged once and counted', async () => {
      const logLines: LogLine[] = [];
      const { port } = await startServer({ maxConnections: 3 }, logLines);
      const silent = [await openConnection(port), await openConnection(port), await openConnection(port)];
      // One new client after another, each answered: every newcomer evicts the oldest silent one.
      const newcomer = await openConnection(port);
      expect((await newcomer.post('/admit', '{}')).body).toBe('{"admitted":true}');
      await silent[0]?.ended;
      const second = await openConnection(port);
      expect((await second.get('/healthz')).status).toBe(200);
      await silent[1]?.ended;
      expect(silent[2]?.socket.destroyed).toBe(false);

      const metrics = await newcomer.get('/metrics');
      expect(metrics.body).toMatch(new RegExp(`^${WebhookServerMetric.CONNECTIONS_EVICTED} 2$`, 'm'));
      expect(metrics.body).toMatch(new RegExp(`^${WebhookServerMetric.CONNECTIONS_REFUSED} 0$`, 'm'));
      expect(logLines.filter((line) => line.level === 'warn')).toEqual([
        { level: 'warn', message: 'connection evicted: the server holds its maximum of open connections', fields: { maxConnections: 3, evicted: 1 } },
      ]);
    });
  });

  describe('when idle kept-alive connections fill the bound', () => {
    it('evicts the one idle longest for a new client, and keeps the others', async () => {
      const { port } = await startServer({ maxConnections: 2 });
      const first = await openConnection(port);
      const second = await openConnection(port);
      expect((await first.get('/healthz')).status).toBe(200);
      expect((await second.get('/healthz')).status).toBe(200);

      const third = await openConnection(port);
      expect((await third.post('/admit', '{}')).body).toBe('{"admitted":true}');
      await first.ended;
      expect((await second.get('/healthz')).status).toBe(200);
    });

    it('keeps a newcomer through the next arrivals, however recently the others were active', async () => {
      // Bound 4: a connection is safe while at most 2 others arrived after it.
      const { port } = await startServer({ maxConnections: 4 });
      const busy = [await openConnection(port), await openConnection(port), await openConnection(port)];
      // The API server connects, and the others are all answered after it: each is more
      // recently active than the API server's connection before its review.
      const apiServer = await openConnection(port);
      for (const connection of busy) expect((await connection.get('/healthz')).status).toBe(200);

      // Two more connections arrive before the review is sent.
      await openConnection(port);
      await openConnection(port);

      expect((await apiServer.post('/admit', '{}')).body).toBe('{"admitted":true}');
      await busy[0]?.ended;
      await busy[1]?.ended;
    });
  });

  describe('when every open connection has a request in flight (no client CA: nothing tells the API server apart)', () => {
    it('cuts the connection whose request started first for the newcomer, which is answered, and answers the other', async () => {
      const logLines: LogLine[] = [];
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let started = 0;
      const { port } = await startServer({ maxConnections: 2 }, logLines, {
        hold: {
          handle: async () => {
            started += 1;
            await released;
            return { statusCode: 200, body: { held: true } };
          },
        },
      });
      const first = await openConnection(port);
      const firstOutcome = first.post('/functions/hold', '{}').then(
        () => 'answered',
        (error: Error) => error.message,
      );
      while (started < 1) await pause(10);
      const second = await openConnection(port);
      const secondAnswer = second.post('/functions/hold', '{}');
      while (started < 2) await pause(10);

      const third = await openConnection(port);
      expect((await third.get('/healthz')).status).toBe(200);
      expect(await firstOutcome).toMatch(/closed before/);

      release();
      expect((await secondAnswer).body).toBe('{"held":true}');
      const metrics = await third.get('/metrics');
      expect(metrics.body).toMatch(new RegExp(`^${WebhookServerMetric.CONNECTIONS_EVICTED} 1$`, 'm'));
      expect(metrics.body).toMatch(new RegExp(`^${WebhookServerMetric.CONNECTIONS_REFUSED} 0$`, 'm'));
    });

    it('cuts a client that never reads its answer (which stays in flight), so a newcomer is answered', async () => {
      const { port } = await startServer({ maxConnections: 2 }, [], { big: { handle: () => Promise.resolve({ statusCode: 200, body: { data: 'x'.repeat(16 * 1024 * 1024) } }) } });
      const hogs = [await openConnection(port), await openConnection(port)];
      for (const hog of hogs) {
        hog.socket.pause();
        hog.socket.write('POST /functions/big HTTP/1.1\r\nHost: trustgate\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
      }
      await pause(300);

      const newcomer = await openConnection(port);
      expect((await newcomer.get('/healthz')).status).toBe(200);
      expect((await newcomer.get('/metrics')).body).toMatch(new RegExp(`^${WebhookServerMetric.CONNECTIONS_EVICTED} 1$`, 'm'));
    });
  });
});
