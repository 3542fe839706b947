// The webhook proxy's HTTP(S) server: /admit for the API server, /healthz and /readyz for probes,
// /metrics for Prometheus, and /functions/<name> serving each function handler with its
// own JSON contract (same status codes and bodies as on Lambda and OpenWhisk).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isTrustgateError } from '../../shared/errors.js';
import { parseJsonBytes } from '../../shared/json.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../shared/metrics/prometheus-registry.js';
import type { MetricDefinition } from '../../shared/metrics/prometheus-registry.js';
import type { Logger, Metrics } from '../../shared/ports.js';
import { MAX_FUNCTION_REQUEST_BYTES } from '../../shared/function-request-limits.js';
import type { EndpointAnswer } from './admit-endpoint.js';
import { readBody, readBodyThen } from './read-body.js';

// A platform-neutral function handler, as functions/<name>/handler.ts exports them. The
// request's headers (names in lower case) are passed for handlers that authenticate
// their caller themselves (sign-callback's bearer token).
export type FunctionHandler = (
  body: unknown,
  request: { readonly headers: Readonly<Record<string, string>> },
) => Promise<{ readonly statusCode: number; readonly body: unknown }>;

// A function route: its handler and, for a route whose caller is authenticated from the
// request's headers (sign-callback's bearer token), `authenticate`, run before the body is
// read: it answers the refusal, or undefined to go on to the body and `handle`.
export interface FunctionRoute {
  readonly handle: FunctionHandler;
  readonly authenticate?: (headers: Readonly<Record<string, string>>) => { readonly statusCode: number; readonly body: unknown } | undefined;
}

export interface WebhookServerOptions {
  // PEM certificate chain and key; plain HTTP when absent (for a TLS-terminating sidecar).
  // With `clientCa` (PEM), /admit and /validate answer only clients whose certificate chains
  // to it (the API server's, see README "Authenticating the API server to the webhook").
  readonly tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string };
  // An answer at once, or a promise of it (createAdmitEndpoint).
  readonly admit: (body: Uint8Array) => EndpointAnswer | Promise<EndpointAnswer>;
  // POST /validate: the validating pass over the final object (no patch).
  readonly validate?: (body: Uint8Array) => EndpointAnswer | Promise<EndpointAnswer>;
  readonly functions: Readonly<Record<string, FunctionRoute>>;
  readonly renderMetrics: () => string;
  // Readiness (/readyz): whether this replica should receive traffic, and why not. Absent:
  // always ready. /healthz stays liveness only: a failing dependency is no reason to restart.
  readonly readiness?: () => { readonly ready: boolean; readonly reason?: string };
  readonly logger: Logger;
  readonly maxAdmitBytes?: number;
  readonly maxFunctionBytes?: number;
  // Timeouts and the bound on open connections; each absent field takes its default
  // (DEFAULT_CONNECTION_LIMITS).
  readonly connections?: Partial<ConnectionLimits>;
  // Counts evicted and refused connections (WebhookServerMetric); absent: not counted.
  readonly metrics?: Metrics;
}

// How long connections may stay open, and how many at once. Every field is in milliseconds
// but `maxConnections`.
export interface ConnectionLimits {
  // An idle keep-alive connection is closed after this long. It must be longer than the
  // client's own idle timeout: the API server's webhook client is a Go http.Transport whose
  // idle connections live 90 s (IdleConnTimeout of Go's DefaultTransport, which
  // k8s.io/apimachinery's SetTransportDefaults applies). A server that closes first races the
  // client's next POST on that connection, and Go does not retry a POST: the review fails
  // (with failurePolicy Fail, a spurious denial).
  readonly keepAliveTimeoutMs: number;
  // From a request's first byte to its last header. Node starts this clock when the HTTP
  // parser gets the connection: for plain HTTP at the connection's start, under TLS once the
  // handshake is done (the handshake itself is bounded by handshakeTimeoutMs).
  readonly headersTimeoutMs: number;
  // From a request's start to its last body byte.
  readonly requestTimeoutMs: number;
  // How often headersTimeoutMs and requestTimeoutMs are checked (Node checks on an interval).
  readonly checkIntervalMs: number;
  // TLS: a client that does not finish its handshake in this time is cut.
  readonly handshakeTimeoutMs: number;
  // Open connections at most. One more makes room by closing another (evicted, see
  // pickEvictable); only with a client CA, when every open connection is the API server's
  // with a request in flight, is the newcomer closed instead (refused). Both are logged and
  // counted.
  readonly maxConnections: number;
}

