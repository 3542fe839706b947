// The built bundles, driven as each platform drives them: Lambda imports the ESM bundle and
// awaits handler(API Gateway HTTP API v2 event); OpenWhisk's Node.js runtime gets the
// plain-code action `trustgate deploy openwhisk` sends, evaluates it at init, and awaits
// main(params). Each runs in a process of its own with the function's configuration (the
// environment on Lambda, init-time parameters on OpenWhisk), next to nothing but what the
// platform itself provides.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findClosedPort } from '../support/local-http-server.js';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { runBundle, type BundleRun } from './support/run-bundle.js';

const ROOT_KEY_ID = 'ab'.repeat(32);
const ENV = { TRUSTGATE_STATE_KEY: 'cd'.repeat(32), TRUSTGATE_POLICIES: join(PROJECT_ROOT, 'examples/policies') };
// The explicit form's trust fields are refused by a deployed verify-image unless this is set.
const EXPLICIT_ENV = { ...ENV, TRUSTGATE_ALLOW_EXPLICIT_TRUST: 'true' };

let closedTrustServer: string;

beforeAll(async () => {
  ensureBuilt([
    bundlePath('verify-image', 'lambda'),
    bundlePath('verify-image', 'openwhisk'),
    bundlePath('policy-lookup', 'lambda'),
    bundlePath('policy-lookup', 'openwhisk'),
    bundlePath('callback-authorizer', 'lambda'),
  ]);
  closedTrustServer = `http://127.0.0.1:${await findClosedPort()}`;
});

