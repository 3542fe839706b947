// The operator's trust-server credentials (TRUSTGATE_TRUST_USERNAME / PASSWORD) and the
// network position of `trustgate serve` and the deployed verify-image, attacked through the
// public surface. Local HTTPS servers play the attacker: a "trust server" whose 401 names
// a token realm of its choosing, and a "collector" on another host name (localhost, where
// the trust server is 127.0.0.1) that records whatever reaches it. Each case asserts what
// the attacker's servers received, not only the answer.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer, type RecordedRequest } from '../support/local-http-server.js';
import { bundlePath, ensureBuilt } from './support/built-bundles.js';
import { runBundle, type BundleRun } from './support/run-bundle.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const ACCOUNT = { username: 'operator-account', password: 'operator-password-9' };
const CREDENTIALS = { TRUSTGATE_TRUST_USERNAME: ACCOUNT.username, TRUSTGATE_TRUST_PASSWORD: ACCOUNT.password };
const EXPLICIT_TOKEN = 'explicit-trust-token-4d1c';
// What an internal service would answer; none of it may come back to a caller. Bodies
// start with it, and its first characters are what is looked for: a parser's message
// quotes only the few characters around the error.
const SECRET = 'zqx7-internal-secret';
const MARKER = SECRET.slice(0, 4);
// The repositories the operator's policy sends to the trust server (the attacker plays a
// compromised or spoofed configured server). Each test asks about repositories of its own,
// so no challenge a serve process remembers from an earlier test is in play.
let repository = 0;
let CONFIGURED_IMAGE = '';
let CALLER_IMAGE = '';
let SECOND_IMAGE = '';

type Behaviour = (request: IncomingMessage, response: ServerResponse, port: number) => void;

let ca: TestCa;
let scratch: string;
let trustServer: LocalServer;
// Another trust server the operator configures, answering as `behaviour` says.
let secondServer: LocalServer;
let collector: LocalServer;
let behaviour: Behaviour;
let serveDefault: ServeProcess;
let serveWithToken: ServeProcess;
let serveWithRealmHosts: ServeProcess;
let serveOpen: ServeProcess;

// The realm the trust server's 401 names: its own host by default.
const collectorRealm = (): string => `https://localhost:${collector.port}/token`;
const ownRealm = (): string => `${trustServer.url}/token`;

function challengeTo(realm: string): Behaviour {
  return (request, response) => {
    if (request.url?.startsWith('/token') === true) return respond(response, 200, JSON.stringify({ token: 'issued-token' }));
    response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="notary",scope="repository:x:pull"`, 'content-type': 'application/json' });
    response.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: SECRET }] }));
  };
}

function respond(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(body);
}

beforeAll(async () => {
  ca = await createTestCa();
  scratch = await makeTempDir('trust-credentials');
  const tls = { certPem: await readFile(ca.serverCertFile, 'utf8'), keyPem: await readFile(ca.serverKeyFile, 'utf8') };
  trustServer = await startLocalServer((request, response) => behaviour(request, response, trustServer.port), tls);
  secondServer = await startLocalServer((request, response) => behaviour(request, response, secondServer.port), tls);
  collector = await startLocalServer((_request, response) => respond(response, 200, JSON.stringify({ token: 'collected' })), tls);
  const policiesDir = join(scratch, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'cluster.yaml'), configuredPolicy(trustServer.url, 'configured'));
  await writeFile(join(policiesDir, 'second.yaml'), configuredPolicy(secondServer.url, 'second'));
  // The collector listens on another port of localhost: the allow-list names host and port.
  const collectorHost = `localhost:${collector.port}`;
  const start = (name: string, env: Record<string, string>, extraArgs: readonly string[] = []): Promise<ServeProcess> =>
    startTrustgateServe({ policiesDir, stateDir: join(scratch, name), caFile: ca.caFile, env: { ...CREDENTIALS, TRUSTGATE_FRESHNESS: '0', ...env }, extraArgs });
  [serveDefault, serveWithToken, serveWithRealmHosts, serveOpen] = await Promise.all([
    start('default', {}),
    start('token', { TRUSTGATE_EXPLICIT_TRUST_TOKEN: EXPLICIT_TOKEN }),
    start('realm-hosts', { TRUSTGATE_TRUST_REALM_HOSTS: collectorHost }),
    start('open', { TRUSTGATE_TRUST_REALM_HOSTS: collectorHost }, ['--allow-explicit-trust']),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([serveDefault?.stop(), serveWithToken?.stop(), serveWithRealmHosts?.stop(), serveOpen?.stop()]);
  await Promise.all([trustServer?.close(), secondServer?.close(), collector?.close()]);
  await removeDir(scratch);
  await ca?.remove();
});

beforeEach(() => {
  repository += 1;
  CONFIGURED_IMAGE = `registry.example.com/configured/app-${repository}:v1`;
  CALLER_IMAGE = `registry.example.com/caller/app-${repository}:v1`;
  SECOND_IMAGE = `registry.example.com/second/app-${repository}:v1`;
  trustServer.requests.splice(0);
  secondServer.requests.splice(0);
  collector.requests.splice(0);
  behaviour = challengeTo(ownRealm());
});

function configuredPolicy(server: string, path: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: ${path}-trust-server
spec:
  repositories:
    - name: "registry.example.com/${path}/*"
      policy:
        trust:
          enabled: true
          trustServer: "${server}"
`;
}

async function verifyImage(serve: ServeProcess, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body: JSON.stringify(body), headers });
}

