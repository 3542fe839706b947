// An HTTP(S) server in front of a trust server that forwards every request and lets a
// test play the network attacker: rewrite which upstream path is fetched, or replace the
// status and bytes of any response. It records every request path so tests can count
// round trips.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCa } from './test-ca.js';

export interface Upstream {
  readonly url: string;
  readonly caFile?: string;
}

export interface ProxiedResponse {
  // The path the client asked for (with query).
  readonly path: string;
  // The path actually fetched upstream (differs when a request hook rewrote it).
  readonly upstreamPath: string;
  readonly status: number;
  readonly body: Buffer;
}

// Returns a replacement (any field), or undefined to pass the response through.
// `chunked` sends the body in chunks without a Content-Length, so a client can only
// enforce a size cap while reading.
export type ResponseHook = (response: ProxiedResponse) => { status?: number; body?: Buffer; chunked?: boolean } | undefined;
// Returns another upstream path to fetch instead, or undefined to leave it.
export type RequestHook = (path: string) => string | undefined;

export interface TamperProxy {
  readonly url: string;
  // Every request path received, in order.
  readonly requests: readonly string[];
  onRequest(hook: RequestHook): void;
  onResponse(hook: ResponseHook): void;
  // Drops all hooks and the recorded requests.
  reset(): void;
  stop(): Promise<void>;
}

export interface TamperProxyOptions {
  readonly upstream: Upstream;
  // Serve https with this CA's server certificate (plain http when absent).
  readonly tls?: TestCa;
}

// Headers that describe the upstream message framing, recomputed for the rewritten body.
const HOP_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

export async function startTamperProxy(options: TamperProxyOptions): Promise<TamperProxy> {
  const requestHooks: RequestHook[] = [];
  const responseHooks: ResponseHook[] = [];
  const requests: string[] = [];
  const upstreamCa = options.upstream.caFile === undefined ? undefined : readFileSync(options.upstream.caFile);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '/';
    requests.push(path);
    const upstreamPath = requestHooks.reduce<string>((current, hook) => hook(current) ?? current, path);
    void forward(options.upstream.url, upstreamCa, req, upstreamPath)
      .then(({ status, headers, body }) => {
        let response: ProxiedResponse = { path, upstreamPath, status, body };
        let chunked = false;
        for (const hook of responseHooks) {
          const { chunked: asChunks, ...replacement } = hook(response) ?? {};
          response = { ...response, ...replacement };
          chunked ||= asChunks === true;
        }
        if (chunked) {
          res.writeHead(response.status, headers);
          writeInChunks(res, response.body);
        } else {
          res.writeHead(response.status, { ...headers, 'content-length': String(response.body.length) });
          res.end(response.body);
        }
      })
      .catch((error: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy error: ${error instanceof Error ? error.message : String(error)}`);
      });
  };

  const server: Server =
    options.tls === undefined
      ? createHttpServer(handle)
      : createHttpsServer({ cert: readFileSync(options.tls.serverCertFile), key: readFileSync(options.tls.serverKeyFile) }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    requests,
    onRequest: (hook) => void requestHooks.push(hook),
    onResponse: (hook) => void responseHooks.push(hook),
    reset() {
      requestHooks.length = 0;
      responseHooks.length = 0;
      requests.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Writes a body as a stream of 1 KiB chunks (Transfer-Encoding: chunked). A client that
// stops reading early closes the socket; that write error is expected and ignored.
function writeInChunks(res: ServerResponse, body: Buffer): void {
  res.on('error', () => undefined);
  for (let offset = 0; offset < body.length; offset += 1024) {
    if (res.destroyed) return;
    res.write(body.subarray(offset, offset + 1024));
  }
  res.end();
}

// Sends the client's request (method, headers, body) to the upstream path and buffers the answer.
function forward(
  upstreamUrl: string,
  ca: Buffer | undefined,
  req: IncomingMessage,
  upstreamPath: string,
): Promise<{ status: number; headers: OutgoingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const target = new URL(upstreamPath, upstreamUrl);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = { ...req.headers, host: target.host };
    const outgoing = send(target, { method: req.method ?? 'GET', headers, ...(ca === undefined ? {} : { ca }) }, (upstream) => {
      const chunks: Buffer[] = [];
      upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
      upstream.on('error', reject);
      upstream.on('end', () => {
        const kept: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upstream.headers)) {
          if (value !== undefined && !HOP_HEADERS.has(name)) kept[name] = value;
        }
        resolve({ status: upstream.statusCode ?? 502, headers: kept, body: Buffer.concat(chunks) });
      });
    });
    outgoing.on('error', reject);
    req.pipe(outgoing);
  });
}

// Splits a Notary metadata request path into its GUN and file name
// ('/v2/reg:5000/team/app/_trust/tuf/snapshot.<sha>.json' -> gun, 'snapshot.<sha>.json').
export function parseMetadataPath(path: string): { gun: string; file: string } | undefined {
  const match = /^\/v2\/(.+?)\/_trust\/tuf\/([^?]+)(?:\?.*)?$/.exec(path);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { gun: match[1], file: match[2] };
}

// The role a metadata file name refers to, whichever way it is addressed:
// 'timestamp.json', 'snapshot.<sha256>.json', '3.root.json', 'targets/releases.json'.
export function roleOfMetadataFile(file: string): string {
  return file.replace(/^\d+\./, '').replace(/\.json$/, '').replace(/\.[0-9a-f]{64}$/, '');
}
