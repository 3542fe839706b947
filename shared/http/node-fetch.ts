// The Fetch port over node:http / node:https. This is an adapter: it is the one place in
// shared/ that opens network connections. Built on the core modules rather than global
// fetch because the port's guarantees need control that fetch does not give: the body is
// counted while it streams and the socket is torn down the moment it passes maxBytes, one
// deadline covers connect + headers + body, and redirects are never followed.
import http from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ErrorCode, TrustgateError } from '../errors.js';
import type { Fetch, HttpRequest, HttpResponse } from '../ports.js';

export interface NodeFetchOptions {
  // Extra PEM CA certificates trusted on top of Node's default store and NODE_EXTRA_CA_CERTS.
  readonly ca?: string | readonly string[];
  readonly userAgent?: string;
}

const DEFAULT_USER_AGENT = 'trustgate';

// Monotonic milliseconds for the deadline. process.hrtime rather than the `performance`
// global: the first touch of that global loads Node's perf_hooks modules, a visible part of a
// cold `trustgate verify`, whose only network client this is.
const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
// Error codes meaning "the server closed an idle keep-alive socket as we reused it".
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

interface Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

// Raised by one attempt when a reused keep-alive socket turned out to be closed before any
// response arrived; the exchange is then retried once on a new connection. Never leaves
// this file: an exchange that cannot be retried reports the server as unavailable.
class StaleSocketError extends Error {}

// Builds a Fetch with its own keep-alive agents (connection reuse saves a TCP + TLS
// handshake per metadata file). TLS verification cannot be turned off: rejectUnauthorized is
// set explicitly so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not weaken it.
// The retry of an exchange that met a closed keep-alive socket goes through agents that
// never reuse one (same TLS settings): another idle socket of the pool may be just as
// closed (a server that closed every idle connection at once), and a retry on it would
// fail the same way.
export function createNodeFetch(options: NodeFetchOptions = {}): Fetch {
  const ca = options.ca === undefined ? {} : { ca: trustedCertificates(options.ca) };
  const tls = { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...ca } as const;
  const agents: Agents = {
    http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    https: new https.Agent({ keepAlive: true, scheduling: 'lifo', ...tls }),
  };
  const fresh: Agents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false, ...tls }) };
  const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  return (request) => exchange(request, agents, fresh, userAgent);
}

// Node replaces its whole default store as soon as `ca` is given, so an extra CA must be
// added to the defaults explicitly: Node's bundled roots, the NODE_EXTRA_CA_CERTS file the
// operator configured, then ours.
function trustedCertificates(extra: string | readonly string[]): string[] {
  const fromEnvironment: string[] = [];
  const extraFile = process.env['NODE_EXTRA_CA_CERTS'];
  if (extraFile !== undefined && extraFile !== '') {
    try {
      fromEnvironment.push(readFileSync(extraFile, 'utf8'));
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at startup; trusting
      // fewer CAs is the safe direction, so the file is simply not added.
    }
  }
  return [...rootCertificates, ...fromEnvironment, ...(typeof extra === 'string' ? [extra] : extra)];
}

// One HTTP exchange under one deadline. A GET or HEAD that hit a keep-alive socket the
// server had just closed is retried once on a new connection within the same deadline;
// any other request that did is reported as TRUST_SERVER_UNAVAILABLE (it may have been
// acted on), like a retry that fails again.
async function exchange(request: HttpRequest, agents: Agents, fresh: Agents, userAgent: string): Promise<HttpResponse> {
  const target = parseTarget(request);
  assertLimits(request);
  const deadline = monotonicMs() + request.timeoutMs;
  const idempotent = (request.method ?? 'GET') === 'GET' || request.method === 'HEAD';
  try {
    return await sendOnce(target, request, agents, userAgent, deadline);
  } catch (error) {
    if (!(error instanceof StaleSocketError)) throw error;
    if (!idempotent) throw unavailable(target, error.cause as NodeJS.ErrnoException);
  }
  try {
    return await sendOnce(target, request, fresh, userAgent, deadline);
  } catch (error) {
    if (error instanceof StaleSocketError) throw unavailable(target, error.cause as NodeJS.ErrnoException);
    throw error;
  }
}

// Only http: and https: URLs without embedded credentials are accepted: anything else
// (file:, data:, a user:password@ prefix that would be sent as Basic auth) is a configuration
// mistake, reported without echoing the URL's userinfo.
function parseTarget(request: HttpRequest): URL {
  let target: URL;
  try {
    target = new URL(request.url);
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'request URL is not a valid absolute URL', { cause: error });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `request URL scheme is not supported: expected http: or https:, got ${target.protocol}`,
    );
  }
  if (target.username !== '' || target.password !== '') {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `request URL for ${target.host} embeds credentials: expected none in the URL`,
    );
  }
  return target;
}

function assertLimits(request: HttpRequest): void {
  if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `request timeout must be a positive number of ms, got ${request.timeoutMs}`);
  }
  if (!Number.isSafeInteger(request.maxBytes) || request.maxBytes < 0) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `request maxBytes must be a non-negative integer, got ${request.maxBytes}`);
  }
}

// A URL as it may appear in a message: no userinfo and no query string (a query can carry
// tokens), so messages never leak secrets.
function describeTarget(target: URL): string {
  return `${target.protocol}//${target.host}${target.pathname}`;
}