interface Verdict {
  readonly allowed: boolean;
  readonly reasons: readonly string[];
  readonly codes: readonly string[];
}

function verdictOf(answer: HttpAnswer): Verdict {
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as Verdict;
}

const tokenRequests = (server: LocalServer): RecordedRequest[] => server.requests.filter((request) => request.url.startsWith('/token'));

// Nothing the attacker's servers sent may appear in what serve answers, logs or exports.
async function expectNothingReflected(serve: ServeProcess, answer: HttpAnswer): Promise<void> {
  expect(trustServer.requests.length, 'the trust server was asked').toBeGreaterThan(0);
  expect(answer.text).not.toContain(MARKER);
  expect(serve.output()).not.toContain(MARKER);
  expect((await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text).not.toContain(MARKER);
}

describe('trustgate serve /functions/verify-image without explicit-trust access', () => {
  it('refuses a request naming its own trust server, signers and root keys with 400, and contacts nobody', async () => {
    const answer = await verifyImage(serveDefault, {
      image: CALLER_IMAGE,
      trust: { server: trustServer.url, rootKeyIds: ['ab'.repeat(32)] },
    });

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'REQUEST_INVALID', problems: [{ path: 'trust.server' }, { path: 'trust.rootKeyIds' }] } });
    expect(trustServer.requests).toEqual([]);
    expect(collector.requests).toEqual([]);
  });

  it('refuses it even with a bearer token, since none is configured', async () => {
    const answer = await verifyImage(serveDefault, { image: CALLER_IMAGE, trust: { server: trustServer.url } }, { authorization: `Bearer ${EXPLICIT_TOKEN}` });

    expect(answer.status).toBe(400);
    expect(trustServer.requests).toEqual([]);
  });
});

describe('trustgate serve /functions/verify-image with TRUSTGATE_EXPLICIT_TRUST_TOKEN', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong bearer token', { authorization: `Bearer ${EXPLICIT_TOKEN}x` }],
  ])('answers 403 UNAUTHORIZED to an explicit request with %s, and contacts nobody', async (_name, headers) => {
    const answer = await verifyImage(serveWithToken, { image: CALLER_IMAGE, trust: { server: trustServer.url } }, headers);

    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(trustServer.requests).toEqual([]);
  });

  it('never sends the operator credentials to the token realm of a server the caller named, even on its own host', async () => {
    const answer = await verifyImage(serveWithToken, { image: CALLER_IMAGE, trust: { server: trustServer.url } }, { authorization: `Bearer ${EXPLICIT_TOKEN}` });

    const verdict = verdictOf(answer);
    expect(verdict.allowed).toBe(false);
    expect(verdict.codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(trustServer.requests.length).toBeGreaterThan(0);
    expect(tokenRequests(trustServer)).toEqual([]);
    await expectNothingReflected(serveWithToken, answer);
  });

  it('reflects nothing of what a caller-named server answers', async () => {
    behaviour = (_request, response) => respond(response, 200, `${SECRET}<html><body>${SECRET}</body></html>`, { 'content-type': 'text/html' });

    const answer = await verifyImage(serveWithToken, { image: CALLER_IMAGE, trust: { server: trustServer.url } }, { authorization: `Bearer ${EXPLICIT_TOKEN}` });

    expect(verdictOf(answer).allowed).toBe(false);
    expect(trustServer.requests.length).toBeGreaterThan(0);
    await expectNothingReflected(serveWithToken, answer);
  });
});

