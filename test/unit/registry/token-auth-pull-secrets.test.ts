// The token client with a workload's pull-secret credentials: where they may go, how the
// token service's refusal is reported, and that a token is only ever reused for the very
// credential it was fetched with.
import { describe, expect, it } from 'vitest';
import type { MatchedCredential } from '../../../shared/registry/credential-keyring.js';
import type { Fetch, HttpRequest } from '../../../shared/ports.js';
import { createTokenAuth, type TokenProviderOptions } from '../../../shared/registry/token-auth.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const REGISTRY = 'https://registry.example.com';
const REALM = 'https://registry.example.com/token';

function matched(username: string, password: string, source = `Secret team/${username}`): MatchedCredential {
  return { key: 'registry.example.com', source, credential: { username, password } };
}

// A token service stand-in behind the Fetch port (these cases are about what is sent where,
// decided before any network): it accepts `accepted` users and answers a distinct token each time.
function tokenService(accepted: Readonly<Record<string, string>> = {}): { fetch: Fetch; calls: HttpRequest[] } {
  const calls: HttpRequest[] = [];
  let issued = 0;
  return {
    calls,
    fetch: (request) => {
      calls.push(request);
      const basic = /^Basic (.+)$/.exec(request.headers?.['authorization'] ?? '')?.[1];
      const [user, password] = basic === undefined ? [] : Buffer.from(basic, 'base64').toString('utf8').split(':');
      const ok = basic === undefined || (user !== undefined && accepted[user] === password);
      issued += 1;
      const body = ok ? JSON.stringify({ token: `token-${issued}`, expires_in: 300 }) : '{"errors":[{"code":"UNAUTHORIZED"}]}';
      return Promise.resolve({ status: ok ? 200 : 401, header: () => undefined, body: new TextEncoder().encode(body) });
    },
  };
}

const auth = (fetch: Fetch, extra: Partial<TokenProviderOptions> = {}) => createTokenAuth({ fetch, timeoutMs: 1000, now: () => 1_000_000, ...extra });
const basicOf = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the token client with pull-secret credentials', () => {
  it("sends the credential as Basic to the registry's own https realm", async () => {
    const service = tokenService({ alice: 'pw-a' });
    const token = await auth(service.fetch).forRegistry(REGISTRY, [matched('alice', 'pw-a')]).getToken({ realm: REALM, service: 'reg', scope: 'repository:team/app:pull' });
    expect(token).toBe('token-1');
    expect(service.calls[0]?.headers?.['authorization']).toBe(basicOf('alice', 'pw-a'));
  });

  it.each<[string, string, readonly string[]]>([
    ['an https realm on another host', 'https://collector.example.net/token', []],
    ['an http realm', 'http://registry.example.com/token', []],
    ['an http realm on loopback', 'http://127.0.0.1:5001/token', []],
    ['a subdomain of the registry', 'https://auth.registry.example.com/token', []],
  ])('refuses %s, sending nothing', async (_name, realm, realmHosts) => {
    const service = tokenService({ alice: 'pw-a' });
    const error = await rejectionOf(auth(service.fetch, { realmHosts }).forRegistry(REGISTRY, [matched('alice', 'pw-a')]).getToken({ realm }));
    expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
    expect(error.message).not.toContain('pw-a');
    expect(service.calls).toHaveLength(0);
  });

  it("sends it to an https realm on the operator's allow-list, and Docker Hub's to auth.docker.io", async () => {
    const service = tokenService({ alice: 'pw-a' });
    await auth(service.fetch, { realmHosts: ['auth.example.net'] }).forRegistry(REGISTRY, [matched('alice', 'pw-a')]).getToken({ realm: 'https://auth.example.net/token' });
    await auth(service.fetch).forRegistry('https://registry-1.docker.io', [matched('alice', 'pw-a')]).getToken({ realm: 'https://auth.docker.io/token' });
    expect(service.calls.map((call) => call.headers?.['authorization'])).toEqual([basicOf('alice', 'pw-a'), basicOf('alice', 'pw-a')]);
  });

  it('answers REGISTRY_CREDENTIALS_REJECTED naming the Secrets and no value when every credential is refused', async () => {
    const service = tokenService({});
    const error = await rejectionOf(auth(service.fetch).forRegistry(REGISTRY, [matched('alice', 'pw-a'), matched('bob', 'pw-b')]).getToken({ realm: REALM }));
    expect(error.code).toBe('REGISTRY_CREDENTIALS_REJECTED');
    expect(error.message).toContain('Secret team/alice');
    expect(error.message).toContain('Secret team/bob');
    for (const value of ['pw-a', 'pw-b', basicOf('alice', 'pw-a')]) expect(error.message).not.toContain(value);
    expect(service.calls).toHaveLength(2);
  });

  it('tries the credentials in order until one is accepted', async () => {
    const service = tokenService({ bob: 'pw-b' });
    expect(await auth(service.fetch).forRegistry(REGISTRY, [matched('alice', 'pw-a'), matched('bob', 'pw-b')]).getToken({ realm: REALM })).toBe('token-2');
  });

  it("never serves one workload's token to a request with another credential, or to an anonymous one", async () => {
    const service = tokenService({ alice: 'pw-a', bob: 'pw-b' });
    const tokens = auth(service.fetch);
    const challenge = { realm: REALM, service: 'reg', scope: 'repository:team/app:pull' };
    const first = await tokens.forRegistry(REGISTRY, [matched('alice', 'pw-a')]).getToken(challenge);
    const again = await tokens.forRegistry(REGISTRY, [matched('alice', 'pw-a', 'Secret other/alice-copy')]).getToken(challenge);
    const other = await tokens.forRegistry(REGISTRY, [matched('bob', 'pw-b')]).getToken(challenge);
    const wrongPassword = tokens.forRegistry(REGISTRY, [matched('alice', 'not-pw-a')]).getToken(challenge);
    const anonymous = await tokens.forRegistry(REGISTRY).getToken(challenge);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect((await rejectionOf(wrongPassword)).code).toBe('REGISTRY_CREDENTIALS_REJECTED');
    expect(anonymous).not.toBe(first);
    expect(new Set([first, other, anonymous]).size).toBe(3);
  });

  it('uses the credential for a trust server the operator chose, never for one the caller chose', async () => {
    const service = tokenService({ alice: 'pw-a' });
    const tokens = auth(service.fetch, { credentials: { username: 'operator', password: 'op' } });
    await tokens.forServer('https://notary.example.com', 'operator', [matched('alice', 'pw-a')]).getToken({ realm: 'https://notary.example.com/token' });
    await tokens.forServer('https://caller.example.com', 'caller', [matched('alice', 'pw-a')]).getToken({ realm: 'https://caller.example.com/token' }).catch(() => undefined);
    expect(service.calls.map((call) => call.headers?.['authorization'])).toEqual([basicOf('alice', 'pw-a')]);
  });

  it('posts an identity token as an OAuth2 refresh token in a form, never in the URL', async () => {
    const service = tokenService();
    const match: MatchedCredential = { key: 'registry.example.com', source: 'Secret team/oauth', credential: { identityToken: 'refresh-123' } };
    await auth(service.fetch).forRegistry(REGISTRY, [match]).getToken({ realm: REALM, service: 'reg', scope: 'repository:team/app:pull' });
    const call = service.calls[0];
    expect(call?.method).toBe('POST');
    expect(call?.url).toBe(REALM);
    expect(call?.url).not.toContain('refresh-123');
    const form = new URLSearchParams(String(call?.body));
    expect(Object.fromEntries(form)).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'refresh-123', service: 'reg', scope: 'repository:team/app:pull' });
  });
});
