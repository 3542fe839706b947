// verify-image over the AWS HTTP API, against a loopback stand-in that checks every SigV4
// signature the way API Gateway's IAM authorisation does and answers the verify-image contract.
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApiVerify, decodeHttpApiAuth, type HttpApiAuth } from '../../../infra/remote-functions/http-api-verify.js';
import { createNodeFetch } from '../../../shared/http/node-fetch.js';
import { findClosedPort } from '../../support/local-http-server.js';
import { allowAnswer, denyAnswer, startHttpApiStandIn, TEST_AWS_CREDENTIALS, type StandIn, type StandInReply } from '../../support/remote-function-stand-ins.js';

const IMAGE = 'registry.example.com/team/app:v1';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REGION = 'eu-west-1';
// Text a hostile or misrouted endpoint answers; no part of it may reach a reason.
const LEAK = 'zqx7-answer-secret';
const SIGV4: HttpApiAuth = { kind: 'sigv4', credentials: TEST_AWS_CREDENTIALS, scope: { region: REGION, service: 'execute-api' } };

let standIn: (StandIn & { signatureFailures: string[] }) | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function verifyAgainst(answer: (body: { image: string }) => StandInReply, options: { auth?: HttpApiAuth; timeoutMs?: number; stage?: string } = {}) {
  standIn = await startHttpApiStandIn({ credentials: TEST_AWS_CREDENTIALS, region: REGION, answer: (request) => answer(JSON.parse(request.body) as { image: string }) });
  const verify = createHttpApiVerify({
    base: new URL(`${standIn.url}${options.stage ?? ''}`),
    auth: options.auth ?? SIGV4,
    fetch: createNodeFetch(),
    timeoutMs: options.timeoutMs ?? 2_000,
    now: () => new Date(),
  });
  return { standIn, result: await verify(IMAGE, 'team-a') };
}

describe('createHttpApiVerify', () => {
  describe('when the function allows the image', () => {
    it('sends one SigV4-signed POST with the policy-form request and returns the allow', async () => {
      const { standIn, result } = await verifyAgainst(({ image }) => ({ status: 200, json: allowAnswer(image, DIGEST) }), { stage: '/prod' });
      expect(standIn.signatureFailures).toEqual([]);
      expect(standIn.received).toHaveLength(1);
      const [request] = standIn.received;
      expect(request).toMatchObject({ method: 'POST', url: '/prod/functions/verify-image' });
      expect(JSON.parse(request?.body ?? '')).toEqual({ image: IMAGE, namespace: 'team-a' });
      expect(request?.headers['content-type']).toBe('application/json');
      expect(request?.headers['x-amz-security-token']).toBe(TEST_AWS_CREDENTIALS.sessionToken);
      expect(result).toMatchObject({ allowed: true, digest: DIGEST, codes: [], mutateImage: true });
    });
  });

  describe('when the function denies the image', () => {
    it('returns the denial with its code', async () => {
      const { result } = await verifyAgainst(({ image }) => ({ status: 200, json: denyAnswer(image, 'TRUST_NO_SIGNED_TARGET') }));
      expect(result).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });
    });
  });

  describe('when the request is signed with the wrong secret', () => {
    it('is refused by the stand-in and denies with TRUST_SERVER_UNAVAILABLE', async () => {
      const wrong: HttpApiAuth = { ...SIGV4, credentials: { ...TEST_AWS_CREDENTIALS, secretAccessKey: 'not-the-secret' } };
      const { standIn, result } = await verifyAgainst(({ image }) => ({ status: 200, json: allowAnswer(image, DIGEST) }), { auth: wrong });
      expect(standIn.signatureFailures).toEqual(['signature does not match']);
      expect(result).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });
  });

  describe('with a bearer token', () => {
    it('sends Authorization: Bearer and no SigV4 headers', async () => {
      standIn = await startHttpApiStandIn({ credentials: TEST_AWS_CREDENTIALS, region: REGION, answer: () => ({ status: 200, json: {} }) });
      const verify = createHttpApiVerify({ base: new URL(standIn.url), auth: { kind: 'bearer', token: 'tkn-1' }, fetch: createNodeFetch(), timeoutMs: 2_000, now: () => new Date() });
      await verify(IMAGE, 'team-a');
      expect(standIn.received[0]?.headers['authorization']).toBe('Bearer tkn-1');
      expect(standIn.received[0]?.headers['x-amz-date']).toBeUndefined();
    });
  });

  describe.each<[string, StandInReply]>([
    ['answers HTTP 500', { status: 500, json: { message: 'Internal Server Error' } }],
    ['answers HTTP 400', { status: 400, json: { error: { code: 'REQUEST_INVALID' } } }],
    ['answers JSON that is not the contract', { status: 200, json: { allowed: 'yes' } }],
    ['answers malformed JSON', { status: 200, raw: '{"allowed": true,' }],
    ['answers more than 256 KiB', { status: 200, raw: `{"allowed":true,"pad":"${'x'.repeat(300 * 1024)}"}` }],
    ['answers an allow for another image', { status: 200, json: allowAnswer('registry.example.com/team/other:v1', DIGEST) }],
    ['never answers', { hang: true }],
    ['answers a page that is not JSON', { status: 200, raw: `${LEAK}<html>${LEAK}</html>` }],
    ['answers the contract with a field of its own', { status: 200, json: { ...(allowAnswer(IMAGE, DIGEST) as object), [LEAK]: true } }],
    ['answers the contract with a policy field of its own', { status: 200, json: { ...(allowAnswer(IMAGE, DIGEST) as object), policy: { kind: 'ImagePolicy', name: 'p', pattern: '*', [LEAK]: 1 } } }],
  ])('when the function %s', (_, reply) => {
    it('denies with TRUST_SERVER_UNAVAILABLE, never allows, and repeats nothing of the answer', async () => {
      const { result } = await verifyAgainst(() => reply, { timeoutMs: 300 });
      expect(result).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_SERVER_UNAVAILABLE'], signers: [] });
      expect(result.reasons[0]).toContain(IMAGE);
      expect(result.reasons.join(' ')).not.toContain(LEAK.slice(0, 4));
    });
  });

  describe('when the connection is refused', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE', async () => {
      const verify = createHttpApiVerify({ base: new URL(`http://127.0.0.1:${await findClosedPort()}`), auth: SIGV4, fetch: createNodeFetch(), timeoutMs: 2_000, now: () => new Date() });
      expect(await verify(IMAGE, 'team-a')).toMatchObject({ allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });
  });
});

