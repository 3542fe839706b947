// signedIdentity rules (containers/image semantics) and the strict payload decoder.
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import type { SignedIdentity } from '../../../../shared/policy/model.js';
import { checkIdentity, checkSignedIdentity } from '../../../../shared/trust/simple/identity.js';
import { decodeSimplePayload } from '../../../../shared/trust/simple/payload.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function accepts(image: string, identity: SignedIdentity, signed: string): boolean {
  try {
    checkIdentity(parseImageReference(image), identity, signed);
    return true;
  } catch (error) {
    expect((error as TrustgateError).code).toBe(ErrorCode.SIMPLE_IDENTITY_MISMATCH);
    return false;
  }
}

describe('checkIdentity', () => {
  it.each<[string, string, SignedIdentity, string, boolean]>([
    ['matchRepoDigestOrExact', 'a tag signed for exactly that tag', { type: 'matchRepoDigestOrExact' }, 'reg.example.com/app:v1', true],
    ['matchRepoDigestOrExact', 'a tag signed for another tag', { type: 'matchRepoDigestOrExact' }, 'reg.example.com/app:v2', false],
    ['matchRepoDigestOrExact', 'a tag signed for another repository', { type: 'matchRepoDigestOrExact' }, 'reg.example.com/other:v1', false],
    ['matchExact', 'the same tag', { type: 'matchExact' }, 'reg.example.com/app:v1', true],
    ['matchExact', 'the repository without a tag', { type: 'matchExact' }, 'reg.example.com/app', false],
    ['matchRepository', 'another tag of the repository', { type: 'matchRepository' }, 'reg.example.com/app:v9', true],
    ['matchRepository', 'another repository', { type: 'matchRepository' }, 'reg.example.com/app2:v1', false],
    ['matchExactReference', 'the named reference', { type: 'matchExactReference', dockerReference: 'mirror.example.com/app:gold' }, 'mirror.example.com/app:gold', true],
    ['matchExactReference', 'the image itself', { type: 'matchExactReference', dockerReference: 'mirror.example.com/app:gold' }, 'reg.example.com/app:v1', false],
    ['matchExactRepository', 'any tag of the named repository', { type: 'matchExactRepository', dockerRepository: 'mirror.example.com/app' }, 'mirror.example.com/app:x', true],
    ['matchExactRepository', 'the image itself', { type: 'matchExactRepository', dockerRepository: 'mirror.example.com/app' }, 'reg.example.com/app:v1', false],
    ['remapIdentity', 'the image under the signed prefix', { type: 'remapIdentity', prefix: 'reg.example.com', signedPrefix: 'upstream.example.com/team' }, 'upstream.example.com/team/app:v1', true],
    ['remapIdentity', 'the image under its own name', { type: 'remapIdentity', prefix: 'reg.example.com', signedPrefix: 'upstream.example.com/team' }, 'reg.example.com/app:v1', false],
  ])('%s accepts for reg.example.com/app:v1 %s: %s', (_type, _label, identity, signed, expected) => {
    expect(accepts('reg.example.com/app:v1', identity, signed)).toBe(expected);
  });

  it('matchRepoDigestOrExact accepts any reference of the repository for an image pinned by digest', () => {
    expect(accepts(`reg.example.com/app@${DIGEST}`, { type: 'matchRepoDigestOrExact' }, 'reg.example.com/app:v1')).toBe(true);
    expect(accepts(`reg.example.com/app@${DIGEST}`, { type: 'matchRepoDigestOrExact' }, 'reg.example.com/other:v1')).toBe(false);
  });

  it('compares normalised references: nginx is docker.io/library/nginx:latest', () => {
    expect(accepts('docker.io/library/nginx:latest', { type: 'matchExact' }, 'nginx:latest')).toBe(true);
    expect(accepts('index.docker.io/library/nginx:latest', { type: 'matchRepoDigestOrExact' }, 'docker.io/library/nginx:latest')).toBe(true);
  });

  it('remapIdentity leaves images outside the prefix to matchRepoDigestOrExact, and needs a path boundary', () => {
    const identity: SignedIdentity = { type: 'remapIdentity', prefix: 'reg.example.com/team', signedPrefix: 'upstream.example.com' };
    expect(accepts('reg.example.com/teammate/app:v1', identity, 'upstream.example.commate/app:v1')).toBe(false);
    expect(accepts('reg.example.com/teammate/app:v1', identity, 'reg.example.com/teammate/app:v1')).toBe(true);
    expect(accepts('reg.example.com/team/app:v1', identity, 'upstream.example.com/app:v1')).toBe(true);
  });

  it('remapIdentity with a registry host as signedPrefix takes a mirror of Docker Hub for Docker Hub', () => {
    const identity: SignedIdentity = { type: 'remapIdentity', prefix: 'mirror.example.com', signedPrefix: 'docker.io' };
    expect(accepts('mirror.example.com/library/nginx:v1', identity, 'docker.io/library/nginx:v1')).toBe(true);
    expect(accepts('mirror.example.com/library/nginx:v1', identity, 'nginx:v1')).toBe(true);
    // The mirror's single-name path is Docker Hub's library/ name once remapped.
    expect(accepts('mirror.example.com/nginx:v1', identity, 'docker.io/library/nginx:v1')).toBe(true);
    expect(accepts('mirror.example.com/library/nginx:v1', identity, 'docker.io/library/redis:v1')).toBe(false);
    expect(accepts('mirror.example.com/library/nginx:v1', identity, 'mirror.example.com/library/nginx:v1')).toBe(false);
    expect(accepts('mirror.example.comx/library/nginx:v1', identity, 'docker.io/library/nginx:v1')).toBe(false);
  });

  it('remapIdentity with a registry host as prefix, in any spelling of Docker Hub', () => {
    for (const prefix of ['docker.io', 'index.docker.io']) {
      const identity: SignedIdentity = { type: 'remapIdentity', prefix, signedPrefix: 'mirror.example.com:5000' };
      expect(accepts('nginx:v1', identity, 'mirror.example.com:5000/library/nginx:v1')).toBe(true);
      expect(accepts('docker.io/acme/app:v1', identity, 'mirror.example.com:5000/acme/app:v1')).toBe(true);
      expect(accepts('nginx:v1', identity, 'docker.io/library/nginx:v1')).toBe(false);
    }
  });

  it('refuses a signed identity that is not a docker reference', () => {
    expect(accepts('reg.example.com/app:v1', { type: 'matchRepository' }, 'NOT A REFERENCE')).toBe(false);
  });
});

