// A minimal HTTP server around the sign-callback handler, standing in for the route
// `trustgate serve` exposes: POST / with the request's headers and JSON body handed over
// unchanged, the handler's status and JSON body sent back. Records every answer.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallbackHandler } from '../../../functions/sign-callback/handler.js';
import { parseJsonSafely } from '../../../shared/json.js';

export interface CallbackServer {
  readonly url: string;
  readonly answers: Array<{ readonly status: number; readonly body: unknown }>;
  stop(): Promise<void>;
}

export async function startCallbackServer(handle: CallbackHandler): Promise<CallbackServer> {
  const answers: Array<{ status: number; body: unknown }> = [];
  const server = createServer((req, res) => {
    void readBody(req)
      .then(async (text) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
        let body: unknown;
        try {
          body = parseJsonSafely(text);
        } catch {
          body = undefined;
        }
        const response = await handle({ body, headers });
        answers.push({ status: response.statusCode, body: response.body });
        res.writeHead(response.statusCode, { 'content-type': 'application/json' });
        res.end(JSON.stringify(response.body));
      })
      .catch((error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    answers,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
