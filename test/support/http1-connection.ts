// One HTTP/1.1 client connection spoken by hand over a socket already connected (TCP or TLS),
// so a test knows exactly which connection each request travels on, and can leave a request
// in flight. One request at a time; answers are read by their content-length.
import type { Socket } from 'node:net';

export interface Http1Answer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

export interface Http1Connection {
  readonly socket: Socket;
  get(path: string): Promise<Http1Answer>;
  // Sends a JSON body and resolves with the answer.
  post(path: string, body: string): Promise<Http1Answer>;
  // Sends a request's head (expect: 100-continue) and only part of its body; resolves once
  // the server has started handling it (its `100 Continue`): the request stays in flight.
  startSlowPost(path: string): Promise<void>;
  // Resolves when the server ends or closes the connection.
  readonly ended: Promise<void>;
}

export function http1Connection(socket: Socket, host: string): Http1Connection {
  let buffered = Buffer.alloc(0);
  let waiting: { readonly path: string; readonly resolve: (answer: Http1Answer) => void; readonly reject: (error: Error) => void } | undefined;
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => waiting?.reject(new Error(`connection closed before ${waiting.path} was answered`)));
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
  const send = (path: string, request: string): Promise<Http1Answer> =>
    new Promise<Http1Answer>((resolve, reject) => {
      waiting = { path, resolve, reject };
      socket.write(request);
    });
  return {
    socket,
    ended,
    get: (path) => send(path, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
    post: (path, body) => send(path, `POST ${path} HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
    startSlowPost: (path) =>
      new Promise<void>((resolveStarted) => {
        socket.on('data', () => {
          if (buffered.includes('100 Continue')) resolveStarted();
        });
        socket.write(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\ncontent-length: 100\r\nexpect: 100-continue\r\n\r\n{`);
      }),
  };
}
