import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodeFetch } from '../../../shared/http/node-fetch.js';
import { findClosedPort, startLocalServer, type Handler, type LocalServer } from '../../support/local-http-server.js';
import { getTestCertificates, type TestCertificates } from '../../support/tls-certs.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const servers: LocalServer[] = [];
let certificates: TestCertificates;

beforeAll(async () => {
  certificates = await getTestCertificates();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(handler: Handler, tls = false): Promise<LocalServer> {
  const server = await startLocalServer(handler, tls ? certificates : undefined);
  servers.push(server);
  return server;
}

const fetchHttp = createNodeFetch();

describe('createNodeFetch', () => {
  describe('when the server answers 200 with a body', () => {
    it('resolves with the status, the body and case-insensitive headers', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Thing': 'one' });
        res.end('{"ok":true}');
      });
      const response = await fetchHttp({ url: `${server.url}/v2/`, maxBytes: 1024, timeoutMs: 2000 });
      expect(response.status).toBe(200);
      expect(new TextDecoder().decode(response.body)).toBe('{"ok":true}');
      expect(response.header('content-type')).toBe('application/json');
      expect(response.header('X-THING')).toBe('one');
      expect(response.header('absent')).toBeUndefined();
    });

    it('sends the user agent and the request headers', async () => {
      const server = await serve((_req, res) => res.end());
      const fetch = createNodeFetch({ userAgent: 'trustgate/test' });
      await fetch({ url: server.url, headers: { Accept: 'application/json' }, maxBytes: 10, timeoutMs: 2000 });
      expect(server.requests[0]?.headers['user-agent']).toBe('trustgate/test');
      expect(server.requests[0]?.headers['accept']).toBe('application/json');
    });

    it('sends a request body with its method', async () => {
      let received = '';
      const server = await serve((req, res) => {
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (received += chunk));
        req.on('end', () => res.end());
      });
      await fetchHttp({ url: server.url, method: 'POST', body: 'payload', maxBytes: 10, timeoutMs: 2000 });
      expect(server.requests[0]?.method).toBe('POST');
      expect(received).toBe('payload');
    });

    it('reuses the connection for the next request', async () => {
      const ports: number[] = [];
      const server = await serve((req, res) => {
        ports.push(req.socket.remotePort ?? -1);
        res.end('x');
      });
      await fetchHttp({ url: server.url, maxBytes: 10, timeoutMs: 2000 });
      await fetchHttp({ url: server.url, maxBytes: 10, timeoutMs: 2000 });
      expect(ports).toHaveLength(2);
      expect(ports[1]).toBe(ports[0]);
    });
  });

  describe('when the body is exactly maxBytes long', () => {
    it('resolves with the whole body', async () => {
      const server = await serve((_req, res) => res.end('a'.repeat(100)));
      const response = await fetchHttp({ url: server.url, maxBytes: 100, timeoutMs: 2000 });
      expect(response.body).toHaveLength(100);
    });
  });

  describe('when a streamed body without Content-Length grows past maxBytes', () => {
    it('aborts while streaming and rejects with TRUST_METADATA_TOO_LARGE', async () => {
      // The server never ends the body: only aborting on the cap can settle before the timeout.
      const server = await serve((_req, res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write('x'.repeat(1024)), 2);
        res.on('close', () => clearInterval(timer));
      });
      const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 8 * 1024, timeoutMs: 5000 }));
      expect(error.code).toBe('TRUST_METADATA_TOO_LARGE');
    });
  });

  describe('when Content-Length announces more than maxBytes', () => {
    it('rejects with TRUST_METADATA_TOO_LARGE before any body arrives', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': String(50 * 1024 * 1024) });
        res.flushHeaders();
      });
      const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 1024, timeoutMs: 5000 }));
      expect(error.code).toBe('TRUST_METADATA_TOO_LARGE');
    });
  });

  describe('when the server never answers', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE naming the host and the timeout', async () => {
      const server = await serve(() => undefined);
      const started = performance.now();
      const error = await rejectionOf(
        fetchHttp({ url: `${server.url}/slow`, headers: { Authorization: 'Bearer s3cret-token' }, maxBytes: 10, timeoutMs: 200 }),
      );
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(error.message).toContain(`127.0.0.1:${server.port}`);
      expect(error.message).toContain('200 ms');
      expect(error.message).not.toContain('s3cret-token');
      expect(performance.now() - started).toBeLessThan(2000);
    });
  });

  describe('when the headers arrive but the body trickles in past the deadline', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE (the deadline covers the whole exchange)', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write('x'), 50);
        res.on('close', () => clearInterval(timer));
      });
      const started = performance.now();
      const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 1024 * 1024, timeoutMs: 300 }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(performance.now() - started).toBeLessThan(2000);
    });
  });

  describe('when the caller aborts the request while the body trickles in', () => {
    it('rejects with the abort reason and closes the connection', async () => {
      let started: () => void = () => undefined;
      let closed: () => void = () => undefined;
      const answering = new Promise<void>((resolve) => (started = resolve));
      const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
      const server = await serve((_req, res) => {
        res.writeHead(200);
        res.write('x');
        res.on('close', closed);
        started();
      });
      const controller = new AbortController();
      const pending = rejectionOf(fetchHttp({ url: server.url, maxBytes: 1024, timeoutMs: 60_000, signal: controller.signal }));
      await answering;
      controller.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'budget spent'));
      expect((await pending).code).toBe('ADMISSION_TIMEOUT');
      await connectionClosed;
    });

    it('sends nothing when the signal has already aborted', async () => {
      const server = await serve((_req, res) => res.end('ok'));
      const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 1024, timeoutMs: 1_000, signal: AbortSignal.abort() }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(server.requests).toHaveLength(0);
    });
  });

  // A server that answers the first request of each connection and drops every later one
  // unanswered: to the client, each kept-alive connection it reuses turns out to be closed.
  function dropReusedConnections(): Handler {
    const answered = new WeakSet<object>();
    return (req, res) => {
      if (answered.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      answered.add(req.socket);
      res.end('x');
    };
  }

  // Two requests at once leave two idle kept-alive connections to `url` behind.
  async function leaveTwoIdleConnections(fetch: ReturnType<typeof createNodeFetch>, url: string): Promise<void> {
    await Promise.all([fetch({ url, maxBytes: 10, timeoutMs: 2000 }), fetch({ url, maxBytes: 10, timeoutMs: 2000 })]);
  }

  describe('when every idle kept-alive connection turns out to be closed by the server', () => {
    it('retries a GET once on a new connection and resolves with its answer', async () => {
      const server = await serve(dropReusedConnections());
      const fetch = createNodeFetch();
      await leaveTwoIdleConnections(fetch, server.url);
      const response = await fetch({ url: server.url, maxBytes: 10, timeoutMs: 2000 });
      expect(response.status).toBe(200);
      expect(new TextDecoder().decode(response.body)).toBe('x');
    });

    it('rejects a POST (not retried) with TRUST_SERVER_UNAVAILABLE', async () => {
      const server = await serve(dropReusedConnections());
      const fetch = createNodeFetch();
      await leaveTwoIdleConnections(fetch, server.url);
      const error = await rejectionOf(fetch({ url: server.url, method: 'POST', body: 'payload', maxBytes: 10, timeoutMs: 2000 }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when the server closes the connection mid-body', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
      });
      const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 1024, timeoutMs: 2000 }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when the connection is refused', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE and keeps the cause', async () => {
      const port = await findClosedPort();
      const error = await rejectionOf(fetchHttp({ url: `http://127.0.0.1:${port}/`, maxBytes: 10, timeoutMs: 2000 }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    });
  });

  describe('when the host name does not resolve', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE', async () => {
      const error = await rejectionOf(fetchHttp({ url: 'http://no-such-host.invalid/', maxBytes: 10, timeoutMs: 3000 }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when the server redirects', () => {
    it('returns the 3xx without following it', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(302, { Location: '/elsewhere' });
        res.end();
      });
      const response = await fetchHttp({ url: `${server.url}/start`, maxBytes: 10, timeoutMs: 2000 });
      expect(response.status).toBe(302);
      expect(response.header('location')).toBe('/elsewhere');
      expect(server.requests.map((request) => request.url)).toEqual(['/start']);
    });
  });

  describe('when the URL is not http: or https:', () => {
    it.each(['file:///etc/passwd', 'ftp://127.0.0.1/x', 'data:text/plain,hi', 'not a url'])(
      'rejects %s with CONFIG_INVALID',
      async (url) => {
        const error = await rejectionOf(fetchHttp({ url, maxBytes: 10, timeoutMs: 2000 }));
        expect(error.code).toBe('CONFIG_INVALID');
      },
    );
  });

  describe('when the URL embeds credentials', () => {
    it('rejects with CONFIG_INVALID without echoing them', async () => {
      const error = await rejectionOf(fetchHttp({ url: 'http://user:hunter2@127.0.0.1:1/', maxBytes: 10, timeoutMs: 2000 }));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).not.toContain('hunter2');
    });
  });

  describe('when a header value contains a line break', () => {
    it('rejects with CONFIG_INVALID without echoing the value', async () => {
      const server = await serve((_req, res) => res.end());
      const error = await rejectionOf(
        fetchHttp({ url: server.url, headers: { authorization: 'Bearer a\r\nX-Evil: 1' }, maxBytes: 10, timeoutMs: 2000 }),
      );
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).not.toContain('Bearer');
      expect(server.requests).toHaveLength(0);
    });
  });

  describe('over HTTPS', () => {
    describe('when the server certificate chains to the extra CA', () => {
      it('accepts the connection', async () => {
        const server = await serve((_req, res) => res.end('secure'), true);
        const fetch = createNodeFetch({ ca: certificates.caPem });
        const response = await fetch({ url: server.url, maxBytes: 100, timeoutMs: 2000 });
        expect(new TextDecoder().decode(response.body)).toBe('secure');
      });

      it('accepts the CA among several', async () => {
        const server = await serve((_req, res) => res.end('secure'), true);
        const fetch = createNodeFetch({ ca: [certificates.otherCaPem, certificates.caPem] });
        const response = await fetch({ url: server.url, maxBytes: 100, timeoutMs: 2000 });
        expect(response.status).toBe(200);
      });
    });

    describe('when the certificate names other hosts', () => {
      it('refuses with TRUST_SERVER_UNAVAILABLE naming the error code, not the names the certificate carries', async () => {
        // The test certificate is for 127.0.0.1 and localhost; the server answers on 127.0.0.2.
        const server = https.createServer({ cert: certificates.certPem, key: certificates.keyPem }, (_req, res) => res.end());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
        try {
          const { port } = server.address() as AddressInfo;
          const fetch = createNodeFetch({ ca: certificates.caPem });
          const error = await rejectionOf(fetch({ url: `https://127.0.0.2:${port}/`, maxBytes: 10, timeoutMs: 2000 }));
          expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
          expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(error.message).not.toContain('127.0.0.1');
        } finally {
          server.close();
        }
      });
    });

    describe('when the issuing CA is not trusted', () => {
      it('refuses with TRUST_SERVER_UNAVAILABLE and nothing reaches the server', async () => {
        const server = await serve((_req, res) => res.end('secure'), true);
        const error = await rejectionOf(fetchHttp({ url: server.url, maxBytes: 100, timeoutMs: 2000 }));
        expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
        expect(server.requests).toHaveLength(0);
      });

      it('refuses when only an unrelated extra CA is configured', async () => {
        const server = await serve((_req, res) => res.end('secure'), true);
        const fetch = createNodeFetch({ ca: certificates.otherCaPem });
        const error = await rejectionOf(fetch({ url: server.url, maxBytes: 100, timeoutMs: 2000 }));
        expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
        expect(server.requests).toHaveLength(0);
      });
    });
  });
});
