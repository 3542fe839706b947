// A loopback Docker token service (the protocol docker/distribution's registry/auth/token
// code verifies, which is what notary-server runs in token mode): GET realm?service=..&
// scope=.. answers {token, access_token, expires_in, issued_at} where the token is an
// ES256 JWT whose header carries the signing certificate (x5c). That certificate is issued
// by the test CA, so notary-server trusts it when the CA is its `rootcertbundle`. It grants
// every action asked for, after checking Basic credentials when some are configured, and
// records each request for the tests to inspect.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCommandOrThrow } from './run-command.js';
import type { TestCa } from './test-ca.js';

export interface TokenServiceOptions {
  // Serves TLS with the CA's server certificate and issues the token signing certificate.
  readonly ca: TestCa;
  readonly issuer: string;
  readonly service: string;
  // When set, every token request must carry exactly these Basic credentials.
  readonly credentials?: { readonly username: string; readonly password: string };
  // With `credentials`: a request without Basic credentials is granted pulls too (what a
  // registry gives anyone for a public repository), while wrong credentials are refused.
  readonly anonymousPulls?: boolean;
  // Token lifetime (default 300 s).
  readonly lifetimeSeconds?: number;
}

// What the issued tokens look like: valid, or with one flaw a verifier must refuse.
//   untrusted-signer: signed by a self-signed certificate outside the root bundle
//   audience-list:    `aud` as a JSON array instead of the string distribution expects
export type TokenForm = 'valid' | 'untrusted-signer' | 'audience-list';

// One token request as the service saw it.
export interface TokenRequestRecord {
  readonly service: string | null;
  readonly scopes: readonly string[];
  // The Basic user name sent, undefined when no Basic header came.
  readonly username: string | undefined;
  // 200 with a token, 401 when credentials were missing or wrong.
  readonly status: number;
  // The `access` claim of the issued token (empty when refused).
  readonly granted: readonly AccessEntry[];
}

export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenService {
  // https://127.0.0.1:PORT/token
  readonly realm: string;
  readonly issuer: string;
  readonly service: string;
  // PEM bundle to give notary-server as `rootcertbundle` (the test CA).
  readonly rootCertBundleFile: string;
  requests(): readonly TokenRequestRecord[];
  // Forgets the recorded requests and goes back to issuing valid tokens.
  reset(): void;
  setTokenForm(form: TokenForm): void;
  stop(): Promise<void>;
}

const DEFAULT_LIFETIME_SECONDS = 300;

// Issues the signing certificate, then listens on a free loopback port.
export async function startTokenService(options: TokenServiceOptions): Promise<TokenService> {
  const signer = await issueSigningCertificate(options.ca, 'ca-signed');
  const outsider = await issueSigningCertificate(options.ca, 'self-signed');
  const [cert, key] = await Promise.all([readFile(options.ca.serverCertFile), readFile(options.ca.serverKeyFile)]);
  const records: TokenRequestRecord[] = [];
  let form: TokenForm = 'valid';
  const server = createServer({ cert, key }, (request, response) => {
    records.push(answer(request, response, options, form === 'untrusted-signer' ? outsider : signer, form));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    issuer: options.issuer,
    service: options.service,
    rootCertBundleFile: options.ca.caFile,
    requests: () => [...records],
    reset: () => {
      records.splice(0);
      form = 'valid';
    },
    setTokenForm: (next) => {
      form = next;
    },
    stop: () => closeServer(server),
  };
}

interface SigningCertificate {
  readonly key: KeyObject;
  // base64 (standard, padded) DER of the certificate, as the JWS x5c header carries it.
  readonly certificateDerBase64: string;
}

// A P-256 key and a certificate for it (openssl: node:crypto cannot write certificates),
// signed by the test CA's key, or self-signed for a signer the root bundle does not hold.
// distribution verifies the x5c chain against its root bundle.
async function issueSigningCertificate(ca: TestCa, issuer: 'ca-signed' | 'self-signed'): Promise<SigningCertificate> {
  const path = (name: string): string => join(ca.dir, `token-signer-${issuer}.${name}`);
  const openssl = (args: readonly string[]): Promise<unknown> => runCommandOrThrow('openssl', args, { cwd: ca.dir });
  const subject = ['-subj', '/CN=trustgate test token signer'];
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('key')];
  const extensions = ['keyUsage=critical,digitalSignature', 'basicConstraints=CA:false'];
  if (issuer === 'self-signed') {
    await openssl(['req', '-x509', ...newKey, '-out', path('crt'), '-days', '30', ...subject, ...extensions.flatMap((ext) => ['-addext', ext])]);
  } else {
    await openssl(['req', '-new', ...newKey, '-out', path('csr'), ...subject]);
    await writeFile(path('ext'), `${extensions.join('\n')}\n`);
    // createTestCa keeps the CA's private key beside its certificate as ca.key.
    await openssl([
      'x509', '-req', '-in', path('csr'), '-CA', ca.caFile, '-CAkey', join(ca.dir, 'ca.key'),
      '-CAcreateserial', '-out', path('crt'), '-days', '30', '-extfile', path('ext'),
    ]);
  }
  const pem = await readFile(path('crt'), 'utf8');
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (body === undefined) throw new Error('openssl wrote no certificate for the token signer');
  return {
    key: createPrivateKey(await readFile(path('key'))),
    certificateDerBase64: body.replace(/\s+/g, ''),
  };
}