describe('trustgate serve --allow-explicit-trust', () => {
  it('answers any caller\'s explicit request, but never with the credentials, even to a listed realm host', async () => {
    behaviour = challengeTo(collectorRealm());

    const answer = await verifyImage(serveOpen, { image: CALLER_IMAGE, trust: { server: trustServer.url } });

    expect(verdictOf(answer).codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(trustServer.requests.length).toBeGreaterThan(0);
    expect(collector.requests).toEqual([]);
    expect(serveOpen.output()).toContain('--allow-explicit-trust');
  });
});

describe('trustgate verify --trust-server (the operator\'s own choice)', () => {
  const run = (env: Record<string, string> = {}): Promise<TrustgateRun> =>
    runTrustgateVerify({ image: CONFIGURED_IMAGE, trustServer: trustServer.url, caFile: ca.caFile, stateDir: join(scratch, `cli-${repository}`), env: { ...CREDENTIALS, ...env } });

  it('sends the credentials to the realm on the trust server\'s host', async () => {
    const result = await run();

    expect(result.json?.allowed, result.stderr).toBe(false);
    expect(tokenRequests(trustServer)[0]?.headers.authorization).toMatch(/^Basic /);
  });

  it('refuses a realm on another host with TRUST_AUTH_REALM_REFUSED, and the collector receives nothing', async () => {
    behaviour = challengeTo(collectorRealm());

    const result = await run();

    expect(result.json?.codes, result.stderr).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(result.exitCode).toBe(1);
    expect(collector.requests).toEqual([]);
  });
});

describe('the token realm of an operator-configured trust server', () => {
  const policyRequest = (): unknown => ({ image: CONFIGURED_IMAGE, namespace: 'default' });

  it('receives the credentials over https on the trust server\'s own host', async () => {
    const verdict = verdictOf(await verifyImage(serveDefault, policyRequest()));

    expect(verdict.allowed).toBe(false);
    const sent = tokenRequests(trustServer);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`${ACCOUNT.username}:${ACCOUNT.password}`).toString('base64')}`);
  });

  it('is refused on another host: TRUST_AUTH_REALM_REFUSED, and the collector receives nothing', async () => {
    behaviour = challengeTo(collectorRealm());

    const answer = await verifyImage(serveDefault, policyRequest());

    expect(verdictOf(answer).codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(collector.requests).toEqual([]);
    await expectNothingReflected(serveDefault, answer);
  });

  it('receives the credentials on another host once the operator lists it in TRUSTGATE_TRUST_REALM_HOSTS', async () => {
    behaviour = challengeTo(collectorRealm());

    await verifyImage(serveWithRealmHosts, policyRequest());

    expect(collector.requests.length).toBeGreaterThan(0);
    expect(collector.requests[0]?.headers.authorization).toMatch(/^Basic /);
  });

  it('is asked again for another configured server naming the same realm, service and scope: a token is never handed to a server it was not fetched for', async () => {
    // A scope of this test's own, so no token cached by an earlier test is in play.
    const scope = `repository:shared-${repository}:pull`;
    behaviour = (request, response) => {
      if (request.headers.authorization?.startsWith('Bearer ') === true) return respond(response, 404, '{}');
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${collectorRealm()}",service="notary",scope="${scope}"`, 'content-type': 'application/json' });
      response.end('{}');
    };

    await verifyImage(serveWithRealmHosts, policyRequest());
    await verifyImage(serveWithRealmHosts, { image: SECOND_IMAGE, namespace: 'default' });

    expect(secondServer.requests.length).toBeGreaterThan(0);
    const asked = collector.requests.filter((request) => new URL(request.url, collectorRealm()).searchParams.get('scope') === scope);
    expect(asked).toHaveLength(2);
  });

  it('is refused when it is plain http, whatever its host', async () => {
    behaviour = challengeTo(`http://127.0.0.1:${collector.port}/token`);

    const verdict = verdictOf(await verifyImage(serveWithRealmHosts, policyRequest()));

    expect(verdict.codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(collector.requests).toEqual([]);
  });

  it('is not followed when it redirects: the redirect target receives nothing', async () => {
    const challenge = challengeTo(ownRealm());
    behaviour = (request, response) => {
      if (request.url?.startsWith('/token') === true) return respond(response, 302, SECRET, { location: collectorRealm() });
      challenge(request, response, trustServer.port);
    };

    const answer = await verifyImage(serveWithRealmHosts, policyRequest());

    expect(verdictOf(answer).codes).toEqual(['TRUST_SERVER_UNAVAILABLE']);
    expect(tokenRequests(trustServer)).toHaveLength(1);
    expect(collector.requests).toEqual([]);
    await expectNothingReflected(serveWithRealmHosts, answer);
  });

  it('reflects nothing of a token service answer that is not a token', async () => {
    const challenge = challengeTo(ownRealm());
    behaviour = (request, response) => {
      if (request.url?.startsWith('/token') === true) return respond(response, 200, `${SECRET}<html>${SECRET}</html>`);
      challenge(request, response, trustServer.port);
    };

    const answer = await verifyImage(serveDefault, policyRequest());

    expect(verdictOf(answer).codes).toEqual(['TRUST_SERVER_UNAVAILABLE']);
    await expectNothingReflected(serveDefault, answer);
  });
});