const httpEvent = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => ({
  version: '2.0',
  routeKey: 'POST /functions/verify-image',
  rawPath: '/functions/verify-image',
  rawQueryString: '',
  headers,
  requestContext: { http: { method: 'POST', path: '/functions/verify-image', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' }, stage: '$default' },
  body,
  isBase64Encoded: false,
});

// The values the platform got back, or the reason the bundle could not even load.
function values(run: BundleRun): unknown[] {
  if ('loadError' in run) throw new Error(`bundle failed to load: ${run.loadError}`);
  return run.results.map((result) => {
    if ('thrown' in result) throw new Error(`the entry threw instead of answering: ${result.thrown}`);
    return result.value;
  });
}

const lambdaBody = (result: unknown): Record<string, unknown> => JSON.parse((result as { body: string }).body) as Record<string, unknown>;

describe('verify-image Lambda bundle (aws.mjs)', () => {
  let results: unknown[];
  beforeAll(async () => {
    const request = { image: '127.0.0.1:5000/team/app:v1', trust: { server: closedTrustServer, rootKeyIds: [ROOT_KEY_ID] } };
    results = values(
      await runBundle('lambda', bundlePath('verify-image', 'lambda'), EXPLICIT_ENV, [
        httpEvent(JSON.stringify(request)),
        httpEvent('{not json'),
        httpEvent(JSON.stringify({ image: 42, extra: true })),
        { ...httpEvent(Buffer.from(JSON.stringify(request)).toString('base64')), isBase64Encoded: true },
      ]),
    );
  });

  describe('when the trust server is down', () => {
    it('answers 200 allowed:false with TRUST_SERVER_UNAVAILABLE', () => {
      expect(results[0]).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
      expect(lambdaBody(results[0])).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });

    it('decodes a base64-encoded body the same way', () => {
      expect(lambdaBody(results[3])).toMatchObject({ allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });
  });

  describe('when the body is not JSON', () => {
    it('answers 400 REQUEST_INVALID', () => {
      expect(results[1]).toMatchObject({ statusCode: 400 });
      expect(lambdaBody(results[1])).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
    });
  });

  describe('when the body violates the request schema', () => {
    it('answers 400 listing every bad field', () => {
      expect(results[2]).toMatchObject({ statusCode: 400 });
      const problems = (lambdaBody(results[2]) as { error: { problems: { path: string }[] } }).error.problems.map((problem) => problem.path);
      expect(problems.sort()).toEqual(['extra', 'image']);
    });
  });
});

describe('verify-image bundles as deployed (TRUSTGATE_ALLOW_EXPLICIT_TRUST unset)', () => {
  const request = () => ({ image: '127.0.0.1:5000/team/app:v1', trust: { server: closedTrustServer, rootKeyIds: [ROOT_KEY_ID] } });

  it('the Lambda handler answers a request naming its own trust server with 400 REQUEST_INVALID', async () => {
    const [result] = values(await runBundle('lambda', bundlePath('verify-image', 'lambda'), ENV, [httpEvent(JSON.stringify(request()))]));
    expect(result).toMatchObject({ statusCode: 400 });
    expect(lambdaBody(result)).toMatchObject({ error: { code: 'REQUEST_INVALID', problems: [{ path: 'trust.server' }, { path: 'trust.rootKeyIds' }] } });
  });

  it('the OpenWhisk action answers it with 400 REQUEST_INVALID', async () => {
    const [result] = values(await runBundle('openwhisk', bundlePath('verify-image', 'openwhisk'), ENV, [{ ...request(), __ow_method: 'post', __ow_headers: {} }]));
    expect(result).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID', problems: [{ path: 'trust.server' }, { path: 'trust.rootKeyIds' }] } } });
  });
});

describe('policy-lookup Lambda bundle (aws.mjs)', () => {
  it('answers the governing policy from TRUSTGATE_POLICIES and 400 for a schema violation', async () => {
    const [matched, invalid] = values(
      await runBundle('lambda', bundlePath('policy-lookup', 'lambda'), ENV, [
        httpEvent(JSON.stringify({ image: 'registry.example.com/app:v1', namespace: 'default' })),
        httpEvent(JSON.stringify({ image: 'registry.example.com/app:v1' })),
      ]),
    );
    expect(matched).toMatchObject({ statusCode: 200 });
    expect(lambdaBody(matched)).toMatchObject({ matched: true, source: { kind: 'ClusterImagePolicy', name: 'trusted-registry' } });
    expect(invalid).toMatchObject({ statusCode: 400 });
    expect(lambdaBody(invalid)).toMatchObject({ error: { code: 'REQUEST_INVALID', problems: [{ path: 'namespace', message: 'is required' }] } });
  });
});

describe('callback-authorizer Lambda bundle (aws.mjs)', () => {
  const authorizerEvent = (headers: Record<string, string>) => ({
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:eu-west-1:123456789012:api/$default/POST/functions/sign-callback',
    identitySource: headers['authorization'] === undefined ? [] : [headers['authorization']],
    routeKey: 'POST /functions/sign-callback',
    headers,
  });

  it('authorizes only the configured bearer token', async () => {
    const results = values(
      await runBundle('lambda', bundlePath('callback-authorizer', 'lambda'), { TRUSTGATE_CALLBACK_TOKEN: 'right-token' }, [
        authorizerEvent({ authorization: 'Bearer right-token' }),
        authorizerEvent({ authorization: 'Bearer wrong-token' }),
        authorizerEvent({ authorization: 'Bearer right-token-and-more' }),
        authorizerEvent({ authorization: 'Basic cmlnaHQtdG9rZW4=' }),
        authorizerEvent({}),
      ]),
    );
    expect(results).toEqual([{ isAuthorized: true }, { isAuthorized: false }, { isAuthorized: false }, { isAuthorized: false }, { isAuthorized: false }]);
  });

  it('denies everything when no token is configured', async () => {
    const results = values(await runBundle('lambda', bundlePath('callback-authorizer', 'lambda'), {}, [authorizerEvent({ authorization: 'Bearer ' })]));
    expect(results).toEqual([{ isAuthorized: false }]);
  });
});

describe('verify-image OpenWhisk plain-code action', () => {
  let results: unknown[];
  beforeAll(async () => {
    const request = { image: '127.0.0.1:5000/team/app:v1', trust: { server: closedTrustServer, rootKeyIds: [ROOT_KEY_ID] } };
    results = values(
      await runBundle('openwhisk', bundlePath('verify-image', 'openwhisk'), EXPLICIT_ENV, [
        { ...request, __ow_method: 'post', __ow_headers: { 'content-type': 'application/json' }, __ow_path: '' },
        { __ow_method: 'post', __ow_headers: {}, __ow_path: '', __ow_body: Buffer.from(JSON.stringify(request)).toString('base64') },
        {},
        { __ow_method: 'post', __ow_headers: {}, __ow_path: '' },
      ]),
    );
  });

  it('answers a web action request with the verdict (trust server down: allowed:false)', () => {
    expect(results[0]).toMatchObject({ statusCode: 200, body: { allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] } });
  });

  it('decodes a raw web action body from __ow_body', () => {
    expect(results[1]).toMatchObject({ statusCode: 200, body: { allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] } });
  });

  it('answers empty params with a clear 400 instead of throwing', () => {
    expect(results[2]).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
  });

  it('answers a web request without a body with 400', () => {
    expect(results[3]).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
  });
});

describe('policy-lookup OpenWhisk plain-code action', () => {
  it('answers main(params) and a clear 400 for empty params', async () => {
    const [matched, empty] = values(
      await runBundle('openwhisk', bundlePath('policy-lookup', 'openwhisk'), ENV, [
        { image: 'registry.example.com/app:v1', namespace: 'default', __ow_method: 'post', __ow_headers: {} },
        {},
      ]),
    );
    expect(matched).toMatchObject({ statusCode: 200, body: { matched: true } });
    expect(empty).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
  });
});
