// The sign-callback authorizer: the bearer token decides, compared in constant time, and a
// missing configured token denies everything.
import { describe, expect, it } from 'vitest';
import { bearerToken, createCallbackAuthorizer } from '../../../functions/callback-authorizer/handler.js';

describe('createCallbackAuthorizer', () => {
  const authorize = createCallbackAuthorizer('s3cret-token');

  it('authorizes the configured token whatever the case of the header name and scheme', async () => {
    expect(await authorize({ headers: { Authorization: 'bearer s3cret-token' } })).toEqual({ isAuthorized: true });
    expect(await authorize({ headers: { authorization: 'Bearer s3cret-token' } })).toEqual({ isAuthorized: true });
  });

  it.each([['Bearer s3cret-toke'], ['Bearer s3cret-token2'], ['Basic s3cret-token'], ['s3cret-token'], ['Bearer '], ['Bearer a b']])('denies %j', async (header) => {
    expect(await authorize({ headers: { authorization: header } })).toEqual({ isAuthorized: false });
  });

  it('denies a request without headers', async () => {
    expect(await authorize({})).toEqual({ isAuthorized: false });
    expect(await authorize({ headers: null })).toEqual({ isAuthorized: false });
  });

  describe('when no token is configured', () => {
    it.each([[undefined], ['']])('denies everything (%j)', async (configured) => {
      expect(await createCallbackAuthorizer(configured)({ headers: { authorization: 'Bearer ' } })).toEqual({ isAuthorized: false });
      expect(await createCallbackAuthorizer(configured)({ headers: { authorization: 'Bearer x' } })).toEqual({ isAuthorized: false });
    });
  });
});

describe('bearerToken', () => {
  it('reads the token of the Authorization header', () => {
    expect(bearerToken({ AUTHORIZATION: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ 'content-type': 'x' })).toBeUndefined();
  });
});
