import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodePullSecret, MAX_PULL_SECRET_BYTES, type SecretData } from '../../../shared/registry/pull-secret.js';
import { thrownError } from '../../support/trustgate-errors.js';

const encoder = new TextEncoder();
const SECRET_VALUE = 's3cr3t-Value-never-shown';

function configJson(document: unknown, type = 'kubernetes.io/dockerconfigjson', key = '.dockerconfigjson'): SecretData {
  const text = typeof document === 'string' ? document : JSON.stringify(document);
  return { name: 'pull', namespace: 'team', type, data: new Map([[key, encoder.encode(text)]]) };
}

function basic(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

function failureOf(secret: SecretData) {
  return thrownError(() => decodePullSecret(secret));
}

describe('decodePullSecret', () => {
  it('reads auth as base64 "user:password", splitting at the first colon', () => {
    const entries = decodePullSecret(configJson({ auths: { 'registry.example:5000': { auth: basic('robot', `pa:ss${SECRET_VALUE}`) } } }));
    expect(entries).toEqual([{ key: 'registry.example:5000', source: 'Secret team/pull', credential: { username: 'robot', password: `pa:ss${SECRET_VALUE}` } }]);
  });

  it('lets auth win over username and password fields, as the kubelet does', () => {
    const [entry] = decodePullSecret(configJson({ auths: { reg: { username: 'other', password: 'other', auth: basic('robot', 'pw') } } }));
    expect(entry?.credential).toEqual({ username: 'robot', password: 'pw' });
  });

  it('reads username and password fields, and an identity token alone', () => {
    const entries = decodePullSecret(configJson({ auths: { a: { username: 'u', password: 'p', email: 'x@y' }, b: { identitytoken: 'refresh' } } }));
    expect(entries.map((entry) => entry.credential)).toEqual([{ username: 'u', password: 'p' }, { identityToken: 'refresh' }]);
  });

  it('reads the legacy dockercfg form, which has no auths wrapper', () => {
    const entries = decodePullSecret(configJson({ 'https://index.docker.io/v1/': { auth: basic('hub', 'pw') } }, 'kubernetes.io/dockercfg', '.dockercfg'));
    expect(entries).toEqual([{ key: 'https://index.docker.io/v1/', source: 'Secret team/pull', credential: { username: 'hub', password: 'pw' } }]);
  });

  it('treats every JSON key as data, __proto__ included', () => {
    const entries = decodePullSecret(configJson(`{"auths":{"__proto__":{"auth":"${basic('u', 'p')}"}}}`));
    expect(entries.map((entry) => entry.key)).toEqual(['__proto__']);
  });

  it('answers no entries for a config without auths', () => {
    expect(decodePullSecret(configJson({ credsStore: 'desktop' }))).toEqual([]);
  });

  it.each<[string, SecretData]>([
    ['a Secret of another type', configJson({ auths: {} }, 'Opaque')],
    ['a missing data key', configJson({ auths: {} }, 'kubernetes.io/dockerconfigjson', '.dockercfg')],
    ['text that is not JSON', configJson(`{"auths": {"reg": {"auth": "${SECRET_VALUE}"`)],
    ['auths that is not an object', configJson({ auths: [SECRET_VALUE] })],
    ['an entry that is not an object', configJson({ auths: { reg: SECRET_VALUE } })],
    ['auth that is not base64', configJson({ auths: { reg: { auth: `${SECRET_VALUE}!` } } })],
    ['auth without a colon', configJson({ auths: { reg: { auth: Buffer.from(SECRET_VALUE).toString('base64') } } })],
    ['a password without a user name', configJson({ auths: { reg: { password: SECRET_VALUE } } })],
    ['a password holding a line break', configJson({ auths: { reg: { username: 'u', password: `${SECRET_VALUE}\r\nX-Injected: 1` } } })],
    ['a field that is not a string', configJson({ auths: { reg: { username: 'u', password: 42 } } })],
    ['an empty registry key', configJson({ auths: { '': { username: 'u', password: SECRET_VALUE } } })],
  ])('refuses %s with POLICY_INVALID naming the Secret and no value', (_name, secret) => {
    const error = failureOf(secret);
    expect(error.code).toBe(ErrorCode.POLICY_INVALID);
    expect(error.message).toContain('Secret team/pull');
    expect(error.message).not.toContain(SECRET_VALUE);
    expect(error.message).not.toContain(Buffer.from(SECRET_VALUE).toString('base64'));
  });

  it('bounds what a hostile Secret makes it read', () => {
    const huge = configJson({ auths: { reg: { username: 'u', password: 'x'.repeat(MAX_PULL_SECRET_BYTES) } } });
    expect(failureOf(huge).code).toBe(ErrorCode.POLICY_INVALID);
    const many = configJson({ auths: Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`r${index}`, { username: 'u', password: 'p' }])) });
    expect(failureOf(many).code).toBe(ErrorCode.POLICY_INVALID);
    const longField = configJson({ auths: { reg: { username: 'u', password: 'x'.repeat(20_000) } } });
    expect(failureOf(longField).code).toBe(ErrorCode.POLICY_INVALID);
  });
});

