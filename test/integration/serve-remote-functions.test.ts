// `trustgate serve --functions URL`: the built CLI answers AdmissionReviews by calling a
// deployed verify-image function, here a loopback stand-in of the AWS HTTP API that checks
// every SigV4 signature. The allow, the denial and the digest pinned by the patch all come
// from the remote answers; a remote that fails denies. (No real AWS or OpenWhisk runs here.)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonAs } from '../support/parse-json-as.js';
import { applyReplacePatch, objectOfKind, podSpec, reviewFor, type Json } from '../support/admission-reviews.js';
import { allowAnswer, denyAnswer, startHttpApiStandIn, TEST_AWS_CREDENTIALS, type StandIn } from '../support/remote-function-stand-ins.js';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { cliHomeEnvironment } from './support/cli-home.js';
import { TRUSTGATE_BIN } from './support/trustgate-cli.js';
import { httpsRequest } from './support/trustgate-serve.js';

const DIGEST_HEX = '5e'.repeat(32);
const SIGNED = 'registry.test:5000/remote/app:v1';
const UNSIGNED = 'registry.test:5000/remote/unsigned:v1';
const BROKEN = 'registry.test:5000/remote/broken:v1';

interface ReviewAnswer {
  response: { uid: string; allowed: boolean; status: { code: number; message: string }; patchType?: string; patch?: string };
}

let dir: string;
let standIn: StandIn & { signatureFailures: string[] };
let serve: { url: string; caPem: string; output: () => string; stop: () => Promise<number | null> };

beforeAll(async () => {
  ensureBuilt([join(PROJECT_ROOT, 'dist/cli.mjs')]);
  dir = await mkdtemp(join(tmpdir(), 'trustgate-remote-'));
  await writeFile(join(dir, 'policies.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: local-only\nspec:\n  repositories: []\n');
  standIn = await startHttpApiStandIn({
    credentials: TEST_AWS_CREDENTIALS,
    region: 'eu-west-1',
    answer: (request) => {
      const { image } = JSON.parse(request.body) as { image: string };
      if (image === SIGNED) return { status: 200, json: allowAnswer(image, `sha256:${DIGEST_HEX}`) };
      if (image === UNSIGNED) return { status: 200, json: denyAnswer(image, 'TRUST_NO_SIGNED_TARGET') };
      return { status: 500, json: { message: 'Internal Server Error' } };
    },
  });
  serve = await startServe([`--functions`, `${standIn.url}/prod`]);
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await standIn?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// The built CLI with the AWS credentials of the stand-in in its environment and nothing else.
async function startServe(extra: readonly string[]): Promise<typeof serve> {
  const child = spawn(process.execPath, [TRUSTGATE_BIN, 'serve', '--policies', join(dir, 'policies.yaml'), '--state-dir', join(dir, 'state'), '--port', '0', ...extra], {
    env: {
      PATH: process.env['PATH'],
      ...cliHomeEnvironment(),
      AWS_ACCESS_KEY_ID: TEST_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_AWS_CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: TEST_AWS_CREDENTIALS.sessionToken,
      AWS_REGION: 'eu-west-1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stdout}\n${stderr}`)), 15_000);
    child.stdout.on('data', () => {
      const found = /listening on (https:\/\/\S+)/.exec(stdout)?.[1];
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
  const caFile = /webhook CA certificate (?:written to|kept at) (\S+)/.exec(stdout)?.[1] ?? '';
  return { url, caPem: await readFile(caFile, 'utf8'), output: () => stdout, stop: async () => (child.kill('SIGTERM'), exited) };
}

async function admit(review: Json): Promise<ReviewAnswer> {
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(review) });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as ReviewAnswer;
}

const podWith = (...images: string[]): Json => objectOfKind('Pod', podSpec({ containers: images.map((image, index) => ({ name: `c${index}`, image })) }));

describe('trustgate serve --functions URL', () => {
  it('says where admission verifies images', () => {
    expect(serve.output()).toContain('deployed verify-image function (http://127.0.0.1:');
  });

  describe('when the remote function allows the image', () => {
    it('admits and pins the tag to the digest the function answered, over SigV4-signed calls', async () => {
      const pod = podWith(SIGNED);
      const answer = await admit(reviewFor('Pod', pod, { uid: 'remote-allow', namespace: 'team-a' }));
      expect(answer.response).toMatchObject({ uid: 'remote-allow', allowed: true, patchType: 'JSONPatch' });
      const patched = applyReplacePatch(pod, answer.response.patch ?? '') as { spec: { containers: { image: string }[] } };
      expect(patched.spec.containers[0]?.image).toBe(`registry.test:5000/remote/app@sha256:${DIGEST_HEX}`);
      expect(standIn.signatureFailures).toEqual([]);
      const call = standIn.received.find((request) => parseJsonAs<{ image?: string }>(request.body).image === SIGNED);
      expect(call).toMatchObject({ method: 'POST', url: '/prod/functions/verify-image' });
      expect(JSON.parse(call?.body ?? '')).toEqual({ image: SIGNED, namespace: 'team-a' });
    });
  });

  describe('when the remote function denies the image', () => {
    it('denies with the remote reason', async () => {
      const answer = await admit(reviewFor('Pod', podWith(SIGNED, UNSIGNED), { uid: 'remote-deny' }));
      expect(answer.response).toMatchObject({ uid: 'remote-deny', allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('TRUST_NO_SIGNED_TARGET');
      expect(answer.response.patch).toBeUndefined();
    });
  });

  describe('when the remote function fails', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE, never allows', async () => {
      const answer = await admit(reviewFor('Pod', podWith(BROKEN), { uid: 'remote-broken' }));
      expect(answer.response).toMatchObject({ uid: 'remote-broken', allowed: false });
      expect(answer.response.status.message).toContain('TRUST_SERVER_UNAVAILABLE');
    });
  });
});
