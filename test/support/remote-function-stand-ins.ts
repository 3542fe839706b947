// Loopback servers that speak the wire contracts of the deployed verify-image function: an
// API Gateway HTTP API with IAM authorisation (it checks each request's SigV4 signature,
// recomputed here from the known credentials) and the OpenWhisk REST API (blocking invoke with
// Basic auth, or the web action with its secret header). Each records every request with its
// body and answers through a function the test supplies.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer, type LocalServer } from './local-http-server.js';

export interface StandInRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

// What the stand-in sends back: a status and a JSON value, raw bytes, or nothing at all
// (the socket is held open, for timeouts).
export type StandInReply = { readonly status: number; readonly json: unknown } | { readonly status: number; readonly raw: string | Buffer } | { readonly hang: true };

export interface StandIn {
  readonly url: string;
  readonly received: StandInRequest[];
  close(): Promise<void>;
}

export interface TestAwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export const TEST_AWS_CREDENTIALS: TestAwsCredentials = {
  accessKeyId: 'AKIATRUSTGATETEST01',
  secretAccessKey: 'trustgate/test/secret/key/0123456789abcdef',
  sessionToken: 'trustgate-test-session-token',
};

async function serve(handle: (request: StandInRequest) => StandInReply): Promise<StandIn> {
  const received: StandInRequest[] = [];
  const held: ServerResponse[] = [];
  const server: LocalServer = await startLocalServer((incoming: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const request = { method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      const reply = handle(request);
      if ('hang' in reply) {
        held.push(response);
        return;
      }
      const body = 'json' in reply ? JSON.stringify(reply.json) : reply.raw;
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(body);
    });
  });
  return { url: server.url, received, close: () => server.close() };
}

// An HTTP API stand-in: POST {stage}/functions/verify-image, answered with `answer` only when
// the request carries a valid SigV4 signature for `credentials` in `region`; 403 otherwise,
// as API Gateway does.
export function startHttpApiStandIn(options: {
  readonly credentials: TestAwsCredentials;
  readonly region: string;
  readonly answer: (request: StandInRequest) => StandInReply;
}): Promise<StandIn & { readonly signatureFailures: string[] }> {
  const signatureFailures: string[] = [];
  return serve((request) => {
    const failure = checkSigV4(request, options.credentials, options.region, 'execute-api');
    if (failure !== undefined) {
      signatureFailures.push(failure);
      return { status: 403, json: { message: 'Forbidden' } };
    }
    return options.answer(request);
  }).then((standIn) => ({ ...standIn, signatureFailures }));
}

// An OpenWhisk stand-in: answers `answer` for any request; the tests assert the requests.
export function startOpenWhiskStandIn(answer: (request: StandInRequest) => StandInReply): Promise<StandIn> {
  return serve(answer);
}

// Recomputes the SigV4 signature of a received request from its wire form, independently of
// the signer under test; undefined when it is valid, else why not.
export function checkSigV4(request: StandInRequest, credentials: TestAwsCredentials, region: string, service: string): string | undefined {
  const header = request.headers['authorization'];
  if (typeof header !== 'string') return 'no Authorization header';
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(header);
  if (match === null) return `malformed Authorization: ${header.slice(0, 40)}`;
  const [, keyId, day, scopeRegion, scopeService, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== credentials.accessKeyId) return 'unknown access key';
  if (scopeRegion !== region || scopeService !== service) return `wrong scope ${scopeRegion}/${scopeService}`;
  const amzDate = request.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !amzDate.startsWith(day ?? '')) return 'x-amz-date missing or not the scope date';
  const names = (signedHeaders ?? '').split(';');
  for (const required of ['host', 'x-amz-date', 'content-type', ...(credentials.sessionToken ? ['x-amz-security-token'] : [])]) {
    if (!names.includes(required)) return `${required} is not signed`;
  }
  if (credentials.sessionToken !== undefined && request.headers['x-amz-security-token'] !== credentials.sessionToken) return 'wrong session token';
  const payloadHash = createHash('sha256').update(request.body).digest('hex');
  const [path = '', query = ''] = request.url.split('?');
  const canonicalUri = path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  const canonicalQuery = query === '' ? '' : query.split('&').sort().join('&');
  let canonicalHeaders = '';
  for (const name of names) {
    const value = request.headers[name];
    if (typeof value !== 'string') return `signed header ${name} was not sent`;
    canonicalHeaders += `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
  }
  const canonical = `${request.method}\n${canonicalUri}\n${canonicalQuery}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  let key: Buffer = createHmac('sha256', `AWS4${credentials.secretAccessKey}`).update(day ?? '').digest();
  key = createHmac('sha256', key).update(region).digest();
  key = createHmac('sha256', key).update(service).digest();
  key = createHmac('sha256', key).update('aws4_request').digest();
  const expected = createHmac('sha256', key).update(toSign).digest();
  return timingSafeEqual(expected, Buffer.from(signature ?? '', 'hex')) ? undefined : 'signature does not match';
}

// A well-formed verify-image allow for `image` pinned to `digest`.
export function allowAnswer(image: string, digest: string): unknown {
  return { allowed: true, image, digest, reasons: [], codes: [], signers: ['targets'], policy: { kind: 'ClusterImagePolicy', name: 'remote', pattern: '*' }, mutateImage: true };
}

export function denyAnswer(image: string, code: string): unknown {
  return { allowed: false, image, digest: null, reasons: [`${image}: denied remotely`], codes: [code], signers: [] };
}
