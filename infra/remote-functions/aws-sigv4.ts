// AWS Signature Version 4 for the requests trustgate sends to an API Gateway HTTP API (IAM
// authorisation, service `execute-api`) or a Lambda function URL (service `lambda`).
// Written on node:crypto rather than an SDK package: the algorithm is small, and the project
// declares no SDK signer as a dependency of its own.
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string; // never printed
  readonly sessionToken?: string; // never printed
}

export interface SigningScope {
  readonly region: string;
  readonly service: string;
}

export interface RequestToSign {
  readonly method: string;
  readonly url: URL;
  // Header names in any case; they are signed lower-cased.
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

// The request's headers plus x-amz-date, x-amz-content-sha256, the session token when there
// is one, and Authorization. Every header sent (host included) is signed, so none of them can
// be changed in transit without the signature failing; the date in the scope limits replay to
// AWS's 15-minute window.
export function signRequest(request: RequestToSign, credentials: AwsCredentials, scope: SigningScope, now: Date): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256Hex(request.body);
  const headers: Record<string, string> = {
    ...lowerCaseKeys(request.headers),
    host: request.url.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
    ...(credentials.sessionToken === undefined ? {} : { 'x-amz-security-token': credentials.sessionToken }),
  };
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(request.url.pathname, scope.service),
    canonicalQuery(request.url.searchParams),
    names.map((name) => `${name}:${normaliseHeaderValue(headers[name] ?? '')}\n`).join(''),
    signedHeaders,
    payloadHash,
  ].join('\n');
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = [day, scope.region, scope.service, 'aws4_request'].reduce<Buffer>(
    (key, part) => hmac(key, part),
    Buffer.from(`AWS4${credentials.secretAccessKey}`, 'utf8'),
  );
  const signature = hmac(signingKey, stringToSign).toString('hex');
  return {
    ...headers,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

// RFC 3986 encoding as SigV4 defines it: everything but unreserved characters.
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// Every service but S3 signs the path with each segment encoded once more on top of the
// encoding it already has on the wire (URL.pathname is that wire form).
function canonicalPath(pathname: string, service: string): string {
  if (pathname === '') return '/';
  if (service === 's3') return pathname;
  return pathname
    .split('/')
    .map((segment) => encodeRfc3986(segment))
    .join('/');
}

function canonicalQuery(params: URLSearchParams): string {
  return [...params]
    .map(([key, value]) => [encodeRfc3986(key), encodeRfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? compare(av, bv) : compare(a, b)))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function normaliseHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