// Handles one request and says what happened.
function answer(
  request: IncomingMessage,
  response: ServerResponse,
  options: TokenServiceOptions,
  signer: SigningCertificate,
  form: TokenForm,
): TokenRequestRecord {
  const url = new URL(request.url ?? '/', 'https://token.test');
  const service = url.searchParams.get('service');
  const scopes = url.searchParams.getAll('scope').flatMap((scope) => scope.split(' ')).filter((scope) => scope !== '');
  const basic = parseBasic(request.headers.authorization);
  const record = { service, scopes, username: basic?.username };
  if (url.pathname !== '/token' || request.method !== 'GET') {
    respond(response, 404, { errors: [{ code: 'NOT_FOUND' }] });
    return { ...record, status: 404, granted: [] };
  }
  const expected = options.credentials;
  const anonymous = basic === undefined && options.anonymousPulls === true;
  if (expected !== undefined && !anonymous && (basic?.username !== expected.username || basic.password !== expected.password)) {
    response.setHeader('www-authenticate', `Basic realm="${options.issuer}"`);
    respond(response, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    return { ...record, status: 401, granted: [] };
  }
  const granted = scopes
    .map(parseScope)
    .filter((entry): entry is AccessEntry => entry !== undefined)
    .map((entry) => (anonymous ? { ...entry, actions: entry.actions.filter((action) => action === 'pull') } : entry));
  const lifetime = options.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS;
  const nowSeconds = Math.floor(Date.now() / 1000);
  const audience = service ?? options.service;
  const token = signToken(signer, {
    iss: options.issuer,
    sub: basic?.username ?? '',
    // distribution's ClaimSet declares aud as a string.
    aud: form === 'audience-list' ? [audience] : audience,
    exp: nowSeconds + lifetime,
    nbf: nowSeconds - 1,
    iat: nowSeconds,
    jti: randomBytes(16).toString('hex'),
    access: granted,
  });
  respond(response, 200, { token, access_token: token, expires_in: lifetime, issued_at: new Date(nowSeconds * 1000).toISOString() });
  return { ...record, status: 200, granted };
}

// `repository:NAME:pull,push`: the name may hold host:port, so the actions follow the last ':'.
function parseScope(scope: string): AccessEntry | undefined {
  const typeEnd = scope.indexOf(':');
  const actionsStart = scope.lastIndexOf(':');
  if (typeEnd <= 0 || actionsStart <= typeEnd) return undefined;
  return {
    type: scope.slice(0, typeEnd),
    name: scope.slice(typeEnd + 1, actionsStart),
    actions: scope.slice(actionsStart + 1).split(',').filter((action) => action !== ''),
  };
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

// A compact JWS with ES256 (JWS wants the raw r||s signature, not DER) and the signing
// certificate in x5c, which is how distribution's verifier finds the key.
function signToken(signer: SigningCertificate, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [signer.certificateDerBase64] };
  const signingInput = `${base64Url(JSON.stringify(header))}.${base64Url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: signer.key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${base64Url(signature)}`;
}

function base64Url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function respond(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