describe('decodePullSecret field names, read as the kubelet reads them (Go encoding/json)', () => {
  const credentials = (document: unknown) => decodePullSecret(configJson(document)).map((entry) => [entry.key, entry.credential]);

  it.each<[string, unknown]>([
    ['Auth', { auths: { reg: { Auth: basic('robot', 'pw') } } }],
    ['AUTH', { auths: { reg: { AUTH: basic('robot', 'pw') } } }],
    ['Username and Password', { auths: { reg: { Username: 'robot', Password: 'pw' } } }],
    ['Auths', { Auths: { reg: { auth: basic('robot', 'pw') } } }],
    ['AUTHS with USERNAME and PASSWORD', { AUTHS: { reg: { USERNAME: 'robot', PASSWORD: 'pw' } } }],
    ['the long s (U+017F), which folds to s', { 'auth\u017f': { reg: { 'u\u017fername': 'robot', 'pa\u017f\u017fword': 'pw' } } }],
  ])('reads a credential whose field names are spelled %s', (_name, document) => {
    expect(credentials(document)).toEqual([['reg', { username: 'robot', password: 'pw' }]]);
  });

  it('reads identitytoken in any case, the Kelvin sign (U+212A) folding to k', () => {
    expect(credentials({ auths: { a: { IdentityToken: 'one' }, b: { 'identityto\u212aen': 'two' } } })).toEqual([
      ['a', { identityToken: 'one' }],
      ['b', { identityToken: 'two' }],
    ]);
  });

  it('reads Auth in the legacy dockercfg form', () => {
    const entries = decodePullSecret(configJson({ reg: { Auth: basic('robot', 'pw') } }, 'kubernetes.io/dockercfg', '.dockercfg'));
    expect(entries.map((entry) => entry.credential)).toEqual([{ username: 'robot', password: 'pw' }]);
  });

  it('keeps the last of several spellings of one field in document order, repeated keys included', () => {
    const text = `{"auths":{"reg":{"auth":"${basic('first', 'pw')}","Auth":"${basic('second', 'pw')}","auth":"${basic('last', 'pw')}"}}}`;
    expect(credentials(text)).toEqual([['reg', { username: 'last', password: 'pw' }]]);
    const reversed = `{"auths":{"reg":{"Auth":"${basic('first', 'pw')}","auth":"${basic('last', 'pw')}"}}}`;
    expect(credentials(reversed)).toEqual([['reg', { username: 'last', password: 'pw' }]]);
    const other = `{"auths":{"reg":{"auth":"${basic('first', 'pw')}","Auth":"${basic('last', 'pw')}"}}}`;
    expect(credentials(other)).toEqual([['reg', { username: 'last', password: 'pw' }]]);
  });

  it('skips a null spelling of a field, and lets an empty one clear it', () => {
    expect(credentials(`{"auths":{"reg":{"auth":"${basic('kept', 'pw')}","Auth":null}}}`)).toEqual([['reg', { username: 'kept', password: 'pw' }]]);
    expect(credentials(`{"auths":{"reg":{"auth":"${basic('gone', 'pw')}","Auth":"","username":"u","password":"p"}}}`)).toEqual([['reg', { username: 'u', password: 'p' }]]);
  });

  it('merges every spelling of auths into one registry map, a later registry key replacing an earlier one and a null auths emptying it', () => {
    const merged = `{"auths":{"a":{"username":"u1","password":"p"},"b":{"username":"u2","password":"p"}},"Auths":{"a":{"username":"u3","password":"p"},"c":{"username":"u4","password":"p"}}}`;
    expect(credentials(merged)).toEqual([
      ['a', { username: 'u3', password: 'p' }],
      ['b', { username: 'u2', password: 'p' }],
      ['c', { username: 'u4', password: 'p' }],
    ]);
    expect(credentials(`{"auths":{"a":{"username":"u","password":"p"}},"Auths":null}`)).toEqual([]);
    expect(credentials(`{"auths":null,"Auths":{"a":{"username":"u","password":"p"}}}`)).toEqual([['a', { username: 'u', password: 'p' }]]);
  });

  it('keeps registry keys as written: they are data, not field names', () => {
    expect(credentials({ auths: { 'Reg.Example': { auth: basic('robot', 'pw') }, 'reg.example': { auth: basic('other', 'pw') } } }).map(([key]) => key)).toEqual(['Reg.Example', 'reg.example']);
  });

  it.each<[string, unknown]>([
    ['a dotless i (U+0131), which does not fold to i', { auths: { reg: { '\u0131dentitytoken': 'x' } } }],
    ['a dotted capital I (U+0130), which does not fold to i', { auths: { reg: { '\u0130dentitytoken': 'x' } } }],
    ['a key with one letter more', { auths: { reg: { auths: basic('robot', 'pw') } } }],
  ])('reads no credential from a field spelled with %s, as Go reads none', (_name, document) => {
    expect(failureOf(configJson(document)).code).toBe(ErrorCode.POLICY_INVALID);
  });

  it('refuses with POLICY_INVALID a spelling of a field that is not a string, even one a later spelling overrides, as Go does', () => {
    const error = failureOf(configJson(`{"auths":{"reg":{"Auth":42,"auth":"${basic('u', SECRET_VALUE)}"}}}`));
    expect(error.code).toBe(ErrorCode.POLICY_INVALID);
    expect(error.message).not.toContain(SECRET_VALUE);
    expect(failureOf(configJson({ auths: { reg: { username: 'u', password: 'p' } }, Auths: [SECRET_VALUE] })).code).toBe(ErrorCode.POLICY_INVALID);
  });

  it('bounds the registries of every auths spelling together', () => {
    const half = (prefix: string) => Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`${prefix}${index}`, { username: 'u', password: 'p' }]));
    expect(failureOf(configJson({ auths: half('a'), Auths: half('b') })).code).toBe(ErrorCode.POLICY_INVALID);
    expect(credentials({ auths: half('a'), Auths: half('a') })).toHaveLength(100);
  });
});
