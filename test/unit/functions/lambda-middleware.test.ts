// The Lambda middleware stack: header names lower-cased, the JSON body decoded once, the
// request schema as a first gate with the decoder's 400 contract, and one error encoder.
import { generateKeyPairSync } from 'node:crypto';
import middy from '@middy/core';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLambdaEntry } from '../../../functions/platform/lambda-entry.js';
import { normaliseHeaders, type DecodedHttpApiEvent } from '../../../functions/platform/lambda-middleware.js';
import policyLookupSchema from '../../../functions/policy-lookup/request-schema.json' with { type: 'json' };
import verifyImageSchema from '../../../functions/verify-image/request-schema.json' with { type: 'json' };
import { silentLogger } from '../../../shared/ports.js';
import { decodePolicyLookupRequest } from '../../../shared/policy/policy-lookup-request.js';
import { decodeVerifyImageRequest } from '../../../shared/verify/verify-image-request.js';

const context = {} as never;
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function recordingEntry() {
  const bodies: unknown[] = [];
  const headers: unknown[] = [];
  const lambda = createLambdaEntry(
    (body, request) => {
      bodies.push(body);
      headers.push(request.headers);
      return Promise.resolve({ statusCode: 200, body: { ok: true } });
    },
    silentLogger,
    { requestSchema: { schema: verifyImageSchema, name: 'verify-image' } },
  );
  return { bodies, headers, lambda };
}

describe('normaliseHeaders', () => {
  it('lower-cases header names and folds repeated ones', async () => {
    const handler = middy<DecodedHttpApiEvent, unknown>()
      .use(normaliseHeaders())
      .handler((event) => Promise.resolve(event.headers));
    const headers = await handler({ headers: { Authorization: 'Bearer a', 'X-Trace': '1', 'x-trace': '2', 'Content-Type': 'application/json' } }, context);
    expect(headers).toEqual({ authorization: 'Bearer a', 'x-trace': '1,2', 'content-type': 'application/json' });
  });

  it('keeps headers named like properties of Object.prototype as data', async () => {
    const handler = middy<DecodedHttpApiEvent, unknown>()
      .use(normaliseHeaders())
      .handler((event) => Promise.resolve(event.headers));
    const sent = JSON.parse('{"__proto__":"a","Constructor":"b","toString":"c"}') as Record<string, string>;
    const headers = (await handler({ headers: sent }, context)) as Record<string, string>;
    expect(Object.entries(headers)).toEqual([['__proto__', 'a'], ['constructor', 'b'], ['tostring', 'c']]);
  });
});

describe('createLambdaEntry with a request schema', () => {
  describe('when the body violates the schema', () => {
    it('answers 400 REQUEST_INVALID with every bad field and never runs the handler', async () => {
      const { bodies, lambda } = recordingEntry();
      const body = JSON.stringify({ image: 42, extra: 1, trust: { signers: [{ name: 'alice' }], rootKeyIds: ['XYZ'], port: 1 } });
      const result = await lambda({ body }, context);
      expect(result.statusCode).toBe(400);
      const error = (JSON.parse(result.body) as { error: { code: string; problems: { path: string }[] } }).error;
      expect(error.code).toBe('REQUEST_INVALID');
      expect(error.problems.map((problem) => problem.path).sort()).toEqual(['extra', 'image', 'trust.port', 'trust.rootKeyIds[0]', 'trust.signers[0].publicKey']);
      expect(bodies).toEqual([]);
    });
  });

  describe('when the body is valid', () => {
    it('passes the decoded body and the lower-cased headers to the handler once', async () => {
      const { bodies, headers, lambda } = recordingEntry();
      const body = JSON.stringify({ image: 'nginx', trust: { server: 'https://n.example.com' } });
      const result = await lambda({ body, headers: { 'Content-Type': 'application/json' } }, context);
      expect(result.statusCode).toBe(200);
      expect(bodies).toEqual([{ image: 'nginx', trust: { server: 'https://n.example.com' } }]);
      expect(headers).toEqual([{ 'content-type': 'application/json' }]);
    });
  });

  describe('when the body nests 100,000 levels deep', () => {
    it('answers 400 REQUEST_INVALID and never runs the handler', async () => {
      const { bodies, lambda } = recordingEntry();
      const result = await lambda({ body: `{"image":${'['.repeat(100_000)}${']'.repeat(100_000)}}` }, context);
      expect(result.statusCode).toBe(400);
      expect((JSON.parse(result.body) as { error: { code: string } }).error.code).toBe('REQUEST_INVALID');
      expect(bodies).toEqual([]);
    });
  });

  describe('when the handler throws something unexpected', () => {
    it('answers 500 INTERNAL with no detail', async () => {
      const lambda = createLambdaEntry(() => Promise.reject(new TypeError('secret detail')), silentLogger);
      const result = await lambda({ body: '{}' }, context);
      expect(result).toMatchObject({ statusCode: 500 });
      expect(JSON.parse(result.body)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    });
  });
});

// The schema is a first gate only: it must never reject a request the handler's decoder
// accepts, or the two would disagree about the contract.
describe('the request schemas', () => {
  const ajv = new Ajv({ allErrors: true, strict: true });

  // The middleware compiles them without the meta-schema check (start-up cost): it is made here.
  it('are valid JSON Schemas (draft-07 meta-schema)', () => {
    for (const schema of [verifyImageSchema, policyLookupSchema]) expect(ajv.validateSchema(schema), ajv.errorsText()).toBe(true);
  });
  const accepts = (decode: (input: unknown) => unknown, input: unknown): boolean => {
    try {
      decode(input);
      return true;
    } catch {
      return false;
    }
  };
  const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  const withoutUndefined = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
  const image = fc.constantFrom('nginx', 'registry.example.com/team/app:v1', '', 'Reg/UPPER', 42, null);
  const namespace = fc.constantFrom('default', 'team-a', 'Bad_NS', '', null);

  it('verify-image: never rejects what decodeVerifyImageRequest accepts', () => {
    const validate = ajv.compile(verifyImageSchema);
    const trust = fc.constantFrom(
      null,
      {},
      { server: 'https://n.example.com' },
      { server: 5 },
      { signers: null },
      { signers: [{ name: 'alice', publicKey: PEM }] },
      { signers: [{ name: 'targets/ci', publicKey: PEM, comment: 'x' }] },
      { rootKeyIds: ['ab'.repeat(32)] },
      { rootKeyIds: null },
      { rootKeyIds: ['AB'] },
    );
    fc.assert(
      fc.property(optional(image), optional(namespace), optional(trust), optional(fc.constant(1)), (i, n, t, extra) => {
        const request = withoutUndefined({ image: i, namespace: n, trust: t, extra });
        if (accepts(decodeVerifyImageRequest, request)) expect(validate(request)).toBe(true);
      }),
    );
  });

  it('policy-lookup: never rejects what decodePolicyLookupRequest accepts', () => {
    const validate = ajv.compile(policyLookupSchema);
    fc.assert(
      fc.property(optional(image), optional(namespace), optional(fc.constant(1)), (i, n, extra) => {
        const request = withoutUndefined({ image: i, namespace: n, extra });
        if (accepts(decodePolicyLookupRequest, request)) expect(validate(request)).toBe(true);
      }),
    );
  });
});
