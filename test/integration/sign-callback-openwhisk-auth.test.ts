// The sign-callback OpenWhisk action as deployed (the plain code `trustgate deploy openwhisk`
// sends, initialised by the runtime's init in a process of its own) checks the registry's
// bearer token on __ow_headers before it decodes or parses the raw body (__ow_body), as
// Lambda's authorizer and `trustgate serve` do: a web call without the token is answered 401
// UNAUTHORIZED whatever it sent, even a body that no decoder or parser would accept (which,
// parsed first, would have been a 400). A call with the token, or an invocation made with the
// namespace's credentials (no __ow_method), gets the answers it always got. No event is
// processed, so the registry host names nothing that listens.
import { beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { runBundle, type BundleRun } from './support/run-bundle.js';

const TOKEN = 'callback-token-for-openwhisk-auth-tests';
const ENV = { TRUSTGATE_CALLBACK_TOKEN: TOKEN, TRUSTGATE_REGISTRY_HOST: '127.0.0.1:9', TRUSTGATE_POLICIES: `${PROJECT_ROOT}/examples/policies` };

const NOT_JSON = '{not json';
// Under the 256 KiB bound, yet deeper than the JSON reader accepts.
const TOO_DEEP = `{"events":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
// Base64 longer than any encoding of a body within the bound.
const OVER_BOUND_BASE64 = Buffer.from('x'.repeat(1024 * 1024)).toString('base64');
const PULL_EVENT = Buffer.from(JSON.stringify({ events: [{ id: 'ev-1', action: 'pull', target: {} }] })).toString('base64');

interface Answer {
  readonly statusCode: number;
  readonly body: unknown;
}

// A web action call with the raw body and the request headers as the platform passes them.
function webCall(body: string, headers: Readonly<Record<string, string>>): Record<string, unknown> {
  return { __ow_method: 'post', __ow_headers: { 'content-type': 'application/json', ...headers }, __ow_path: '', __ow_body: body };
}

// Each call's answer, in order.
async function answers(calls: readonly unknown[]): Promise<Answer[]> {
  const run: BundleRun = await runBundle('openwhisk', bundlePath('sign-callback', 'openwhisk'), ENV, calls);
  if ('loadError' in run) throw new Error(`the action failed to initialise: ${run.loadError}`);
  return run.results.map((result) => {
    if ('thrown' in result) throw new Error(`the action threw instead of answering: ${result.thrown}`);
    return result.value as Answer;
  });
}

beforeAll(() => {
  ensureBuilt([bundlePath('sign-callback', 'openwhisk')]);
});

describe('the sign-callback OpenWhisk action authenticating its caller', { timeout: 60_000 }, () => {
  describe('when a web call has no valid token', () => {
    it('answers 401 UNAUTHORIZED for bodies it would refuse as 400 once parsed, with a wrong token, another scheme or none', async () => {
      const refusedHeaders = [{ authorization: 'Bearer wrong-token' }, { authorization: `Basic ${Buffer.from(TOKEN).toString('base64')}` }, {}];
      const bodies = [NOT_JSON, Buffer.from(NOT_JSON).toString('base64'), TOO_DEEP, OVER_BOUND_BASE64, '!!!not base64!!!'];
      const calls = refusedHeaders.flatMap((headers) => bodies.map((body) => webCall(body, headers)));

      const results = await answers(calls);

      expect(results).toHaveLength(calls.length);
      for (const result of results) expect(result).toMatchObject({ statusCode: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    });

    it('answers 401 for a well-formed request too, whose fields the platform merged into the params', async () => {
      const [answer] = await answers([{ __ow_method: 'post', __ow_headers: { authorization: 'Bearer wrong-token' }, __ow_path: '', poll: true }]);

      expect(answer).toMatchObject({ statusCode: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    });
  });

  describe('when a web call presents the token', () => {
    it('answers as before: 400 REQUEST_INVALID for a body that is not JSON, too deep or over the bound, and the outcome of a valid one', async () => {
      const headers = { authorization: `Bearer ${TOKEN}` };

      const [notJson, notJsonBase64, tooDeep, overBound, valid, upperCaseHeader] = await answers([
        webCall(NOT_JSON, headers),
        webCall(Buffer.from(NOT_JSON).toString('base64'), headers),
        webCall(TOO_DEEP, headers),
        webCall(OVER_BOUND_BASE64, headers),
        webCall(PULL_EVENT, headers),
        webCall(PULL_EVENT, { Authorization: `Bearer ${TOKEN}` }),
      ]);

      for (const refused of [notJson, notJsonBase64, tooDeep, overBound]) expect(refused).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
      expect(valid).toMatchObject({ statusCode: 200, body: { outcomes: [{ id: 'ev-1', outcome: 'ignored' }] } });
      expect(upperCaseHeader).toMatchObject({ statusCode: 200, body: { outcomes: [{ id: 'ev-1', outcome: 'ignored' }] } });
    });
  });

  describe('when the namespace itself invokes the action (no __ow_method)', () => {
    it('needs no token and answers 400 REQUEST_INVALID for a body that is not JSON', async () => {
      const [answer] = await answers([{ __ow_body: NOT_JSON }]);

      expect(answer).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
    });
  });
});
