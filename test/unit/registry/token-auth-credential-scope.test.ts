// Where the token client may send credentials: the operator's trust-server credentials only
// to servers the operator chose, a token only to the server it was fetched for, and any
// credential only to a realm at its server's own host and port (or one the operator lists).
// Docker Hub's token service serves both its registry and its Notary server.
import { describe, expect, it } from 'vitest';
import type { MatchedCredential } from '../../../shared/registry/credential-keyring.js';
import type { Fetch, HttpRequest } from '../../../shared/ports.js';
import { createTokenAuth, type TokenProviderOptions } from '../../../shared/registry/token-auth.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const OPERATOR = { username: 'corp-notary-user', password: 'corp-notary-pw' };
const basicOf = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// A token service stand-in behind the Fetch port: records every request and answers a
// distinct token each time, so a test can tell a cached token from a new one.
function tokenService(): { fetch: Fetch; calls: HttpRequest[] } {
  const calls: HttpRequest[] = [];
  return {
    calls,
    fetch: (request) => {
      calls.push(request);
      return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode(JSON.stringify({ token: `token-${calls.length}`, expires_in: 300 })) });
    },
  };
}

const auth = (fetch: Fetch, extra: Partial<TokenProviderOptions> = {}) => createTokenAuth({ fetch, timeoutMs: 1000, now: () => 1_000_000, ...extra });
const hub = (username: string, password: string): MatchedCredential => ({ key: 'https://index.docker.io/v1/', source: 'Secret team/hub', credential: { username, password } });
const registryCredential = (key: string): MatchedCredential => ({ key, source: 'Secret team/reg', credential: { username: 'alice', password: 'pw-a' } });

describe("the operator's trust-server credentials", () => {
  const quayChallenge = { realm: 'https://quay.io/v2/auth', service: 'quay.io', scope: 'repository:quay.io/attacker/x:pull' };

  it("never reach a registry's well-known default server: its realm is asked anonymously", async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR }).forServer('https://quay.io', 'default').getToken(quayChallenge);
    expect(service.calls).toHaveLength(1);
    expect(service.calls[0]?.headers?.['authorization']).toBeUndefined();
  });

  it('reach a default server the operator lists by origin', async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR, credentialServers: ['https://quay.io'] }).forServer('https://quay.io', 'default').getToken(quayChallenge);
    expect(service.calls[0]?.headers?.['authorization']).toBe(basicOf(OPERATOR.username, OPERATOR.password));
  });

  it('still reach the same server when the operator names it', async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR }).forServer('https://quay.io', 'operator').getToken(quayChallenge);
    expect(service.calls[0]?.headers?.['authorization']).toBe(basicOf(OPERATOR.username, OPERATOR.password));
  });

  it('never serve the anonymous request of a default server with a token fetched for the operator', async () => {
    const service = tokenService();
    const tokens = auth(service.fetch, { credentials: OPERATOR });
    const named = await tokens.forServer('https://quay.io', 'operator').getToken(quayChallenge);
    const fallback = await tokens.forServer('https://quay.io', 'default').getToken(quayChallenge);
    expect(fallback).not.toBe(named);
    expect(service.calls.map((call) => call.headers?.['authorization'])).toEqual([basicOf(OPERATOR.username, OPERATOR.password), undefined]);
  });
});

describe('a cached token', () => {
  it('is never handed to another server naming the same realm, service and scope', async () => {
    const service = tokenService();
    const tokens = auth(service.fetch, { credentials: OPERATOR, realmHosts: ['auth.corp.example'] });
    const challenge = { realm: 'https://auth.corp.example/token', service: 'notary', scope: 'repository:corp/secret:pull' };
    const first = await tokens.forServer('https://notary.corp.example', 'operator').getToken(challenge);
    const second = await tokens.forServer('https://notary2.corp.example', 'operator').getToken(challenge);
    expect(second).not.toBe(first);
    expect(service.calls).toHaveLength(2);
    expect(await tokens.forServer('https://notary.corp.example', 'operator').getToken(challenge)).toBe(first);
  });

  it("is never handed to another registry for the same workload credential", async () => {
    const service = tokenService();
    const tokens = auth(service.fetch, { realmHosts: ['auth.example.net'] });
    const challenge = { realm: 'https://auth.example.net/token', service: 'reg', scope: 'repository:team/app:pull' };
    const first = await tokens.forRegistry('https://a.example.com', [registryCredential('a.example.com')]).getToken(challenge);
    const second = await tokens.forRegistry('https://b.example.com', [registryCredential('b.example.com')]).getToken(challenge);
    expect(second).not.toBe(first);
  });
});

