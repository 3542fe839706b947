// An HTTPS proxy between a Kubernetes client and the real kube-apiserver that lets a test
// play the network: cut every open connection (watches included), refuse connections for a
// while, or answer the next watch with the `410 Gone` ERROR event an API server sends when
// the resourceVersion asked for has been compacted. Responses are streamed, so watches work.
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { getTestCertificates } from '../../support/tls-certs.js';

export interface KubeApiProxy {
  readonly url: string;
  // The CA of the proxy's certificate (SAN 127.0.0.1).
  readonly caPem: string;
  // Destroys every open client connection (and its upstream request).
  cut(): void;
  // While true, new connections are destroyed as soon as they are accepted.
  refuse(on: boolean): void;
  // The next watch request is answered 200 with one ERROR event, code 410, then closed.
  expireNextWatch(): void;
  // Watch requests (`watch=true`) forwarded or answered so far, with their query.
  watches(): readonly string[];
  close(): Promise<void>;
}

const EXPIRED_EVENT = {
  type: 'ERROR',
  object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 },
};

export async function startKubeApiProxy(upstream: { readonly url: string; readonly caPem: string }): Promise<KubeApiProxy> {
  const certificates = await getTestCertificates();
  const sockets = new Set<Socket>();
  const watchPaths: string[] = [];
  let refusing = false;
  let expireNext = false;
  const server: Server = createServer({ cert: certificates.certPem, key: certificates.keyPem }, (incoming, outgoing) => {
    const path = incoming.url ?? '/';
    const isWatch = /[?&]watch=(true|1)\b/.test(path);
    if (isWatch) watchPaths.push(path);
    if (isWatch && expireNext) {
      expireNext = false;
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(EXPIRED_EVENT)}\n`);
      return;
    }
    const forwarded = request(
      new URL(path, upstream.url),
      { method: incoming.method ?? 'GET', headers: { ...incoming.headers, host: new URL(upstream.url).host }, ca: upstream.caPem },
      (answer) => {
        // Headers go out at once, as the API server sends them: a watch may stay quiet for long.
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers).flushHeaders();
        answer.pipe(outgoing);
        answer.on('error', () => outgoing.destroy());
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    outgoing.on('close', () => forwarded.destroy());
    incoming.pipe(forwarded);
  });
  server.on('secureConnection', (socket) => {
    if (refusing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A refused TLS handshake is expected here, not an error of the test.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: certificates.caPem,
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    refuse: (on) => {
      refusing = on;
    },
    expireNextWatch: () => {
      expireNext = true;
    },
    watches: () => [...watchPaths],
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
