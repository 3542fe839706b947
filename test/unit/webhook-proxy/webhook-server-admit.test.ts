// How the webhook server answers POST /admit over a real socket: the endpoint's answer given
// at once or later, a body over the bound refused with 413 whether or not it declares its
// length, and an endpoint that throws answered 500 without ending the server.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { EndpointAnswer } from '../../../infra/webhook-proxy/admit-endpoint.js';
import { createWebhookServer, type WebhookServer } from '../../../infra/webhook-proxy/webhook-server.js';
import type { Logger } from '../../../shared/ports.js';

const running: WebhookServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close(0)));
});

async function startServer(admit: (body: Uint8Array) => EndpointAnswer | Promise<EndpointAnswer>, errors: string[] = []): Promise<number> {
  const logger: Logger = { info: () => undefined, warn: () => undefined, error: (message) => void errors.push(message) };
  const server = createWebhookServer({ admit, functions: {}, renderMetrics: () => '', logger, maxAdmitBytes: 64 });
  running.push(server);
  return (await server.listen(0, '127.0.0.1')).port;
}

// POSTs `chunks` to /admit, declaring the length unless `chunked`.
function post(port: number, chunks: readonly string[], chunked = false): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const length = chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk), 0);
    const call = request({ host: '127.0.0.1', port, path: '/admit', method: 'POST', headers: chunked ? {} : { 'content-length': length } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    call.on('error', reject);
    for (const chunk of chunks) call.write(chunk);
    call.end();
  });
}

describe('createWebhookServer on /admit', () => {
  it('answers with the endpoint\'s answer, given at once or later, and hands it the body', async () => {
    const bodies: string[] = [];
    let later = false;
    const port = await startServer((body) => {
      bodies.push(Buffer.from(body).toString('utf8'));
      later = !later;
      const answer = { status: 200, body: { later } };
      return later ? Promise.resolve(answer) : answer;
    });
    expect(await post(port, ['{"a":', '1}'])).toEqual({ status: 200, body: { later: true } });
    expect(await post(port, ['{"b":2}'], true)).toEqual({ status: 200, body: { later: false } });
    expect(bodies).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('refuses a body over the bound with 413, whether its length is declared or not, and keeps answering', async () => {
    const seen: number[] = [];
    const port = await startServer((body) => {
      seen.push(body.length);
      return { status: 200, body: { ok: true } };
    });
    const large = 'x'.repeat(40);
    expect((await post(port, [large, large])).status).toBe(413);
    const chunked = await post(port, [large, large], true);
    expect(chunked.status).toBe(413);
    expect(chunked.body).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
    expect(await post(port, ['{}'])).toEqual({ status: 200, body: { ok: true } });
    expect(seen).toEqual([2]);
  });

  it('answers 500 INTERNAL when the endpoint throws or its answer fails, logs it, and keeps answering', async () => {
    const errors: string[] = [];
    let calls = 0;
    const port = await startServer(() => {
      calls += 1;
      if (calls === 1) throw new Error('endpoint bug');
      if (calls === 2) return Promise.reject(new Error('later bug'));
      return { status: 200, body: { ok: true } };
    }, errors);
    expect(await post(port, ['{}'])).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
    expect(await post(port, ['{}'])).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
    expect(await post(port, ['{}'])).toEqual({ status: 200, body: { ok: true } });
    expect(errors).toEqual(['request failed', 'request failed']);
  });
});