describe('a token realm on another port of the server host', () => {
  it("never receives a workload's pull-secret credential", async () => {
    const service = tokenService();
    const tokens = auth(service.fetch).forRegistry('https://reg.example.com:5000', [registryCredential('reg.example.com:5000')]);
    const error = await rejectionOf(tokens.getToken({ realm: 'https://reg.example.com:8443/collect' }));
    expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
    expect(service.calls).toEqual([]);
  });

  it("never receives the operator's credentials", async () => {
    const service = tokenService();
    const error = await rejectionOf(auth(service.fetch, { credentials: OPERATOR }).forServer('https://notary.example.com', 'operator').getToken({ realm: 'https://notary.example.com:8443/token' }));
    expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
    expect(service.calls).toEqual([]);
  });

  it('receives them once the operator lists that host and port', async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR, realmHosts: ['notary.example.com:8443'] }).forServer('https://notary.example.com', 'operator').getToken({ realm: 'https://notary.example.com:8443/token' });
    await auth(service.fetch, { realmHosts: ['reg.example.com:8443'] }).forRegistry('https://reg.example.com:5000', [registryCredential('reg.example.com:5000')]).getToken({ realm: 'https://reg.example.com:8443/token' });
    expect(service.calls.map((call) => call.headers?.['authorization'])).toEqual([basicOf(OPERATOR.username, OPERATOR.password), basicOf('alice', 'pw-a')]);
  });

  it('is not covered by a host-only allow-list entry, which means port 443', async () => {
    const service = tokenService();
    const tokens = auth(service.fetch, { credentials: OPERATOR, realmHosts: ['auth.example.net'] }).forServer('https://notary.example.com', 'operator');
    await tokens.getToken({ realm: 'https://auth.example.net/token' });
    await tokens.getToken({ realm: 'https://auth.example.net:443/token', scope: 'other' });
    const error = await rejectionOf(tokens.getToken({ realm: 'https://auth.example.net:8443/token' }));
    expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
    expect(service.calls).toHaveLength(2);
  });

  it('is the same realm when the server is on 443 and only one spells the port', async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR }).forServer('https://quay.io:443', 'operator').getToken({ realm: 'https://quay.io/v2/auth' });
    await auth(service.fetch).forRegistry('https://ghcr.io', [registryCredential('ghcr.io')]).getToken({ realm: 'https://ghcr.io:443/token' });
    expect(service.calls).toHaveLength(2);
  });
});

describe("Docker Hub's token service", () => {
  const dctChallenge = { realm: 'https://auth.docker.io/token', service: 'notary.docker.io', scope: 'repository:docker.io/library/nginx:pull' };

  it("receives a workload's Hub credentials for Docker Hub's Notary server, as for its registry", async () => {
    const service = tokenService();
    const tokens = auth(service.fetch);
    await tokens.forServer('https://notary.docker.io', 'default', [hub('alice', 'pw')]).getToken(dctChallenge);
    await tokens.forRegistry('https://registry-1.docker.io', [hub('alice', 'pw')]).getToken({ realm: 'https://auth.docker.io/token', service: 'registry.docker.io' });
    expect(service.calls.map((call) => call.headers?.['authorization'])).toEqual([basicOf('alice', 'pw'), basicOf('alice', 'pw')]);
  });

  it('receives nothing on another port, nor for another server', async () => {
    const service = tokenService();
    const tokens = auth(service.fetch);
    const otherPort = await rejectionOf(tokens.forServer('https://notary.docker.io', 'default', [hub('alice', 'pw')]).getToken({ ...dctChallenge, realm: 'https://auth.docker.io:8443/token' }));
    const otherServer = await rejectionOf(tokens.forServer('https://notary.example.com', 'operator', [hub('alice', 'pw')]).getToken(dctChallenge));
    expect([otherPort.code, otherServer.code]).toEqual(['TRUST_AUTH_REALM_REFUSED', 'TRUST_AUTH_REALM_REFUSED']);
    expect(service.calls).toEqual([]);
  });

  it("never receives the operator's credentials for notary.docker.io unless listed", async () => {
    const service = tokenService();
    await auth(service.fetch, { credentials: OPERATOR }).forServer('https://notary.docker.io', 'default').getToken(dctChallenge);
    expect(service.calls[0]?.headers?.['authorization']).toBeUndefined();
  });
});
