// `trustgate serve`'s POST /functions/sign-callback checks the caller's bearer token before it
// reads the request body: a caller without the token is answered 401 UNAUTHORIZED whatever
// its body (not JSON, over the 256 KiB bound, or not even sent yet), so it costs serve no
// body buffer and no JSON parse. A caller with the token gets the answers it always got
// (400 for a body that is not JSON, 413 for one over the bound). No event is ever processed
// here, so the registry host names nothing that listens.
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const TOKEN = 'callback-token-for-auth-tests';
const OVER_BOUND = 'x'.repeat(1024 * 1024);

let ca: TestCa;
let dir: string;
let serve: ServeProcess;

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('serve-callback-auth');
  const policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'open.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: open}\nspec:\n  repositories: [{name: "*", policy: {mutateImage: false}}]\n');
  serve = await startTrustgateServe({
    policiesDir,
    stateDir: join(dir, 'state'),
    caFile: ca.caFile,
    env: { TRUSTGATE_CALLBACK_TOKEN: TOKEN },
    extraArgs: ['--registry-host', '127.0.0.1:9'],
  });
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await removeDir(dir);
  await ca?.remove();
});

function postCallback(body: string, headers: Readonly<Record<string, string>>): Promise<HttpAnswer> {
  return httpsRequest(`${serve.url}/functions/sign-callback`, serve.caPem, { method: 'POST', headers, body });
}

// Posts headers announcing a body of `declared` bytes, sends only its first bytes, and
// answers what serve answers (the request is then abandoned).
function postWithoutBody(headers: Readonly<Record<string, string>>, declared: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${serve.url}/functions/sign-callback`, { method: 'POST', ca: serve.caPem, headers: { 'content-type': 'application/json', 'content-length': String(declared), ...headers } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
      outgoing.destroy();
    });
    outgoing.on('error', reject);
    outgoing.write('{"events":');
  });
}

async function unauthorizedCount(): Promise<number> {
  const metrics = await httpsRequest(`${serve.url}/metrics`, serve.caPem);
  const line = metrics.text.split('\n').find((entry) => entry.startsWith('trustgate_callback_events_total{') && entry.includes('outcome="unauthorized"'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('trustgate serve /functions/sign-callback authenticating its caller', { timeout: 60_000 }, () => {
  describe('when the caller has no valid token', () => {
    it('answers 401 UNAUTHORIZED for a body that is not JSON, with a wrong token or none, and counts each refusal', async () => {
      const before = await unauthorizedCount();
      for (const headers of [{ authorization: 'Bearer wrong-token' }, {}]) {
        const answer = await postCallback('{not json', headers);
        expect(answer.status).toBe(401);
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
      expect(await unauthorizedCount()).toBe(before + 2);
    });

    it('answers 401 UNAUTHORIZED for a body over the bound, not 413', async () => {
      const answer = await postCallback(OVER_BOUND, { authorization: 'Bearer wrong-token' });
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    });

    it('answers 401 before the body has been sent', async () => {
      expect(await postWithoutBody({ authorization: 'Bearer wrong-token' }, 200 * 1024)).toBe(401);
    });
  });

  describe('when the caller presents the token', () => {
    it('answers as before: 400 for a body that is not JSON, 413 for one over the bound', async () => {
      const before = await unauthorizedCount();
      const notJson = await postCallback('{not json', { authorization: `Bearer ${TOKEN}` });
      expect(notJson.status).toBe(400);
      expect(JSON.parse(notJson.text)).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
      const tooLarge = await postCallback(OVER_BOUND, { authorization: `Bearer ${TOKEN}` });
      expect(tooLarge.status).toBe(413);
      expect(await unauthorizedCount()).toBe(before);
    });
  });
});
