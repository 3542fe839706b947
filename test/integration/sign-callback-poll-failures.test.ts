// sign-callback's scheduled changefeed poll as the platforms run it (the built Lambda and
// OpenWhisk bundles), when its trust server refuses connections or answers something that is
// not a changefeed: the answer carries the error's code and a 503 or 502 status, and none of
// the error's detail (the server's URL, what it sent, a stack).
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { findClosedPort, startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { runBundle, type BundleRun } from './support/run-bundle.js';

const GARBAGE = 'changefeed? <html>secret-looking-upstream-text</html>';

let closedServer: string;
let garbage: LocalServer;

beforeAll(async () => {
  ensureBuilt([bundlePath('sign-callback', 'lambda'), bundlePath('sign-callback', 'openwhisk')]);
  closedServer = `http://127.0.0.1:${await findClosedPort()}`;
  garbage = await startLocalServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(GARBAGE);
  });
});

afterAll(async () => {
  await garbage?.close();
});

function envFor(trustServer: string): Record<string, string> {
  return { TRUSTGATE_REGISTRY_HOST: '127.0.0.1:5000', TRUSTGATE_CALLBACK_TRUST_SERVER: trustServer, TRUSTGATE_POLICIES: `${PROJECT_ROOT}/examples/policies` };
}

// The scheduled poll's answer as the platform got it, as {statusCode, body}.
async function pollAnswer(platform: 'lambda' | 'openwhisk', trustServer: string): Promise<{ statusCode: number; body: unknown; text: string }> {
  const run: BundleRun = await runBundle(platform, bundlePath('sign-callback', platform), envFor(trustServer), [{ poll: true }]);
  if ('loadError' in run) throw new Error(`bundle failed to load: ${run.loadError}`);
  const [result] = run.results;
  if (result === undefined || 'thrown' in result) throw new Error(`the entry threw instead of answering: ${JSON.stringify(result)}`);
  const value = result.value as { statusCode: number; body: unknown };
  const body = typeof value.body === 'string' ? (JSON.parse(value.body) as unknown) : value.body;
  return { statusCode: value.statusCode, body, text: JSON.stringify(body) };
}

describe.each(['lambda', 'openwhisk'] as const)('sign-callback %s bundle, scheduled poll', (platform) => {
  describe('when the trust server refuses connections', () => {
    it('answers 503 with TRUST_SERVER_UNAVAILABLE and no detail', async () => {
      const answer = await pollAnswer(platform, closedServer);
      expect(answer.statusCode).toBe(503);
      expect(answer.body).toMatchObject({ error: { code: 'TRUST_SERVER_UNAVAILABLE' } });
      expect(answer.text).not.toContain('127.0.0.1');
      expect(answer.text).not.toMatch(/ECONNREFUSED|at .*\.m?js/);
    });
  });

  describe('when the trust server answers something that is not a changefeed', () => {
    it('answers 502 with TRUST_METADATA_INVALID and none of what the server sent', async () => {
      const answer = await pollAnswer(platform, garbage.url);
      expect(answer.statusCode).toBe(502);
      expect(answer.body).toMatchObject({ error: { code: 'TRUST_METADATA_INVALID' } });
      expect(answer.text).not.toContain('secret-looking-upstream-text');
      expect(answer.text).not.toContain(garbage.url);
    });
  });
});
