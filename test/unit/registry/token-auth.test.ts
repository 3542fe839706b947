import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodeFetch } from '../../../shared/http/node-fetch.js';
import type { Fetch, HttpRequest } from '../../../shared/ports.js';
import {
  createTokenAuth,
  parseBearerChallenge,
  type BearerChallenge,
  type ServerOrigin,
  type TokenProviderOptions,
} from '../../../shared/registry/token-auth.js';
import { findClosedPort, startLocalServer, type Handler, type LocalServer } from '../../support/local-http-server.js';
import { getTestCertificates, type TestCertificates } from '../../support/tls-certs.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const sampleHeaders = readFileSync(new URL('../../fixtures/registry/token-auth-401.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.toLowerCase().startsWith('www-authenticate:'))
  .map((line) => line.slice('www-authenticate:'.length).trim());

describe('parseBearerChallenge', () => {
  describe('with the real headers captured from distribution', () => {
    it('reads a challenge without scope', () => {
      expect(parseBearerChallenge(sampleHeaders[0] ?? '')).toEqual({
        realm: 'http://127.0.0.1:5002/token',
        service: 'example-registry',
      });
    });

    it('reads a challenge with scope', () => {
      expect(parseBearerChallenge(sampleHeaders[1] ?? '')).toEqual({
        realm: 'http://127.0.0.1:5002/token',
        service: 'example-registry',
        scope: 'repository:lab/hello:pull',
      });
    });

    it('keeps a comma inside a quoted scope and ignores the error parameter', () => {
      expect(parseBearerChallenge(sampleHeaders[2] ?? '')).toEqual({
        realm: 'http://127.0.0.1:5002/token',
        service: 'example-registry',
        scope: 'repository:lab/hello:pull,push',
      });
    });
  });

  describe('with well-formed variations', () => {
    it.each<[string, string, BearerChallenge]>([
      [
        'a scope naming host:port',
        'Bearer realm="https://auth.example/token",service="notary",scope="repository:127.0.0.1:5000/team/app:pull"',
        { realm: 'https://auth.example/token', service: 'notary', scope: 'repository:127.0.0.1:5000/team/app:pull' },
      ],
      ['a lower-case scheme', 'bearer realm="https://a/t"', { realm: 'https://a/t' }],
      ['an upper-case scheme and parameter names', 'BEARER REALM="https://a/t",Service="s"', { realm: 'https://a/t', service: 's' }],
      ['spaces around separators', 'Bearer  realm = "https://a/t" ,  service= "s"', { realm: 'https://a/t', service: 's' }],
      ['an unquoted token value', 'Bearer realm="https://a/t",service=registry.docker.io', { realm: 'https://a/t', service: 'registry.docker.io' }],
      ['an escaped quote', 'Bearer realm="https://a/t",service="a\\"b"', { realm: 'https://a/t', service: 'a"b' }],
      ['a preceding Basic challenge', 'Basic realm="basic", Bearer realm="https://a/t",service="s"', { realm: 'https://a/t', service: 's' }],
      ['a preceding token68 challenge', 'Negotiate dXNlcjpwYXNz==, Bearer realm="https://a/t"', { realm: 'https://a/t' }],
      ['a following challenge', 'Bearer realm="https://a/t", Basic realm="other"', { realm: 'https://a/t' }],
      ['empty list elements', ', Bearer realm="https://a/t",, service="s"', { realm: 'https://a/t', service: 's' }],
      ['an empty scope', 'Bearer realm="https://a/t",scope=""', { realm: 'https://a/t' }],
    ])('reads %s', (_name, header, expected) => {
      expect(parseBearerChallenge(header)).toEqual(expected);
    });
  });

  describe('with headers that carry no usable Bearer challenge', () => {
    it.each([
      ['an empty header', ''],
      ['only Basic', 'Basic realm="x"'],
      ['Bearer without realm', 'Bearer service="s",scope="x"'],
      ['an empty realm', 'Bearer realm=""'],
      ['an unterminated quote', 'Bearer realm="https://a/t'],
      ['a repeated realm', 'Bearer realm="https://a/t",realm="https://evil/t"'],
      ['a missing comma between parameters', 'Bearer realm="https://a/t" service="s"'],
      ['a parameter without value', 'Bearer realm=,service="s"'],
      ['garbage', '@@@ ###'],
    ])('returns undefined for %s', (_name, header) => {
      expect(parseBearerChallenge(header)).toBeUndefined();
    });
  });

  describe('for any input', () => {
    it('returns a challenge or undefined and never throws', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (header) => {
          const result = parseBearerChallenge(header);
          expect(result === undefined || typeof result.realm === 'string').toBe(true);
        }),
      );
    });

    it('reads back any quoted values it was given', () => {
      const quote = (value: string): string => `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
      const value = fc.string({ minLength: 1, maxLength: 60 });
      fc.assert(
        fc.property(value, value, value, (realm, service, scope) => {
          const header = `Bearer realm=${quote(realm)},service=${quote(service)},scope=${quote(scope)}`;
          expect(parseBearerChallenge(header)).toEqual({ realm, service, scope });
        }),
      );
    });
  });
});

describe('createTokenAuth', () => {
  const servers: LocalServer[] = [];
  let fetch: Fetch;
  let certificates: TestCertificates;
  let clock = 1_000_000;
  const now = (): number => clock;
  // The trust server whose challenges these tests answer: the realms are on its host.
  const SERVER = 'https://127.0.0.1:4443';

  beforeAll(async () => {
    certificates = await getTestCertificates();
    fetch = createNodeFetch({ ca: certificates.caPem });
  });

  afterEach(async () => {
    clock = 1_000_000;
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function serveTokens(handler: Handler, tls = false): Promise<LocalServer> {
    const server = await startLocalServer(handler, tls ? certificates : undefined);
    servers.push(server);
    return server;
  }

  const answer =
    (status: number, body: string): Handler =>
    (_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    };

  // Each token request gets a distinct token, so a test can tell a cached token from a new one.
  const countingTokens = (extra: Record<string, unknown> = {}): Handler => {
    let issued = 0;
    return (_req, res) => {
      issued += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: `token-${issued}`, ...extra }));
    };
  };

  const provider = (overrides: Partial<TokenProviderOptions> = {}, server = SERVER, origin: ServerOrigin = 'operator') =>
    createTokenAuth({ fetch, timeoutMs: 2000, now, ...overrides }).forServer(server, origin);

  describe('when the realm answers with a token', () => {
    it('sends service and scope in the query and Basic credentials to an https realm on the server\'s host', async () => {
      const server = await serveTokens(countingTokens({ expires_in: 300 }), true);
      const tokens = provider({ credentials: { username: 'alice', password: 'p@ss:word' } }, server.url);
      const token = await tokens.getToken({
        realm: `${server.url}/token`,
        service: 'notary-server',
        scope: 'repository:127.0.0.1:5000/team/app:pull',
      });
      expect(token).toBe('token-1');
      const request = server.requests[0];
      const query = new URL(request?.url ?? '', server.url).searchParams;
      expect(new URL(request?.url ?? '', server.url).pathname).toBe('/token');
      expect(query.get('service')).toBe('notary-server');
      expect(query.getAll('scope')).toEqual(['repository:127.0.0.1:5000/team/app:pull']);
      expect(request?.headers.authorization).toBe(`Basic ${Buffer.from('alice:p@ss:word').toString('base64')}`);
    });

    it('sends no Authorization header without credentials', async () => {
      const server = await serveTokens(countingTokens());
      await provider().getToken({ realm: `${server.url}/token`, service: 's' });
      expect(server.requests[0]?.headers.authorization).toBeUndefined();
    });

    it('sends each of several space-separated scopes and keeps the realm query', async () => {
      const server = await serveTokens(countingTokens());
      await provider().getToken({ realm: `${server.url}/token?account=x`, scope: 'repository:a:pull repository:b:pull' });
      const query = new URL(server.requests[0]?.url ?? '', server.url).searchParams;
      expect(query.get('account')).toBe('x');
      expect(query.getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull']);
    });

    it('reads access_token when token is absent', async () => {
      const server = await serveTokens(answer(200, '{"access_token":"oauth-style"}'));
      expect(await provider().getToken({ realm: `${server.url}/token` })).toBe('oauth-style');
    });

    it('sends credentials to an https realm at a host and port of the allow-list', async () => {
      const server = await serveTokens(countingTokens(), true);
      const tokens = provider({ credentials: { username: 'alice', password: 'secret' }, realmHosts: [`localhost:${server.port}`] }, 'https://notary.example.com');
      expect(await tokens.getToken({ realm: `https://localhost:${server.port}/token` })).toBe('token-1');
      expect(server.requests[0]?.headers.authorization).toMatch(/^Basic /);
    });
  });

  describe('when the same challenge comes again', () => {
    it('serves the cached token without a second request', async () => {
      const server = await serveTokens(countingTokens({ expires_in: 300 }));
      const tokens = provider();
      const challenge = { realm: `${server.url}/token`, service: 's', scope: 'repository:x:pull' };
      expect(await tokens.getToken(challenge)).toBe('token-1');
      clock += 250_000;
      expect(await tokens.getToken({ ...challenge })).toBe('token-1');
      expect(server.requests).toHaveLength(1);
    });

    it('shares one request between concurrent callers', async () => {
      const server = await serveTokens(countingTokens());
      const tokens = provider();
      const challenge = { realm: `${server.url}/token` };
      const results = await Promise.all([tokens.getToken(challenge), tokens.getToken(challenge), tokens.getToken(challenge)]);
      expect(results).toEqual(['token-1', 'token-1', 'token-1']);
      expect(server.requests).toHaveLength(1);
    });

    it('asks again once expires_in minus the margin has passed', async () => {
      const server = await serveTokens(countingTokens({ expires_in: 300 }));
      const tokens = provider();
      const challenge = { realm: `${server.url}/token` };
      await tokens.getToken(challenge);
      clock += 295_000;
      expect(await tokens.getToken(challenge)).toBe('token-2');
    });

    it('keeps a token without expires_in for 60 s minus the margin', async () => {
      const server = await serveTokens(countingTokens());
      const tokens = provider();
      const challenge = { realm: `${server.url}/token` };
      await tokens.getToken(challenge);
      clock += 49_000;
      expect(await tokens.getToken(challenge)).toBe('token-1');
      clock += 2_000;
      expect(await tokens.getToken(challenge)).toBe('token-2');
    });

    it('asks again after the token was invalidated', async () => {
      const server = await serveTokens(countingTokens({ expires_in: 300 }));
      const tokens = provider();
      const challenge = { realm: `${server.url}/token` };
      await tokens.getToken(challenge);
      tokens.invalidate(challenge);
      expect(await tokens.getToken(challenge)).toBe('token-2');
    });
  });

  describe('when another scope is asked for', () => {
    it('requests a separate token', async () => {
      const server = await serveTokens(countingTokens({ expires_in: 300 }));
      const tokens = provider();
      await tokens.getToken({ realm: `${server.url}/token`, scope: 'repository:a:pull' });
      expect(await tokens.getToken({ realm: `${server.url}/token`, scope: 'repository:b:pull' })).toBe('token-2');
    });
  });

  describe('when the token document holds a __proto__ key', () => {
    it('reads the token and leaves every prototype alone', async () => {
      const server = await serveTokens(answer(200, '{"token":"t","__proto__":{"admin":true}}'));
      expect(await provider().getToken({ realm: `${server.url}/token` })).toBe('t');
      expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
    });
  });

  describe('when the token service fails', () => {
    it.each<[string, Handler]>([
      ['refuses the credentials', answer(401, '{"errors":[{"code":"UNAUTHORIZED"}]}')],
      ['fails', answer(500, 'oops')],
      ['answers something other than JSON', answer(200, '<html>')],
      ['answers a JSON array', answer(200, '["token"]')],
      ['answers without a token', answer(200, '{"expires_in":60}')],
      ['answers an empty token', answer(200, '{"token":""}')],
      ['answers a token that would inject a header', answer(200, '{"token":"abc\\r\\nX-Evil: 1"}')],
      ['answers more than the size cap', answer(200, JSON.stringify({ token: 'x'.repeat(2048) }))],
      ['redirects elsewhere', (_req, res) => {
        res.writeHead(302, { location: 'https://127.0.0.1:1/elsewhere' });
        res.end('moved');
      }],
    ])('rejects with TRUST_SERVER_UNAVAILABLE when it %s, without the password or its body', async (_name, handler) => {
      const server = await serveTokens(handler, true);
      const tokens = provider({ credentials: { username: 'alice', password: 'hunter2' }, maxBytes: 1024 }, server.url);
      const error = await rejectionOf(tokens.getToken({ realm: `${server.url}/token` }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(error.message).not.toContain('hunter2');
      for (const fragment of ['oops', 'html', 'UNAUTHORIZED', 'moved', 'elsewhere']) expect(error.message).not.toContain(fragment);
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE when it is unreachable', async () => {
      const port = await findClosedPort();
      const error = await rejectionOf(provider({}, 'http://127.0.0.1:4443').getToken({ realm: `http://127.0.0.1:${port}/token` }));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });

    it('does not cache the failure', async () => {
      let calls = 0;
      const server = await serveTokens((_req, res) => {
        calls += 1;
        res.writeHead(calls === 1 ? 503 : 200);
        res.end(calls === 1 ? '' : '{"token":"second"}');
      });
      const tokens = provider();
      const challenge = { realm: `${server.url}/token` };
      await rejectionOf(tokens.getToken(challenge));
      expect(await tokens.getToken(challenge)).toBe('second');
    });
  });

  describe('when the realm is not one credentials may be sent to', () => {
    // A recording Fetch: these cases must be decided before any request is made.
    const recordingFetch = (): { fetch: Fetch; calls: HttpRequest[] } => {
      const calls: HttpRequest[] = [];
      return {
        calls,
        fetch: (request) => {
          calls.push(request);
          return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode('{"token":"t"}') });
        },
      };
    };

    const credentials = { username: 'u', password: 'hunter2' };
    const auth = (fetchPort: Fetch, extra: Partial<TokenProviderOptions> = {}) => createTokenAuth({ fetch: fetchPort, timeoutMs: 1000, now, ...extra });

    it.each<[string, string, string]>([
      ['an http realm on a network host', 'https://notary.example.com', 'http://notary.example.com/token'],
      ['an http realm on loopback for a server that is not', 'https://notary.example.com', 'http://127.0.0.1:5001/token'],
      ['an https realm on another host', 'https://notary.example.com', 'https://collector.example.net/token'],
      ['an https realm on a subdomain of the server', 'https://example.com', 'https://auth.example.com/token'],
      ['an http realm on the loopback server itself', 'http://127.0.0.1:4443', 'http://127.0.0.1:4443/token'],
    ])('refuses %s with the credentials, sending nothing', async (_name, server, realm) => {
      const recorder = recordingFetch();
      const error = await rejectionOf(auth(recorder.fetch, { credentials }).forServer(server, 'operator').getToken({ realm }));
      expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
      expect(error.message).not.toContain('hunter2');
      expect(recorder.calls).toHaveLength(0);
    });

    it('refuses any realm of a server the caller chose, even on its own host, sending nothing', async () => {
      const recorder = recordingFetch();
      const tokens = auth(recorder.fetch, { credentials, realmHosts: ['notary.example.com'] }).forServer('https://notary.example.com', 'caller');
      const error = await rejectionOf(tokens.getToken({ realm: 'https://notary.example.com/token' }));
      expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
      expect(recorder.calls).toHaveLength(0);
    });

    it('refuses an http realm on a network host even without credentials', async () => {
      const recorder = recordingFetch();
      const error = await rejectionOf(auth(recorder.fetch).forServer('https://notary.example.com', 'operator').getToken({ realm: 'http://auth.example.com/token' }));
      expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
      expect(recorder.calls).toHaveLength(0);
    });

    it('asks an https realm on another host anonymously when no credentials are configured', async () => {
      const recorder = recordingFetch();
      expect(await auth(recorder.fetch).forServer('https://notary.docker.io', 'caller').getToken({ realm: 'https://auth.docker.io/token' })).toBe('t');
      expect(recorder.calls[0]?.headers?.['authorization']).toBeUndefined();
    });

    it('allows an http realm on loopback for a loopback server without credentials', async () => {
      const recorder = recordingFetch();
      expect(await auth(recorder.fetch).forServer('http://127.0.0.1:4443', 'operator').getToken({ realm: 'http://127.0.0.1:5001/token' })).toBe('t');
    });

    it('never hands a token fetched with the credentials to a request that may not use them', async () => {
      const recorder = recordingFetch();
      const shared = auth(recorder.fetch, { credentials });
      const challenge = { realm: 'https://notary.example.com/token', scope: 'repository:private:pull' };
      await shared.forServer('https://notary.example.com', 'operator').getToken(challenge);
      const error = await rejectionOf(shared.forServer('https://notary.example.com', 'caller').getToken(challenge));
      expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
      expect(recorder.calls).toHaveLength(1);
    });

    it.each(['file:///etc/passwd', 'not a url', 'https://user:pw@auth.example.com/token'])(
      'refuses the realm %s',
      async (realm) => {
        const recorder = recordingFetch();
        const error = await rejectionOf(auth(recorder.fetch).forServer(SERVER, 'operator').getToken({ realm }));
        expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
        expect(recorder.calls).toHaveLength(0);
      },
    );
  });
});