// Security: with a long keep-alive an outsider can hold connections open cheaply (one
// request per keep-alive period each, or a bare TCP connection re-opened every handshake
// timeout); maxConnections bounds what that pins (a socket, TLS state and buffers each). The
// bound must not become a way to shut the API server and the kubelet out: a server that
// refused newcomers at the bound would let any pod fill it and have every admission fail. So
// a newcomer always makes room by evicting another connection (see pickEvictable), whatever
// that one is doing (a client that stops reading keeps its answer, and so its request, in
// flight for as long as it likes), but never a young one: under a flood of N connections a
// second, a connection is safe for about maxConnections / 2 / N seconds, long enough for the
// API server to finish its handshake and send its review, and for the kubelet's probe. With a
// client CA every connection without the certificate goes before the API server's, whose
// requests in flight are never cut. Without one, nothing tells the API server from an
// outsider: a flood can cut a review under way once it is no longer young (it fails; with a
// client CA it cannot), which is why serve should run with --client-ca wherever pods can
// reach it. No cap per peer address: the API server legitimately opens many connections from
// one address.
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  keepAliveTimeoutMs: 120_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  checkIntervalMs: 5_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 512,
};

export const WebhookServerMetric = {
  CONNECTIONS_EVICTED: 'trustgate_connections_evicted_total',
  CONNECTIONS_REFUSED: 'trustgate_connections_refused_total',
} as const;

export const WEBHOOK_SERVER_METRICS: Readonly<Record<string, MetricDefinition>> = {
  [WebhookServerMetric.CONNECTIONS_EVICTED]: { type: 'counter', help: 'Open connections with no request in flight closed to make room for a new one at the maximum of open connections.' },
  [WebhookServerMetric.CONNECTIONS_REFUSED]: { type: 'counter', help: 'Connections closed on arrival because every one of the maximum of open connections had a request in flight.' },
};

// One log line for the first evicted (refused) connection and then one per this many, with
// the count: a flood of connections must not become a flood of log lines.
const BOUND_LOG_EVERY = 1000;

export interface WebhookServer {
  listen(port: number, host: string): Promise<AddressInfo>;
  // Stops accepting connections and lets in-flight requests finish; a connection still
  // open after graceMs (default 10 s) is cut, so a rolling update never hangs.
  close(graceMs?: number): Promise<void>;
}