describe('metadata answers of an operator-configured trust server', () => {
  const policyRequest = (): unknown => ({ image: CONFIGURED_IMAGE, namespace: 'default' });

  it('are not followed when they redirect', async () => {
    behaviour = (_request, response) => respond(response, 301, SECRET, { location: `${collectorRealm()}/root.json` });

    const answer = await verifyImage(serveDefault, policyRequest());

    expect(verdictOf(answer).allowed).toBe(false);
    expect(collector.requests).toEqual([]);
    await expectNothingReflected(serveDefault, answer);
  });

  it.each([
    ['a page that is not JSON', `${SECRET}<html><body>${SECRET}</body></html>`],
    ['JSON with the secret where a field is expected', JSON.stringify({ signed: { _type: SECRET, version: SECRET }, signatures: SECRET })],
    // The first problem (the one a message names) is inside the key the secret names.
    ['a root naming a key by the secret', JSON.stringify({ signed: { _type: 'Root', version: 1, expires: '2030-01-01T00:00:00Z', keys: { [SECRET]: { keytype: 'ecdsa', keyval: { public: 5 } } } }, signatures: [] })],
  ])('reflect nothing of %s', async (_name, body) => {
    behaviour = (_request, response) => respond(response, 200, body);

    const answer = await verifyImage(serveDefault, policyRequest());

    expect(verdictOf(answer).allowed).toBe(false);
    await expectNothingReflected(serveDefault, answer);
  });
});

describe('the deployed verify-image bundles with TRUSTGATE_ALLOW_EXPLICIT_TRUST=true', () => {
  beforeAll(() => {
    ensureBuilt([bundlePath('verify-image', 'lambda'), bundlePath('verify-image', 'openwhisk')]);
  });

  const env = (): Record<string, string> => ({
    ...CREDENTIALS,
    TRUSTGATE_ALLOW_EXPLICIT_TRUST: 'true',
    TRUSTGATE_STATE_KEY: 'cd'.repeat(32),
    NODE_EXTRA_CA_CERTS: ca.caFile,
  });
  const request = (): unknown => ({ image: CALLER_IMAGE, trust: { server: trustServer.url, rootKeyIds: ['ab'.repeat(32)] } });

  function answerOf(run: BundleRun): Verdict {
    if ('loadError' in run) throw new Error(`bundle failed to load: ${run.loadError}`);
    const result = run.results[0];
    if (result === undefined || 'thrown' in result) throw new Error('the entry threw instead of answering');
    const value = result.value as { body?: unknown };
    return (typeof value.body === 'string' ? JSON.parse(value.body) : value.body ?? value) as Verdict;
  }

  it('Lambda never sends the credentials to a caller-named server\'s realm', async () => {
    const event = {
      version: '2.0',
      routeKey: 'POST /functions/verify-image',
      rawPath: '/functions/verify-image',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/functions/verify-image', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' }, stage: '$default' },
      body: JSON.stringify(request()),
      isBase64Encoded: false,
    };

    const verdict = answerOf(await runBundle('lambda', bundlePath('verify-image', 'lambda'), env(), [event]));

    expect(verdict.codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(trustServer.requests.length).toBeGreaterThan(0);
    expect(tokenRequests(trustServer)).toEqual([]);
  });

  it('OpenWhisk never sends the credentials to a caller-named server\'s realm', async () => {
    const verdict = answerOf(await runBundle('openwhisk', bundlePath('verify-image', 'openwhisk'), env(), [request()]));

    expect(verdict.codes).toEqual(['TRUST_AUTH_REALM_REFUSED']);
    expect(trustServer.requests.length).toBeGreaterThan(0);
    expect(tokenRequests(trustServer)).toEqual([]);
  });
});
