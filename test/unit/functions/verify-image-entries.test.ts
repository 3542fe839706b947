// The verify-image function's contract as each platform drives it, over a verifier port
// that answers from a table (the real verifier is exercised by the integration suites).
import { describe, expect, it } from 'vitest';
import { parseJsonAs } from '../../support/parse-json-as.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement } from '../../../shared/trust/verifier.js';
import { createLambdaEntry } from '../../../functions/platform/lambda-entry.js';
import { ok, type FunctionResponse } from '../../../functions/platform/function-response.js';
import { createOpenWhiskMain } from '../../../functions/platform/openwhisk-entry.js';
import { MAX_REQUEST_BODY_BYTES } from '../../../functions/platform/request-body.js';
import { createVerifyImageHandler } from '../../../functions/verify-image/handler.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

const verifier: ImageVerifier<NotaryRequirement> = {
  kind: 'notary',
  verify: (image) => {
    if (image.repository === 'team/signed') return Promise.resolve({ digest: DIGEST, signers: ['targets/releases'] });
    if (image.repository === 'team/down') return Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'trust server https://n.example.com is unreachable'));
    if (image.repository === 'team/bug') return Promise.reject(new TypeError('boom'));
    return Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, 'no signed target for tag v1'));
  },
};
const handle = createVerifyImageHandler({ notary: verifier, clock: { now: () => new Date('2026-11-27T00:00:00Z') }, logger: silentLogger, allowExplicitTrust: true });
const lambda = createLambdaEntry(handle, silentLogger);
const openwhisk = createOpenWhiskMain(() => handle, () => silentLogger);
const context = {} as never;

const trust = { server: 'https://n.example.com' };

describe('verify-image handler', () => {
  it('answers allowed with the signed digest and its signers', async () => {
    const response = await handle({ image: 'reg.example.com/team/signed:v1', trust });
    expect(response).toEqual({
      statusCode: 200,
      body: { allowed: true, image: 'reg.example.com/team/signed:v1', digest: DIGEST, reasons: [], codes: [], signers: ['targets/releases'], verifiedBy: ['notary'] },
    });
  });

  it('answers a denial as HTTP 200 with the code and a reason naming the image', async () => {
    const response = await handle({ image: 'reg.example.com/team/unsigned:v1', trust });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_NO_SIGNED_TARGET'], signers: [] });
    expect((response.body as { reasons: string[] }).reasons[0]).toContain('reg.example.com/team/unsigned:v1');
  });

  it('fails closed when the trust server is unreachable', async () => {
    const response = await handle({ image: 'reg.example.com/team/down:v1', trust });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] });
  });

  it('denies a malformed image reference with IMAGE_REF_INVALID', async () => {
    const response = await handle({ image: 'Reg/UPPER:v1', trust });
    expect(response.body).toMatchObject({ allowed: false, codes: ['IMAGE_REF_INVALID'] });
  });

  it('answers malformed input with 400 listing the bad fields', async () => {
    const response = await handle({ image: '', trust: { signers: 'x' } });
    expect(response.statusCode).toBe(400);
    const paths = (response.body as { error: { problems: { path: string }[] } }).error.problems.map((p) => p.path);
    expect(paths).toEqual(['image', 'trust.signers']);
  });

  it('answers an unexpected failure with 500 and no detail', async () => {
    const response = await handle({ image: 'reg.example.com/team/bug:v1', trust });
    expect(response).toEqual({ statusCode: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
  });
});

describe('verify-image on Lambda (API Gateway HTTP API v2 events)', () => {
  it('decodes a JSON body and encodes the answer', async () => {
    const result = await lambda({ body: JSON.stringify({ image: 'reg.example.com/team/signed:v1', trust }) }, context);
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('application/json');
    expect(JSON.parse(result.body)).toMatchObject({ allowed: true, digest: DIGEST });
  });

  it('decodes a base64-encoded body', async () => {
    const body = Buffer.from(JSON.stringify({ image: 'reg.example.com/team/signed:v1', trust })).toString('base64');
    expect((await lambda({ body, isBase64Encoded: true }, context)).statusCode).toBe(200);
  });

  it('answers a body that is not JSON with 400', async () => {
    const result = await lambda({ body: '{not json' }, context);
    expect(result.statusCode).toBe(400);
    expect(parseJsonAs<{ error: { code: string } }>(result.body).error.code).toBe('REQUEST_INVALID');
  });

  it('answers an empty body with 400', async () => {
    expect((await lambda({}, context)).statusCode).toBe(400);
  });
});