// Kubernetes objects are capped near 1.5 MiB; the review wraps object and oldObject.
export const MAX_ADMIT_BYTES = 3 * 1024 * 1024;
// The functions' own cap, the same as on Lambda and OpenWhisk.
export const MAX_FUNCTION_BYTES = MAX_FUNCTION_REQUEST_BYTES;

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  const maxAdmit = options.maxAdmitBytes ?? MAX_ADMIT_BYTES;
  const maxFunction = options.maxFunctionBytes ?? MAX_FUNCTION_BYTES;
  // With a client CA the certificate is asked for but not required at the handshake: the
  // kubelet's probes and Prometheus reach /healthz, /readyz and /metrics without one, and
  // routes that need it check `authorized` (the chain verified against the client CA only).
  const clientCa = options.tls?.clientCa;
  const requireClientCert = clientCa !== undefined;

  // The reply to a request, a promise of it, or (an admission review) a function that
  // answers once the body is read. A warm review is answered in the callback that receives
  // its body: no promise, microtask or timer per request.
  const route = (request: IncomingMessage): Reply | Promise<Reply> | Deferred => {
    const path = pathOf(request.url ?? '/');
    const method = request.method ?? 'GET';
    if (path === '/healthz') return method === 'GET' || method === 'HEAD' ? text(200, 'ok\n') : notAllowed('GET');
    if (path === '/readyz') {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET');
      const readiness = options.readiness?.() ?? { ready: true };
      return readiness.ready ? text(200, 'ready\n') : text(503, `not ready: ${readiness.reason ?? 'unknown'}\n`);
    }
    if (path === '/metrics') return method === 'GET' ? { status: 200, type: PROMETHEUS_CONTENT_TYPE, body: options.renderMetrics() } : notAllowed('GET');
    const review = path === '/admit' ? options.admit : path === '/validate' ? options.validate : undefined;
    if (review !== undefined) {
      // Security: an AdmissionReview decides which namespace's pull secrets serve uses and what
      // it admits; with a client CA only the API server's certificate may send one. Checked
      // before the body is read, so an unauthenticated caller costs no buffer.
      if (requireClientCert && !(request.socket as TLSSocket).authorized) {
        return json(401, errorBody('a client certificate issued by the configured client CA is required', 'UNAUTHORIZED'));
      }
      if (method !== 'POST') return notAllowed('POST');
      return (reply, fail) =>
        readBodyThen(
          request,
          maxAdmit,
          (read) => {
            // Called from the stream's callback: whatever throws here is answered as a
            // failure, never left to end the process.
            try {
              if (read.kind === 'too-large') {
                reply(json(413, errorBody(`AdmissionReview is larger than ${maxAdmit} bytes`)));
                return;
              }
              const answer = review(read.bytes);
              if (answer instanceof Promise) answer.then((settled) => reply(json(settled.status, settled.body)), fail);
              else reply(json(answer.status, answer.body));
            } catch (error) {
              fail(error);
            }
          },
          fail,
        );
    }
    const fn = /^\/functions\/([a-z0-9-]+)$/.exec(path)?.[1];
    const endpoint = fn === undefined || !Object.hasOwn(options.functions, fn) ? undefined : options.functions[fn];
    if (endpoint === undefined) return json(404, errorBody(`no endpoint ${path}`, 'NOT_FOUND'));
    if (method !== 'POST') return notAllowed('POST');
    const headers = headersOf(request);
    // Security: checked before the body is read, so a caller without the credential costs
    // no body buffer and no JSON parse (as /admit's client certificate above).
    const refused = endpoint.authenticate?.(headers);
    if (refused !== undefined) return json(refused.statusCode, refused.body);
    return readBody(request, maxFunction).then(async (read) => {
      if (read.kind === 'too-large') return json(413, errorBody(`request body is larger than ${maxFunction} bytes`));
      let body: unknown;
      try {
        body = parseJsonBytes(read.bytes, undefined, 'request body');
      } catch (error) {
        return json(400, errorBody(isTrustgateError(error) ? error.message : 'request body is not JSON'));
      }
      const answer = await endpoint.handle(body, { headers });
      return json(answer.statusCode, answer.body);
    });
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    bound.requestStarted(request, response);
    // Never throws, so a failure can neither go unanswered nor become an unhandled rejection.
    const fail = (error: unknown): void => {
      try {
        options.logger.error('request failed', { path: request.url, error: error instanceof Error ? error.message : String(error) });
      } catch {
        // The answer matters more than a log line that could not be written.
      }
      send(response, json(500, errorBody('internal error', 'INTERNAL')));
    };
    let reply: Reply | Promise<Reply> | Deferred;
    try {
      reply = route(request);
    } catch (error) {
      fail(error);
      return;
    }
    if (typeof reply === 'function') reply((settled) => send(response, settled), fail);
    else if (reply instanceof Promise) reply.then((settled) => send(response, settled), fail);
    else send(response, reply);
  };

  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.connections };
  const serverOptions = { connectionsCheckingInterval: limits.checkIntervalMs, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs };
  const server: Server =
    options.tls === undefined
      ? createHttpServer(serverOptions, handle)
      : createHttpsServer(
          {
            ...serverOptions,
            cert: options.tls.cert,
            key: options.tls.key,
            handshakeTimeout: limits.handshakeTimeoutMs,
            ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: false }),
          },
          handle,
        );
  // The API server keeps connections open between reviews (see ConnectionLimits).
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  const bound = createConnectionBound(server, limits.maxConnections, requireClientCert, options);
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: (graceMs = 10_000) =>
      new Promise((resolve) => {
        const cut = setTimeout(() => {
          server.closeAllConnections();
          // Connections still in their TLS handshake are not the HTTP server's yet.
          bound.closeAll();
        }, graceMs);
        cut.unref();
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

// One open connection, from its raw socket's arrival (before any TLS handshake).
interface OpenConnection {
  readonly socket: Socket;
  readonly peer: string;
  // Requests started and not yet answered (or abandoned).
  inFlight: number;
  // Whether its client certificate chains to the client CA (TLS with a client CA only).
  authorized: boolean;
  // When it last did something (its arrival, its last answer), and when its oldest request
  // in flight started: positions in one sequence of the bound's events, not clock times.
  touched: number;
  requestSince: number;
  // How many connections had arrived before it.
  readonly arrival: number;
}

// Bounds the open connections by evicting the oldest idle one (see DEFAULT_CONNECTION_LIMITS).
// Connections are tracked from the server's raw 'connection' event, in arrival order, so a
// connection still in its TLS handshake (or a bare TCP connection that never starts one) counts
// and can be evicted like any other. `requestStarted` is called for every request, so each
// connection knows whether it has one in flight.
function createConnectionBound(
  server: Server,
  max: number,
  clientCertMatters: boolean,
  options: Pick<WebhookServerOptions, 'logger' | 'metrics'>,
): { requestStarted(request: IncomingMessage, response: ServerResponse): void; closeAll(): void } {
  // Insertion order is arrival order.
  const open = new Map<Socket, OpenConnection>();
  // The TLS socket a request arrives on is not the raw socket: both have the same peer
  // address and port while the connection is open, which links the two.
  const byPeer = new Map<string, OpenConnection>();
  const peerOf = (socket: Socket): string => `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
  // The connection of the socket requests arrive on (the raw one, or its TLS socket): found
  // without a string key on every request of a kept-alive connection.
  const bySocket = new WeakMap<Socket, OpenConnection>();
  let evicted = 0;
  let refused = 0;
  let events = 0;
  let arrivals = 0;
  // A connection is safe from eviction until this many more have arrived after it.
  const youth = Math.floor(max / 2);
  // The peer key is kept from the start: a closed socket may no longer know its peer.
  const forget = (connection: OpenConnection): void => {
    if (open.get(connection.socket) !== connection) return;
    open.delete(connection.socket);
    if (byPeer.get(connection.peer) === connection) byPeer.delete(connection.peer);
  };

  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      // `arrivals - arrival` counts the connection itself: young while at most `youth` others
      // arrived after it.
      const victim = pickEvictable(open.values(), clientCertMatters, (connection) => arrivals - connection.arrival <= youth);
      if (victim === undefined) {
        refused += 1;
        options.metrics?.increment(WebhookServerMetric.CONNECTIONS_REFUSED);
        if ((refused - 1) % BOUND_LOG_EVERY === 0) {
          options.logger.warn('connection refused: every open connection is the API server\'s with a request in flight', { maxConnections: max, refused });
        }
        socket.destroy();
        return;
      }
      evicted += 1;
      options.metrics?.increment(WebhookServerMetric.CONNECTIONS_EVICTED);
      if ((evicted - 1) % BOUND_LOG_EVERY === 0) {
        options.logger.warn('connection evicted: the server holds its maximum of open connections', { maxConnections: max, evicted });
      }
      forget(victim);
      victim.socket.destroy();
    }
    events += 1;
    const connection: OpenConnection = { socket, peer: peerOf(socket), inFlight: 0, authorized: false, touched: events, requestSince: 0, arrival: arrivals };
    arrivals += 1;
    open.set(socket, connection);
    byPeer.set(connection.peer, connection);
    bySocket.set(socket, connection);
    socket.once('close', () => forget(connection));
  });
  // Under TLS, whether the client certificate is authorized is known once the handshake is done.
  server.on('secureConnection', (socket: TLSSocket) => {
    const connection = byPeer.get(peerOf(socket));
    if (connection === undefined) return;
    connection.authorized = socket.authorized;
    bySocket.set(socket, connection);
  });

  return {
    requestStarted: (request, response) => {
      const connection = bySocket.get(request.socket) ?? byPeer.get(peerOf(request.socket));
      if (connection === undefined) return;
      events += 1;
      if (connection.inFlight === 0) connection.requestSince = events;
      connection.inFlight += 1;
      if (clientCertMatters) connection.authorized = (request.socket as TLSSocket).authorized === true;
      // 'close' follows the answer's last byte, or the connection's end when it never came.
      response.once('close', () => {
        connection.inFlight -= 1;
        events += 1;
        connection.touched = events;
      });
    },
    closeAll: () => {
      for (const connection of [...open.values()]) connection.socket.destroy();
    },
  };
}

// The connection to evict; undefined only with a client CA when every connection is the API
// server's with a request in flight: the newcomer is refused.
// - A connection is not evicted while it is young (`young`: fewer than maxConnections / 2
//   connections arrived after it) unless every candidate is: under a flood of N connections a
//   second, a newcomer (the API server's, in its TLS handshake, or the kubelet's probe) has
//   about maxConnections / 2 / N seconds, whatever the other connections do.
// - Among the others, the one that did nothing for longest: its oldest request in flight
//   started first, or (none in flight) its last answer or its arrival came first. A client
//   that stops reading keeps its answer, and so its request, in flight for as long as it
//   likes, so requests in flight cannot be spared, and a client that keeps its connections
//   busy only keeps them recent, not young.
// - With a client CA, every connection without an authorized certificate goes before the
//   API server's, and the API server's requests in flight are never cut.
// A scan of the open connections, at most maxConnections, only when the bound is reached.
function pickEvictable(connections: Iterable<OpenConnection>, clientCertMatters: boolean, young: (connection: OpenConnection) => boolean): OpenConnection | undefined {
  let best: OpenConnection | undefined;
  let bestTier = Number.POSITIVE_INFINITY;
  let bestSince = Number.POSITIVE_INFINITY;
  for (const connection of connections) {
    if (clientCertMatters && connection.authorized && connection.inFlight > 0) continue;
    const since = connection.inFlight > 0 ? connection.requestSince : connection.touched;
    // Young ones after every other; among each, the API server's after every outsider's.
    const tier = (young(connection) ? 2 : 0) + (clientCertMatters && connection.authorized ? 1 : 0);
    if (tier < bestTier || (tier === bestTier && since < bestSince)) {
      best = connection;
      bestTier = tier;
      bestSince = since;
    }
  }
  return best;
}

interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  readonly allow?: string;
}

// A reply given later through `reply`, once; `fail` for anything that went wrong instead.
type Deferred = (reply: (settled: Reply) => void, fail: (error: unknown) => void) => void;

// Writes the reply: status line and headers in one call, then the body; a reply that cannot
// be written (the socket already gone) ends the connection.
function send(response: ServerResponse, reply: Reply): void {
  try {
    const headers: Record<string, string | number> = { 'content-type': reply.type, 'content-length': Buffer.byteLength(reply.body) };
    if (reply.allow !== undefined) headers['allow'] = reply.allow;
    response.writeHead(reply.status, headers);
    response.end(reply.body);
  } catch {
    response.destroy();
  }
}

function json(status: number, body: unknown): Reply {
  return { status, type: 'application/json', body: JSON.stringify(body) };
}

function text(status: number, body: string): Reply {
  return { status, type: 'text/plain; charset=utf-8', body };
}

function notAllowed(allow: string): Reply {
  return { ...json(405, errorBody(`method not allowed: use ${allow}`, 'METHOD_NOT_ALLOWED')), allow };
}

function errorBody(message: string, code = 'REQUEST_INVALID'): unknown {
  return { error: { code, message } };
}

// The request's path. The API server calls /admit (with a ?timeout= query) on every
// review, so that exact form is recognised without building a URL; anything else goes
// through the URL parser, which resolves dot segments and percent-encoding the same way
// for every route.
export function pathOf(url: string): string {
  if (url === '/admit' || url.startsWith('/admit?')) return '/admit';
  return new URL(url, 'http://localhost').pathname;
}

// Header names as Node gives them (lower case); repeated headers are joined.
function headersOf(request: IncomingMessage): Record<string, string> {
  // Null prototype: a header named `__proto__` or `constructor` is data like any other.
  const headers = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
