// The policy-lookup function's contract as each platform drives it.
import { describe, expect, it } from 'vitest';
import { parseJsonAs } from '../../support/parse-json-as.js';
import { stringContaining } from '../../support/matchers.js';
import { REGISTRY_POLICY_MATCH, registryClusterPolicy } from '../../support/policy-fixtures.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { silentLogger } from '../../../shared/ports.js';
import { createLambdaEntry } from '../../../functions/platform/lambda-entry.js';
import { createOpenWhiskMain } from '../../../functions/platform/openwhisk-entry.js';
import { createPolicyLookupHandler } from '../../../functions/policy-lookup/handler.js';

const SET = decodePolicyDocuments([{ source: 'policies.yaml', text: registryClusterPolicy() }]);

const handle = createPolicyLookupHandler({ policies: () => Promise.resolve(SET), logger: silentLogger });
const lambda = createLambdaEntry(handle, silentLogger);
const openwhisk = createOpenWhiskMain(() => handle, () => silentLogger);
const context = {} as never;

function problemPaths(body: unknown): string[] {
  return (body as { error: { problems: { path: string }[] } }).error.problems.map((p) => p.path);
}

describe('policy-lookup handler', () => {
  describe('when a policy matches', () => {
    it('answers 200 with the policy, its source and the enforced policies', async () => {
      expect(await handle({ image: 'reg.example.com/team/app:v1', namespace: 'default' })).toEqual({ statusCode: 200, body: REGISTRY_POLICY_MATCH });
    });
  });

  describe('when several patterns match', () => {
    it('answers which won, by which rule, and every runner-up', async () => {
      const set = decodePolicyDocuments([{ source: 'policies.yaml', text: registryClusterPolicy('reg.example.com/team/app', 'reg.example.com/team/app:v1*') }]);
      const precedenceHandle = createPolicyLookupHandler({ policies: () => Promise.resolve(set), logger: silentLogger });
      const response = await precedenceHandle({ image: 'reg.example.com:443/team/app:v1.2', namespace: 'default' });
      expect(response.body).toMatchObject({
        matched: true,
        source: { pattern: 'reg.example.com/team/app:v1*' },
        precedence: {
          rule: 'score',
          winner: { normalised: 'reg.example.com/team/app:v1*', score: 27, exact: false },
          runnersUp: [
            { source: { pattern: 'reg.example.com/team/app' }, score: 24, exact: false },
            { source: { pattern: 'reg.example.com/*' }, score: 16, exact: false },
          ],
        },
      });
    });
  });

  describe('when no policy matches', () => {
    it('answers 200 with matched false and the reason', async () => {
      const response = await handle({ image: 'other.example.com/app', namespace: 'default' });
      expect(response.statusCode).toBe(200);
      expect(response.body).toMatchObject({ matched: false, enforced: [], reason: stringContaining('other.example.com/app') });
    });
  });

  describe('when no policies are configured', () => {
    it('answers matched false: no policies are configured', async () => {
      const unconfigured = createPolicyLookupHandler({ logger: silentLogger });
      expect(await unconfigured({ image: 'nginx', namespace: 'default' })).toEqual({
        statusCode: 200,
        body: { matched: false, reason: 'no policies are configured', enforced: [] },
      });
    });
  });

  describe('when the request is malformed', () => {
    it('answers 400 listing the image when the reference is invalid', async () => {
      const response = await handle({ image: 'Reg/UPPER:v1', namespace: 'default' });
      expect(response.statusCode).toBe(400);
      expect(problemPaths(response.body)).toEqual(['image']);
    });

    it('answers 400 listing every bad field', async () => {
      const response = await handle({ image: '', namespace: 'No_Such', extra: 1 });
      expect(response.statusCode).toBe(400);
      expect(response.body).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
      expect(problemPaths(response.body)).toEqual(['extra', 'image', 'namespace']);
    });
  });

  describe('when the policies cannot be loaded', () => {
    it('answers 500 and says nothing more', async () => {
      const broken = createPolicyLookupHandler({ policies: () => Promise.reject(new Error('disk gone')), logger: silentLogger });
      expect(await broken({ image: 'nginx', namespace: 'default' })).toEqual({ statusCode: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
    });
  });
});

describe('policy-lookup on Lambda (API Gateway HTTP API v2 events)', () => {
  it('decodes a JSON body and encodes the answer', async () => {
    const result = await lambda({ body: JSON.stringify({ image: 'reg.example.com/team/app:v1', namespace: 'default' }) }, context);
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('application/json');
    expect(JSON.parse(result.body)).toEqual(REGISTRY_POLICY_MATCH);
  });

  it('decodes a base64-encoded body', async () => {
    const body = Buffer.from(JSON.stringify({ image: 'reg.example.com/a', namespace: 'default' })).toString('base64');
    const result = await lambda({ body, isBase64Encoded: true }, context);
    expect(JSON.parse(result.body)).toMatchObject({ matched: true });
  });

  it('answers an invalid image with 400 listing image', async () => {
    const result = await lambda({ body: JSON.stringify({ image: 'UPPER/Case', namespace: 'default' }) }, context);
    expect(result.statusCode).toBe(400);
    expect(problemPaths(JSON.parse(result.body))).toEqual(['image']);
  });

  it('answers a body that is not JSON with 400', async () => {
    const result = await lambda({ body: '{not json' }, context);
    expect(result.statusCode).toBe(400);
    expect(parseJsonAs<{ error: { code: string } }>(result.body).error.code).toBe('REQUEST_INVALID');
  });
});

describe('policy-lookup on OpenWhisk (main(params))', () => {
  it('takes the request from params of a non-raw web action', async () => {
    const result = await openwhisk({ image: 'reg.example.com/team/app:v1', namespace: 'default', __ow_method: 'post', __ow_headers: {} });
    expect(result).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: REGISTRY_POLICY_MATCH });
  });

  it('takes the request from a base64 __ow_body of a raw web action', async () => {
    const __ow_body = Buffer.from(JSON.stringify({ image: 'reg.example.com/a', namespace: 'default' })).toString('base64');
    expect(await openwhisk({ __ow_body, __ow_method: 'post' })).toMatchObject({ statusCode: 200, body: { matched: true } });
  });

  it('answers an invalid image with 400 listing image', async () => {
    const result = await openwhisk({ image: 'UPPER/Case', namespace: 'default' });
    expect(result.statusCode).toBe(400);
    expect(problemPaths(result.body)).toEqual(['image']);
  });

  it('answers empty params with 400', async () => {
    expect((await openwhisk({})).statusCode).toBe(400);
  });
});