describe('checkSignedIdentity', () => {
  it.each<[SignedIdentity, string]>([
    [{ type: 'matchExactReference' }, 'x.dockerReference'],
    [{ type: 'matchExactReference', dockerReference: 'reg.example.com/app' }, 'x.dockerReference'],
    [{ type: 'matchExactRepository', dockerRepository: 'reg.example.com/app:v1' }, 'x.dockerRepository'],
    [{ type: 'remapIdentity', prefix: 'reg.example.com' }, 'x.signedPrefix'],
    [{ type: 'remapIdentity', prefix: 'Nope!', signedPrefix: 'quay.io' }, 'x.prefix'],
    [{ type: 'remapIdentity', prefix: 'nginx', signedPrefix: 'quay.io' }, 'x.prefix'],
    [{ type: 'remapIdentity', prefix: 'quay.io/team:v1', signedPrefix: 'quay.io' }, 'x.prefix'],
  ])('refuses %o with POLICY_INVALID naming %s', (identity, field) => {
    expect(() => checkSignedIdentity(identity, 'x')).toThrow(expect.objectContaining({ code: ErrorCode.POLICY_INVALID, message: expect.stringContaining(field) as string }) as Error);
  });

  it.each<[string]>([['docker.io'], ['index.docker.io'], ['quay.io'], ['localhost:5000'], ['docker.io/library'], ['quay.io/team/app']])('accepts %s as a remap prefix and signedPrefix', (prefix) => {
    expect(() => checkSignedIdentity({ type: 'remapIdentity', prefix, signedPrefix: prefix }, 'x')).not.toThrow();
  });
});

describe('decodeSimplePayload', () => {
  const good = { critical: { identity: { 'docker-reference': 'reg.example.com/app:v1' }, image: { 'docker-manifest-digest': DIGEST }, type: 'atomic container signature' }, optional: { creator: 'x' } };
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it('reads the reference and digest of a valid payload', () => {
    expect(decodeSimplePayload(encode(good))).toEqual({ dockerReference: 'reg.example.com/app:v1', manifestDigest: DIGEST });
  });

  it.each<[string, unknown]>([
    ['another critical.type (a cosign payload)', { ...good, critical: { ...good.critical, type: 'cosign container image signature' } }],
    ['an unknown critical field', { ...good, critical: { ...good.critical, extra: 1 } }],
    ['no optional', { critical: good.critical }],
    ['a digest that is not a string', { ...good, critical: { ...good.critical, image: { 'docker-manifest-digest': 1 } } }],
    ['not JSON', 'x'],
  ])('refuses %s with SIMPLE_PAYLOAD_INVALID', (_label, value) => {
    const bytes = typeof value === 'string' ? new TextEncoder().encode('{') : encode(value);
    expect(() => decodeSimplePayload(bytes)).toThrow(expect.objectContaining({ code: ErrorCode.SIMPLE_PAYLOAD_INVALID }) as Error);
  });
});
