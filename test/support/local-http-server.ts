// A real node:http / node:https server on 127.0.0.1 and a free port, recording every
// request it receives, for tests that exercise the HTTP stack for real.
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  // Path and query exactly as sent on the request line.
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface LocalServer {
  // Origin, e.g. http://127.0.0.1:40123
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

// Starts the server; with `tls` it serves HTTPS with that certificate and key.
export async function startLocalServer(
  handler: Handler,
  tls?: { readonly certPem: string; readonly keyPem: string },
): Promise<LocalServer> {
  const requests: RecordedRequest[] = [];
  const recording: Handler = (request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    handler(request, response);
  };
  const server = tls === undefined ? http.createServer(recording) : https.createServer({ cert: tls.certPem, key: tls.keyPem }, recording);
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// A port that was just free and is now closed: connecting to it is refused.
export async function findClosedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
