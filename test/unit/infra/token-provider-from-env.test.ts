// The trust-server token client's configuration from the environment: the credentials and
// the operator's allow-list of realm hosts.
import { describe, expect, it } from 'vitest';
import { createTokenProviderFromEnv, decodeCredentialServers, decodeRealmHosts } from '../../../infra/trust-server/token-provider-from-env.js';
import type { Fetch, HttpRequest } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const clock = fixedClock(new Date('2030-01-01T00:00:00Z'));

describe('decodeRealmHosts', () => {
  it('reads comma- and space-separated host names, each with an optional port, in the form realm URLs give them', () => {
    expect(decodeRealmHosts(' Auth.Example.COM, auth2.example.com:8443  [::1] 10.0.0.1:443,')).toEqual(['auth.example.com', 'auth2.example.com:8443', '[::1]', '10.0.0.1']);
  });

  it('reads nothing from an empty value', () => {
    expect(decodeRealmHosts('')).toEqual([]);
  });

  it.each(['auth.example.com:99999', 'https://auth.example.com', 'auth.example.com/token', 'user@auth.example.com', 'auth example?.com'])(
    'refuses %s with CONFIG_INVALID',
    (entry) => {
      expect(() => decodeRealmHosts(entry)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    },
  );
});

describe('decodeCredentialServers', () => {
  it('reads trust server URLs and hosts as the origins of the servers they name', () => {
    expect(decodeCredentialServers('quay.io, https://quay.io:443/  HTTPS://Notary.Docker.IO notary.example.com:4443')).toEqual([
      'https://quay.io',
      'https://quay.io',
      'https://notary.docker.io',
      'https://notary.example.com:4443',
    ]);
  });

  it.each(['http://notary.example.com', 'https://user:pw@notary.example.com', 'ftp://notary.example.com'])('refuses %s with CONFIG_INVALID', (entry) => {
    expect(() => decodeCredentialServers(entry)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('createTokenProviderFromEnv', () => {
  const recording = (): { fetch: Fetch; calls: HttpRequest[] } => {
    const calls: HttpRequest[] = [];
    return {
      calls,
      fetch: (request) => {
        calls.push(request);
        return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode('{"token":"t"}') });
      },
    };
  };
  const credentials = { TRUSTGATE_TRUST_USERNAME: 'u', TRUSTGATE_TRUST_PASSWORD: 'p' };

  it('sends the credentials to a realm host of TRUSTGATE_TRUST_REALM_HOSTS', async () => {
    const recorder = recording();
    const auth = createTokenProviderFromEnv(recorder.fetch, { ...credentials, TRUSTGATE_TRUST_REALM_HOSTS: 'auth.example.com' }, clock);
    await auth.forServer('https://notary.example.com', 'operator').getToken({ realm: 'https://AUTH.example.com/token' });
    expect(recorder.calls[0]?.headers?.['authorization']).toMatch(/^Basic /);
  });

  it('refuses a realm host that is not listed, sending nothing', async () => {
    const recorder = recording();
    const auth = createTokenProviderFromEnv(recorder.fetch, credentials, clock);
    const error = await rejectionOf(auth.forServer('https://notary.example.com', 'operator').getToken({ realm: 'https://auth.example.com/token' }));
    expect(error.code).toBe('TRUST_AUTH_REALM_REFUSED');
    expect(recorder.calls).toEqual([]);
  });

  it('refuses a user name without a password', () => {
    expect(() => createTokenProviderFromEnv(recording().fetch, { TRUSTGATE_TRUST_USERNAME: 'u' }, clock)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
