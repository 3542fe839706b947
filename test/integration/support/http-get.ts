// A plain GET over http or https that trusts a given CA file, for the harness's own reads
// (health checks, capturing served metadata bytes). The product uses its own fetcher.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RawResponse {
  readonly status: number;
  readonly body: Buffer;
}

export function httpGet(url: string, caFile?: string, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const tls = target.protocol === 'https:' && caFile !== undefined ? { ca: readFileSync(caFile) } : {};
    const req = send(target, { method: 'GET', timeout: timeoutMs, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