describe('decodeHttpApiAuth', () => {
  const keys = { AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 's' };

  describe('when TRUSTGATE_FUNCTIONS_TOKEN is set', () => {
    it('chooses the bearer token', () => {
      expect(decodeHttpApiAuth({ ...keys, TRUSTGATE_FUNCTIONS_TOKEN: 't' }, new URL('https://api.example.com'))).toEqual({ kind: 'bearer', token: 't' });
    });
  });

  describe('when the host is an execute-api or function URL host', () => {
    it('takes the service and region from it', () => {
      expect(decodeHttpApiAuth(keys, new URL('https://abc123.execute-api.us-east-2.amazonaws.com'))).toMatchObject({ scope: { service: 'execute-api', region: 'us-east-2' } });
      expect(decodeHttpApiAuth(keys, new URL('https://xyz.lambda-url.ap-south-1.on.aws'))).toMatchObject({ scope: { service: 'lambda', region: 'ap-south-1' } });
    });
  });

  describe('when the host is a custom domain', () => {
    it('signs for execute-api in AWS_REGION', () => {
      expect(decodeHttpApiAuth({ ...keys, AWS_REGION: 'eu-central-1' }, new URL('https://trust.example.com'))).toMatchObject({ scope: { service: 'execute-api', region: 'eu-central-1' } });
    });

    it('rejects with CONFIG_INVALID without a region', () => {
      expect(() => decodeHttpApiAuth(keys, new URL('https://trust.example.com'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });

  describe('when there are no credentials', () => {
    it('rejects with CONFIG_INVALID', () => {
      expect(() => decodeHttpApiAuth({}, new URL('https://abc.execute-api.eu-west-1.amazonaws.com'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });
});

describe('createHttpApiVerify with the workload\'s pull-secret credentials', () => {
  it('passes them in the signed policy-form request, and the answer names none of them', async () => {
    standIn = await startHttpApiStandIn({ credentials: TEST_AWS_CREDENTIALS, region: REGION, answer: (request) => ({ status: 200, json: allowAnswer((JSON.parse(request.body) as { image: string }).image, DIGEST) }) });
    const verify = createHttpApiVerify({ base: new URL(standIn.url), auth: SIGV4, fetch: createNodeFetch(), timeoutMs: 2_000, now: () => new Date() });
    const credentials = [{ key: 'registry.example.com', source: 'Secret team-a/regcred', credential: { username: 'robot', password: 'pw-9f3k' } }];
    const result = await verify(IMAGE, 'team-a', undefined, credentials);
    expect(standIn.signatureFailures).toEqual([]);
    expect(JSON.parse(standIn.received[0]?.body ?? '{}')).toEqual({
      image: IMAGE,
      namespace: 'team-a',
      registryCredentials: [{ registry: 'registry.example.com', source: 'Secret team-a/regcred', username: 'robot', password: 'pw-9f3k' }],
    });
    expect(JSON.stringify(result)).not.toContain('pw-9f3k');
  });
});
