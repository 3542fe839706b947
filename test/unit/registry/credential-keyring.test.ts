import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { createCredentialKeyring } from '../../../shared/registry/credential-keyring.js';
import type { PullSecretEntry } from '../../../shared/registry/pull-secret.js';

function entry(key: string, username = key): PullSecretEntry {
  return { key, source: 'Secret team/pull', credential: { username, password: 'pw' } };
}

// The user names of the credentials that serve `image`, in the order they would be tried.
function usersFor(keys: readonly (string | PullSecretEntry)[], image: string): string[] {
  const keyring = createCredentialKeyring(keys.map((key) => (typeof key === 'string' ? entry(key) : key)));
  const reference = parseImageReference(image);
  return keyring.forRepository(reference.registry, reference.repository).map((match) => match.credential.username ?? '');
}

describe('createCredentialKeyring', () => {
  it('serves a registry by its host, ignoring a scheme and the legacy /v1/ and /v2/ paths', () => {
    expect(usersFor(['https://registry.example/v2/'], 'registry.example/team/app:1')).toEqual(['https://registry.example/v2/']);
    expect(usersFor(['http://registry.example'], 'registry.example/app')).toEqual(['http://registry.example']);
  });

  it.each(['docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io', 'registry.hub.docker.com', 'Docker.IO:443'])(
    'serves every Docker Hub spelling of an image from a key written %s',
    (key) => {
      for (const image of ['nginx', 'docker.io/library/nginx', 'index.docker.io/library/nginx', 'registry-1.docker.io/team/app']) {
        expect(usersFor([key], image)).toEqual([key]);
      }
    },
  );

  it('compares ports: the HTTPS default is no port, any other must be equal', () => {
    expect(usersFor(['registry.example:443'], 'registry.example/app')).toEqual(['registry.example:443']);
    expect(usersFor(['registry.example'], 'registry.example:0443/app')).toEqual(['registry.example']);
    expect(usersFor(['registry.example'], 'registry.example:5000/app')).toEqual([]);
    expect(usersFor(['registry.example:5000'], 'registry.example/app')).toEqual([]);
    expect(usersFor(['registry.example:5000'], 'registry.example:5000/app')).toEqual(['registry.example:5000']);
  });

  it('compares hosts case-insensitively and IPv6 addresses in any spelling', () => {
    expect(usersFor(['Registry.Example'], 'registry.example/app')).toEqual(['Registry.Example']);
    expect(usersFor(['[0:0:0:0:0:0:0:1]:5000'], '[::1]:5000/app')).toEqual(['[0:0:0:0:0:0:0:1]:5000']);
  });

  it('takes an IPv4-mapped IPv6 address for the IPv4 registry it reaches, and nothing else for it', () => {
    expect(usersFor(['127.0.0.1:5000'], '[::ffff:7f00:1]:5000/app')).toEqual(['127.0.0.1:5000']);
    expect(usersFor(['[::ffff:127.0.0.1]:5000'], '127.0.0.1:5000/app')).toEqual(['[::ffff:127.0.0.1]:5000']);
    expect(usersFor(['127.0.0.1:5000'], '[::7f00:1]:5000/app')).toEqual([]);
  });

  // Go's resolver, which the runtime pulls with, looks `127.1` up as a DNS name: credentials
  // for the address must not go to whoever answers for that name, nor the other way round.
  it('takes a numeric IPv4 spelling (127.1, 0x7f000001) for a host name, never for the registry at its dotted quad', () => {
    expect(usersFor(['127.0.0.1:5000'], '127.1:5000/app')).toEqual([]);
    expect(usersFor(['127.0.0.1:5000'], '2130706433:5000/app')).toEqual([]);
    expect(usersFor(['0x7f000001:5000'], '127.0.0.1:5000/app')).toEqual([]);
    expect(usersFor(['0x7f000001:5000'], '0X7F000001:5000/app')).toEqual(['0x7f000001:5000']);
    expect(usersFor(['127.1:5000'], '127.1:5000/app')).toEqual(['127.1:5000']);
  });

  it('serves a path-scoped key only to repositories under that path, on segment boundaries', () => {
    const keys = ['registry.example/team'];
    expect(usersFor(keys, 'registry.example/team/app')).toEqual(['registry.example/team']);
    expect(usersFor(keys, 'registry.example/team')).toEqual(['registry.example/team']);
    expect(usersFor(keys, 'registry.example/teammate/app')).toEqual([]);
    expect(usersFor(keys, 'registry.example/other/app')).toEqual([]);
  });

  it('matches a glob label against one label of the host', () => {
    expect(usersFor(['*.example.com'], 'eu.example.com/app')).toEqual(['*.example.com']);
    expect(usersFor(['*.example.com'], 'a.eu.example.com/app')).toEqual([]);
    expect(usersFor(['*.example.com'], 'example.com/app')).toEqual([]);
    expect(usersFor(['reg?.example.com:5000'], 'reg1.example.com:5000/app')).toEqual(['reg?.example.com:5000']);
    expect(usersFor(['reg?.example.com'], 'reg1.example.com:5000/app')).toEqual([]);
  });

  it('answers the most specific key first: literal host before glob, longer path before shorter', () => {
    const keys = ['*.example.com', 'reg.example.com', 'reg.example.com/team', 'reg.example.com/team/app', 'other.example'];
    expect(usersFor(keys, 'reg.example.com/team/app')).toEqual(['reg.example.com/team/app', 'reg.example.com/team', 'reg.example.com', '*.example.com']);
  });

  it('keeps the listing order between equally specific keys', () => {
    expect(usersFor([entry('reg.example', 'first'), entry('https://reg.example/', 'second')], 'reg.example/app')).toEqual(['first', 'second']);
  });

  it('ignores a key that names no host', () => {
    expect(usersFor(['', '/team', 'user@reg.example'], 'reg.example/team/app')).toEqual([]);
  });

  it('matches a hostile glob in bounded time', () => {
    const key = `${'*a'.repeat(60)}.example`;
    expect(usersFor([key], `${'a'.repeat(200)}b.example/app`)).toEqual([]);
  });
});