// Performs a single attempt. Every way out (response end, error, timeout, size cap) goes
// through `settle`, which runs once, clears the timer and tears the sockets down on failure.
function sendOnce(
  target: URL,
  request: HttpRequest,
  agents: Agents,
  userAgent: string,
  deadline: number,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let clientRequest: ClientRequest | undefined;
    let response: IncomingMessage | undefined;

    const settle = (outcome: { ok: HttpResponse } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      if ('ok' in outcome) {
        resolve(outcome.ok);
        return;
      }
      response?.destroy();
      clientRequest?.destroy();
      reject(outcome.error);
    };

    const timer = setTimeout(
      () =>
        settle({
          error: new TrustgateError(
            ErrorCode.TRUST_SERVER_UNAVAILABLE,
            `${describeTarget(target)} did not complete within the ${request.timeoutMs} ms timeout`,
          ),
        }),
      Math.max(0, deadline - monotonicMs()),
    );

    // The caller's overall deadline tears the exchange down like the per-request one.
    function onAbort(): void {
      const reason: unknown = request.signal?.reason;
      settle({
        error: reason instanceof TrustgateError ? reason : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `${describeTarget(target)} was cancelled before it completed`),
      });
    }
    if (request.signal?.aborted === true) {
      onAbort();
      return;
    }
    request.signal?.addEventListener('abort', onAbort, { once: true });

    const tooLarge = (got: string): TrustgateError =>
      new TrustgateError(
        ErrorCode.TRUST_METADATA_TOO_LARGE,
        `response from ${describeTarget(target)} is too large: expected at most ${request.maxBytes} bytes, got ${got}`,
      );

    const onResponse = (incoming: IncomingMessage): void => {
      response = incoming;
      // A HEAD answer announces the size of a body it does not send.
      const announced = request.method === 'HEAD' ? 0 : Number(incoming.headers['content-length']);
      if (Number.isFinite(announced) && announced > request.maxBytes) {
        settle({ error: tooLarge(`a Content-Length of ${announced}`) });
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      incoming.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > request.maxBytes) {
          settle({ error: tooLarge(`more than ${request.maxBytes}`) });
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('end', () => {
        const body = joinBody(chunks, received);
        chunks.length = 0;
        settle({ ok: toResponse(incoming.statusCode ?? 0, incoming.headers, body) });
      });
      incoming.on('error', (error) => settle({ error: unavailable(target, error) }));
      incoming.on('close', () => {
        if (!incoming.complete) {
          settle({
            error: new TrustgateError(
              ErrorCode.TRUST_SERVER_UNAVAILABLE,
              `${describeTarget(target)} closed the connection before the body was complete`,
            ),
          });
        }
      });
    };

    try {
      clientRequest = (target.protocol === 'https:' ? https : http).request(
        target,
        {
          method: request.method ?? 'GET',
          headers: { 'user-agent': userAgent, ...request.headers },
          agent: target.protocol === 'https:' ? agents.https : agents.http,
        },
        onResponse,
      );
    } catch (error) {
      // Node validates header names and values synchronously; the value itself may be a
      // credential, so only the fact is reported.
      settle({
        error: new TrustgateError(ErrorCode.CONFIG_INVALID, `request to ${describeTarget(target)} has an invalid header`, {
          cause: error,
        }),
      });
      return;
    }
    const sent = clientRequest;
    sent.on('error', (error: NodeJS.ErrnoException) => {
      const stale = sent.reusedSocket && response === undefined && STALE_SOCKET_CODES.has(error.code ?? '');
      settle({ error: stale ? new StaleSocketError(error.message, { cause: error }) : unavailable(target, error) });
    });
    sent.end(request.body);
  });
}

// Connection refused, DNS failure, TLS verification failure, reset: all mean the trust
// server cannot be used right now. The Node error is kept as the cause; the message names
// the failure by its code only, since Node's text can quote what the server sent (a
// certificate's names, a malformed response line).
function unavailable(target: URL, error: NodeJS.ErrnoException): TrustgateError {
  const reason = error.code ?? 'connection failed';
  return new TrustgateError(
    ErrorCode.TRUST_SERVER_UNAVAILABLE,
    `cannot reach ${describeTarget(target)}: ${reason.replace(/\s+/g, ' ')}`,
    { cause: error },
  );
}

// Copies the headers so the response holds no reference to the socket objects.
function toResponse(status: number, headers: IncomingHttpHeaders, body: Uint8Array): HttpResponse {
  const copied = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) copied.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
  }
  return { status, body, header: (name) => copied.get(name.toLowerCase()) };
}

// The body as one Uint8Array, copied once from the socket's chunks. Buffer.concat places a
// small result inside Node's shared allocation pool; that one is copied out again so a
// body kept for long (a verified document in a memo) never pins a pool slab. A large body
// has its own allocation and is handed on as is: bodies of metadata can be megabytes,
// and a second copy of each would double what the fetches in flight hold.
function joinBody(chunks: readonly Buffer[], length: number): Uint8Array {
  const joined = Buffer.concat(chunks, length);
  if (joined.byteOffset === 0 && joined.buffer.byteLength === joined.byteLength) {
    return new Uint8Array(joined.buffer, 0, joined.byteLength);
  }
  return new Uint8Array(joined);
}
