import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodeFetch } from '../../../../shared/http/node-fetch.js';
import type { Fetch } from '../../../../shared/ports.js';
import { createTokenAuth, type TokenProvider } from '../../../../shared/registry/token-auth.js';
import { createNotaryHttpSource } from '../../../../shared/trust/notary/http-source.js';
import { startLocalServer, type Handler, type LocalServer } from '../../../support/local-http-server.js';
import { getTestCertificates } from '../../../support/tls-certs.js';
import { rejectionOf } from '../../../support/trustgate-errors.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../fixtures/notary/${name}`, import.meta.url));
const ROOT = fixture('root.json');
const NOT_FOUND = fixture('404.json');
const GUN = '127.0.0.1:5000/team/app';
const PREFIX = `/v2/${GUN}/_trust/tuf`;
const SHA = '88e31e7b8ada16667a13bbd08062d5f0c7fad1aebb3fd12ef5ed816ef49bba9f';
const MAX = 1024 * 1024;

const fetch = createNodeFetch();
const servers: LocalServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(handler: Handler, tls?: { readonly certPem: string; readonly keyPem: string }): Promise<LocalServer> {
  const server = await startLocalServer(handler, tls);
  servers.push(server);
  return server;
}

// Serves ROOT for every path it knows and Notary's 404 document for the rest.
const serveFiles =
  (paths: readonly string[]): Handler =>
  (req, res) => {
    const known = paths.includes(req.url ?? '');
    res.writeHead(known ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(known ? ROOT : NOT_FOUND);
  };

describe('createNotaryHttpSource', () => {
  describe('for a GUN with host:port and a nested path', () => {
    it('fetches the latest, by-checksum and by-version URLs, keeping "/" and ":"', async () => {
      const server = await serve(
        serveFiles([`${PREFIX}/root.json`, `${PREFIX}/targets/releases.${SHA}.json`, `${PREFIX}/3.targets/releases.json`]),
      );
      const source = createNotaryHttpSource({ serverUrl: `${server.url}/`, gun: GUN, fetch });
      const latest = await source.fetchMetadata('root', { kind: 'latest' }, MAX);
      const byChecksum = await source.fetchMetadata('targets/releases', { kind: 'checksum', sha256Hex: SHA }, MAX);
      const byVersion = await source.fetchMetadata('targets/releases', { kind: 'version', version: 3 }, MAX);
      expect(server.requests.map((request) => request.url)).toEqual([
        `${PREFIX}/root.json`,
        `${PREFIX}/targets/releases.${SHA}.json`,
        `${PREFIX}/3.targets/releases.json`,
      ]);
      for (const body of [latest, byChecksum, byVersion]) expect(Buffer.from(body ?? [])).toEqual(ROOT);
    });

    it('keeps a path prefix of the server URL', async () => {
      const server = await serve(serveFiles([`/notary${PREFIX}/timestamp.json`]));
      const source = createNotaryHttpSource({ serverUrl: `${server.url}/notary//`, gun: GUN, fetch });
      expect(await source.fetchMetadata('timestamp', { kind: 'latest' }, MAX)).toBeDefined();
    });
  });

  describe('when a GUN segment holds URL syntax', () => {
    it('percent-encodes it so it stays one path segment', async () => {
      const server = await serve(serveFiles([]));
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: 'registry:5000/a?b#c d%/app', fetch });
      await source.fetchMetadata('root', { kind: 'latest' }, MAX);
      expect(server.requests[0]?.url).toBe('/v2/registry:5000/a%3Fb%23c%20d%25/app/_trust/tuf/root.json');
    });
  });

  describe('when the server answers 404', () => {
    it('resolves undefined', async () => {
      const server = await serve(serveFiles([]));
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
      expect(await source.fetchMetadata('root', { kind: 'version', version: 1 }, MAX)).toBeUndefined();
    });
  });

  describe('when the server answers an error or unexpected status', () => {
    it.each([500, 503, 302, 400])('rejects %i with TRUST_SERVER_UNAVAILABLE', async (status) => {
      const server = await serve((_req, res) => {
        res.writeHead(status, { Location: '/elsewhere' });
        res.end();
      });
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
      const error = await rejectionOf(source.fetchMetadata('snapshot', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(error.message).toContain(String(status));
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('when the body is larger than maxBytes', () => {
    it('rejects with TRUST_METADATA_TOO_LARGE', async () => {
      const server = await serve(serveFiles([`${PREFIX}/root.json`]));
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, ROOT.length - 1));
      expect(error.code).toBe('TRUST_METADATA_TOO_LARGE');
    });
  });

  describe('when the server does not answer within timeoutMs', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE', async () => {
      const server = await serve(() => undefined);
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, timeoutMs: 150 });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when inputs would change the request path', () => {
    it.each(['targets/../../other/app/_trust/tuf/root', 'targets/./x', 'targets/', 'delegation', 'targets/a b', 'root/..'])(
      'rejects the role %s with TRUST_METADATA_INVALID before any request',
      async (role) => {
        const server = await serve(serveFiles([]));
        const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
        const error = await rejectionOf(source.fetchMetadata(role, { kind: 'latest' }, MAX));
        expect(error.code).toBe('TRUST_METADATA_INVALID');
        expect(server.requests).toHaveLength(0);
      },
    );

    it.each([
      ['an upper-case checksum', { kind: 'checksum', sha256Hex: SHA.toUpperCase() }],
      ['a short checksum', { kind: 'checksum', sha256Hex: 'abc' }],
      ['a checksum with a path', { kind: 'checksum', sha256Hex: `../${SHA.slice(3)}` }],
      ['version 0', { kind: 'version', version: 0 }],
      ['a fractional version', { kind: 'version', version: 1.5 }],
    ] as const)('rejects %s with TRUST_METADATA_INVALID', async (_name, selector) => {
      const server = await serve(serveFiles([]));
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
      const error = await rejectionOf(source.fetchMetadata('targets', selector, MAX));
      expect(error.code).toBe('TRUST_METADATA_INVALID');
      expect(server.requests).toHaveLength(0);
    });

    it.each(['', 'team//app', '../app', 'team/./app', 'team/app/'])('rejects the GUN "%s" with CONFIG_INVALID', (gun) => {
      expect(() => createNotaryHttpSource({ serverUrl: 'https://notary.example', gun, fetch })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    });

    it.each(['ftp://notary.example', 'notary.example', 'https://u:p@notary.example', 'https://notary.example/?x=1'])(
      'rejects the server URL %s with CONFIG_INVALID',
      (serverUrl) => {
        expect(() => createNotaryHttpSource({ serverUrl, gun: GUN, fetch })).toThrow(
          expect.objectContaining({ code: 'CONFIG_INVALID' }),
        );
      },
    );
  });

  describe('when the server asks for a token', () => {
    // Credentials only go over https: the server and its token service serve TLS here.
    let tls: { readonly certPem: string; readonly keyPem: string };
    let fetch: Fetch;
    beforeAll(async () => {
      const certificates = await getTestCertificates();
      tls = certificates;
      fetch = createNodeFetch({ ca: certificates.caPem });
    });

    // A notary-server behind token auth and its token service on one local server:
    // /token issues "token-N"; metadata needs a Bearer token that is in `accepted`.
    async function serveWithTokenAuth(accepted: (token: string) => boolean = () => true) {
      let issued = 0;
      const server = await serve((req, res) => {
        const url = new URL(req.url ?? '', 'http://x');
        if (url.pathname === '/token') {
          issued += 1;
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ token: `token-${issued}`, expires_in: 300 }));
          return;
        }
        const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (presented === undefined || !accepted(presented)) {
          res.writeHead(401, {
            'Www-Authenticate': `Bearer realm="https://127.0.0.1:${server.port}/token",service="notary-server",scope="repository:${GUN}:pull"`,
          });
          res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        res.writeHead(200);
        res.end(ROOT);
      }, tls);
      const clock = { now: 0 };
      const tokens = createTokenAuth({
        fetch,
        credentials: { username: 'alice', password: 'secret' },
        timeoutMs: 2000,
        now: () => clock.now,
      }).forServer(server.url, 'operator');
      return { server, tokens, clock };
    }

    const paths = (server: LocalServer): string[] => server.requests.map((request) => new URL(request.url, server.url).pathname);

    it('gets a token with the challenge and retries once with it', async () => {
      const { server, tokens } = await serveWithTokenAuth();
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      const body = await source.fetchMetadata('root', { kind: 'latest' }, MAX);
      expect(Buffer.from(body ?? [])).toEqual(ROOT);
      expect(paths(server)).toEqual([`${PREFIX}/root.json`, '/token', `${PREFIX}/root.json`]);
      const tokenRequest = server.requests[1];
      const query = new URL(tokenRequest?.url ?? '', server.url).searchParams;
      expect(query.get('service')).toBe('notary-server');
      expect(query.get('scope')).toBe(`repository:${GUN}:pull`);
      expect(tokenRequest?.headers.authorization).toBe(`Basic ${Buffer.from('alice:secret').toString('base64')}`);
      expect(server.requests[2]?.headers.authorization).toBe('Bearer token-1');
    });

    it('reuses the cached token for the next fetch without another token request or 401', async () => {
      const { server, tokens } = await serveWithTokenAuth();
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      await source.fetchMetadata('root', { kind: 'latest' }, MAX);
      await source.fetchMetadata('timestamp', { kind: 'latest' }, MAX);
      expect(paths(server)).toEqual([`${PREFIX}/root.json`, '/token', `${PREFIX}/root.json`, `${PREFIX}/timestamp.json`]);
      expect(server.requests[3]?.headers.authorization).toBe('Bearer token-1');
    });

    it('shares the token with another source for the same repository', async () => {
      const { server, tokens } = await serveWithTokenAuth();
      await createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens }).fetchMetadata('root', { kind: 'latest' }, MAX);
      await createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens }).fetchMetadata('targets', { kind: 'latest' }, MAX);
      expect(paths(server).filter((path) => path === '/token')).toHaveLength(1);
    });

    it('replaces a cached token the server no longer accepts', async () => {
      let revoked = false;
      const { server, tokens } = await serveWithTokenAuth((token) => !(revoked && token === 'token-1'));
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      await source.fetchMetadata('root', { kind: 'latest' }, MAX);
      revoked = true;
      expect(await source.fetchMetadata('root', { kind: 'latest' }, MAX)).toBeDefined();
      expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer token-2');
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE when the retried request is refused again', async () => {
      const { server, tokens } = await serveWithTokenAuth(() => false);
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(error.message).not.toContain('token-');
      expect(paths(server)).toEqual([`${PREFIX}/root.json`, '/token', `${PREFIX}/root.json`]);
    });

    it('asks the server again when the challenge it remembered names a realm it may not use', async () => {
      let realm = 'https://collector.example.net/token';
      const server = await serve((req, res) => {
        if (req.url?.startsWith('/token') === true) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"token":"fresh"}');
          return;
        }
        if (req.headers.authorization !== 'Bearer fresh') {
          res.writeHead(401, { 'Www-Authenticate': `Bearer realm="${realm}",service="s"` });
          res.end();
          return;
        }
        res.writeHead(200);
        res.end(ROOT);
      }, tls);
      const tokens = createTokenAuth({ fetch, credentials: { username: 'alice', password: 'secret' }, timeoutMs: 2000, now: () => 0 }).forServer(server.url, 'operator');
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      expect((await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX))).code).toBe('TRUST_AUTH_REALM_REFUSED');
      realm = `${server.url}/token`;
      expect(await source.fetchMetadata('root', { kind: 'latest' }, MAX)).toBeDefined();
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE when no token provider is configured', async () => {
      const { server } = await serveWithTokenAuth();
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(server.requests).toHaveLength(1);
    });

    it('rejects with TRUST_SERVER_UNAVAILABLE when the token service fails', async () => {
      const server = await serve((req, res) => {
        if (req.url?.startsWith('/token') === true) {
          res.writeHead(500);
          res.end();
          return;
        }
        res.writeHead(401, { 'Www-Authenticate': `Bearer realm="https://127.0.0.1:${server.port}/token",service="s"` });
        res.end();
      }, tls);
      const tokens: TokenProvider = createTokenAuth({ fetch, timeoutMs: 2000, now: () => 0 }).forServer(server.url, 'operator');
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when the server refuses with 403', () => {
    it('rejects with TRUST_SERVER_UNAVAILABLE without asking for a token', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(403);
        res.end();
      });
      const tokens = createTokenAuth({ fetch, timeoutMs: 2000, now: () => 0 }).forServer(server.url, 'operator');
      const source = createNotaryHttpSource({ serverUrl: server.url, gun: GUN, fetch, tokens });
      const error = await rejectionOf(source.fetchMetadata('root', { kind: 'latest' }, MAX));
      expect(error.code).toBe('TRUST_SERVER_UNAVAILABLE');
      expect(server.requests).toHaveLength(1);
    });
  });
});
