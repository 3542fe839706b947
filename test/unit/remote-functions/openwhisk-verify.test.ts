// verify-image on OpenWhisk, against a loopback stand-in of the REST API: the exact requests
// for a blocking invoke (Basic auth) and for the web action (secret header), and a denial for
// every way the platform can fail.
import { afterEach, describe, expect, it } from 'vitest';
import { assertWebNamespace, createOpenWhiskVerify, type OpenWhiskTarget } from '../../../infra/remote-functions/openwhisk-verify.js';
import { createNodeFetch } from '../../../shared/http/node-fetch.js';
import { findClosedPort } from '../../support/local-http-server.js';
import { allowAnswer, denyAnswer, startOpenWhiskStandIn, type StandIn, type StandInReply } from '../../support/remote-function-stand-ins.js';

const IMAGE = 'registry.example.com/team/app:v1';
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const AUTH = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';

let standIn: StandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

const envelope = (body: unknown, statusCode = 200) => ({ status: 200, json: { statusCode, headers: { 'content-type': 'application/json' }, body } });

async function verifyAgainst(reply: (body: { image: string }) => StandInReply, target: (apihost: string) => OpenWhiskTarget, timeoutMs = 2_000) {
  standIn = await startOpenWhiskStandIn((request) => reply(JSON.parse(request.body) as { image: string }));
  const verify = createOpenWhiskVerify({ target: target(standIn.url), fetch: createNodeFetch(), timeoutMs });
  return { standIn, result: await verify(IMAGE, 'team-a') };
}

const invoke = (apihost: string): OpenWhiskTarget => ({ kind: 'invoke', apihost, auth: AUTH, namespace: 'guest' });

describe('createOpenWhiskVerify', () => {
  describe('when invoking the action (default)', () => {
    it('POSTs a blocking invoke with Basic auth and the request as params, and returns the allow', async () => {
      const { standIn, result } = await verifyAgainst(({ image }) => envelope(allowAnswer(image, DIGEST)), invoke);
      expect(standIn.received).toHaveLength(1);
      const [request] = standIn.received;
      expect(request).toMatchObject({ method: 'POST', url: '/api/v1/namespaces/guest/actions/trustgate/verify-image?blocking=true&result=true' });
      expect(request?.headers['authorization']).toBe(`Basic ${Buffer.from(AUTH).toString('base64')}`);
      expect(request?.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request?.body ?? '')).toEqual({ image: IMAGE, namespace: 'team-a' });
      expect(result).toMatchObject({ allowed: true, digest: DIGEST });
    });

    it('uses the default namespace _ when none is configured', async () => {
      const { standIn } = await verifyAgainst(({ image }) => envelope(allowAnswer(image, DIGEST)), (apihost) => ({ kind: 'invoke', apihost, auth: AUTH }));
      expect(standIn.received[0]?.url).toBe('/api/v1/namespaces/_/actions/trustgate/verify-image?blocking=true&result=true');
    });

    it('returns a denial as the action answered it', async () => {
      const { result } = await verifyAgainst(({ image }) => envelope(denyAnswer(image, 'TRUST_SIGNER_MISSING')), invoke);
      expect(result).toMatchObject({ allowed: false, codes: ['TRUST_SIGNER_MISSING'] });
    });
  });

  describe('when calling the web action with its secret', () => {
    it('POSTs to the .json web URL with X-Require-Whisk-Auth and no Basic auth', async () => {
      const { standIn, result } = await verifyAgainst(
        ({ image }) => envelope(allowAnswer(image, DIGEST)),
        (apihost) => ({ kind: 'web', apihost, namespace: 'guest', secret: 'web-secret-1' }),
      );
      const [request] = standIn.received;
      expect(request).toMatchObject({ method: 'POST', url: '/api/v1/web/guest/trustgate/verify-image.json' });
      expect(request?.headers['x-require-whisk-auth']).toBe('web-secret-1');
      expect(request?.headers['authorization']).toBeUndefined();
      expect(JSON.parse(request?.body ?? '')).toEqual({ image: IMAGE, namespace: 'team-a' });
      expect(result).toMatchObject({ allowed: true, digest: DIGEST });
    });
  });

  describe.each<[string, StandInReply]>([
    ['answers HTTP 500', { status: 500, json: { error: 'internal' } }],
    ['answers 502 for a failed activation', { status: 502, json: { error: 'The action did not produce a valid response' } }],
    ['answers 202 (still running)', { status: 202, json: { activationId: 'a1' } }],
    ['answers 401', { status: 401, json: { error: 'The supplied authentication is invalid' } }],
    ['returns statusCode 500 from the action', envelope({ error: { code: 'INTERNAL', message: 'internal error' } }, 500)],
    ['returns a result without statusCode', { status: 200, json: allowAnswer('registry.example.com/team/app:v1', DIGEST) }],
    ['returns a body that is not the contract', envelope({ allowed: true })],
    ['answers malformed JSON', { status: 200, raw: '{"statusCode":200,"body":' }],
    ['answers more than 256 KiB', { status: 200, raw: `{"statusCode":200,"pad":"${'y'.repeat(300 * 1024)}"}` }],
    ['never answers', { hang: true }],
  ])('when the platform %s', (_, reply) => {
    it('denies with TRUST_SERVER_UNAVAILABLE, never allows', async () => {
      const { result } = await verifyAgainst(() => reply, invoke, 300);
      expect(result).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_SERVER_UNAVAILABLE'], signers: [] });
    });
  });

  describe('when the connection is refused', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE', async () => {
      const verify = createOpenWhiskVerify({ target: invoke(`http://127.0.0.1:${await findClosedPort()}`), fetch: createNodeFetch(), timeoutMs: 2_000 });
      expect(await verify(IMAGE, 'team-a')).toMatchObject({ allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });
  });

  describe('when the API host is plain http on a non-loopback host', () => {
    it('rejects with CONFIG_INVALID', () => {
      expect(() => createOpenWhiskVerify({ target: invoke('http://openwhisk.example.com'), fetch: createNodeFetch(), timeoutMs: 1_000 })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    });
  });
});

describe('assertWebNamespace', () => {
  describe('when the namespace is missing or the default _', () => {
    it('rejects with CONFIG_INVALID', () => {
      for (const namespace of [undefined, '', '_']) expect(() => assertWebNamespace(namespace)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });
});