describe('verify-image on OpenWhisk (main(params))', () => {
  it('takes the request from params of a non-raw web action', async () => {
    const result = await openwhisk({ image: 'reg.example.com/team/signed:v1', trust, __ow_method: 'post', __ow_headers: {} });
    expect(result).toMatchObject({ statusCode: 200, body: { allowed: true, digest: DIGEST } });
  });

  it('takes the request from a base64 __ow_body of a raw web action', async () => {
    const __ow_body = Buffer.from(JSON.stringify({ image: 'reg.example.com/team/signed:v1', trust })).toString('base64');
    expect(await openwhisk({ __ow_body, __ow_method: 'post' })).toMatchObject({ statusCode: 200, body: { allowed: true } });
  });

  it('answers empty params with a clear 400 instead of throwing', async () => {
    const result = await openwhisk({});
    expect(result.statusCode).toBe(400);
    expect(result.body).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
  });

  it('answers params that are not an object with 400', async () => {
    expect((await openwhisk(null)).statusCode).toBe(400);
  });

  it('answers params nested 200,000 levels deep with 400 REQUEST_INVALID, as parsed by the platform', async () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    const result = await openwhisk({ image: 'reg.example.com/team/signed:v1', trust: { server: deep } });
    expect(result).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
    const raw = await openwhisk({ __ow_body: `{"image":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, __ow_method: 'post' });
    expect(raw).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
  });
});

describe('verify-image request bodies over the bound (256 KiB)', () => {
  // A body of exactly `bytes` bytes of JSON.
  const bodyOf = (bytes: number): string => {
    const start = JSON.stringify({ image: 'reg.example.com/team/signed:v1', pad: '' });
    return start.replace('"pad":""', `"pad":"${'x'.repeat(bytes - start.length)}"`);
  };
  // The OpenWhisk and Lambda entries over a handler that records the bodies it is given.
  const recorded = () => {
    const bodies: unknown[] = [];
    const handler = (body: unknown): Promise<FunctionResponse> => {
      bodies.push(body);
      return Promise.resolve(ok({ seen: true }));
    };
    return { bodies, main: createOpenWhiskMain(() => handler, () => silentLogger), lambda: createLambdaEntry(handler, silentLogger) };
  };

  it('are refused by a raw OpenWhisk web action, plain or base64, with the answer Lambda gives, before the handler runs', async () => {
    const big = bodyOf(MAX_REQUEST_BODY_BYTES + 1);
    const { bodies, main, lambda: lambdaEntry } = recorded();
    const lambdaAnswer = await lambdaEntry({ body: big }, context);
    expect(lambdaAnswer.statusCode).toBe(400);
    expect(parseJsonAs<{ error: { code: string } }>(lambdaAnswer.body).error.code).toBe('REQUEST_INVALID');
    for (const __ow_body of [big, Buffer.from(big).toString('base64'), Buffer.from(bodyOf(8 * 1024 * 1024)).toString('base64')]) {
      const answer = await main({ __ow_body, __ow_method: 'post' });
      expect(answer.statusCode).toBe(400);
      expect(answer.body).toEqual(parseJsonAs<unknown>(lambdaAnswer.body));
    }
    expect(bodies).toEqual([]);
  });

  it('at the bound are taken by both, plain, base64 and base64 with line breaks', async () => {
    const largest = bodyOf(MAX_REQUEST_BODY_BYTES);
    const { bodies, main } = recorded();
    const base64 = Buffer.from(largest).toString('base64');
    const wrapped = base64.replace(/.{64}/g, '$&\r\n');
    for (const __ow_body of [largest, base64, wrapped]) {
      expect(await main({ __ow_body, __ow_method: 'post' })).toMatchObject({ statusCode: 200, body: { seen: true } });
    }
    expect((await recorded().lambda({ body: base64, isBase64Encoded: true }, context)).statusCode).toBe(200);
    expect(bodies).toHaveLength(3);
  });
});
