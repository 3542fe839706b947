// `trustgate serve`'s sign-callback when things fail or stop:
// - a changefeed poll whose trust server answers 503 answers 503 with
//   TRUST_SERVER_UNAVAILABLE (not a bare 500 INTERNAL), and nothing of the error's detail;
// - a stop cuts a sign-callback request short without losing anything: the request answers
//   503 SERVICE_STOPPING, so its sender delivers it again, and that redelivery is processed
//   (not answered `duplicate`) by the next serve on the same store: a signature push whose
//   re-checks the stop dropped gives its claim back; events after the stop are never claimed;
//   a request arriving during the stop processes nothing; a changefeed page whose re-checks
//   were cut short is read again (the cursor was not moved past it). serve closes its store
//   only after the requests under way ended (its log ends with `stopped`).
//
// The registry is a loopback server that holds its answers while the test says so, so the test
// orders the steps (stop requested, then the held check completes) without timing anything;
// it has no signature for any image (404), as a registry before a signing. The changefeed is
// a loopback server answering notary-server's changefeed format with one record.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const TOKEN = 'callback-token-for-stop-tests';
const PUBLIC_KEY = new URL('../fixtures/cosign/cosign.pub', import.meta.url);
const SIGNED_DIGEST = `sha256:${'5'.repeat(64)}`;

// A registry holding no signatures whose answers wait while it is held.
interface HeldRegistry {
  readonly host: string;
  // Holds answers from now on; resolves when the first request held has arrived.
  hold(): Promise<void>;
  // Answers the held requests and every request from now on.
  release(): void;
  close(): Promise<void>;
}

async function startHeldRegistry(): Promise<HeldRegistry> {
  const held: ServerResponse[] = [];
  let holding = false;
  let arrived: () => void = () => undefined;
  const answer = (response: ServerResponse): void => {
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  };
  const server: Server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    if (!holding) return answer(response);
    held.push(response);
    arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    hold: () => {
      holding = true;
      return new Promise<void>((resolve) => (arrived = resolve));
    },
    release: () => {
      holding = false;
      for (const response of held.splice(0)) answer(response);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// notary-server's changefeed with one record (change 7) for `gun`; answers 503 while down.
interface Changefeed {
  readonly url: string;
  // The change_id of each page asked for while up.
  readonly asked: string[];
  up(): void;
  close(): Promise<void>;
}

async function startChangefeed(gun: string): Promise<Changefeed> {
  const asked: string[] = [];
  let down = true;
  const server = createServer((request, response) => {
    if (down) {
      response.writeHead(503).end();
      return;
    }
    const after = Number(new URL(request.url ?? '/', 'http://changefeed').searchParams.get('change_id') ?? '0');
    asked.push(String(after));
    const records = after < 7 ? [{ ID: '7', CreatedAt: '2020-01-01T00:00:00Z', GUN: gun, Version: 2, SHA256: 'ab'.repeat(32), Category: 'update' }] : null;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: records?.length ?? 0, records }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    asked,
    up: () => void (down = false),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let ca: TestCa;
let dir: string;
let registry: HeldRegistry;
let changefeed: Changefeed;
let policiesDir: string;
let serve: ServeProcess;

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('serve-callback-stop');
  registry = await startHeldRegistry();
  changefeed = await startChangefeed(`${registry.host}/lab/app`);
  policiesDir = join(dir, 'policies');
  await mkdir(policiesDir);
  await writeFile(
    join(policiesDir, 'cosign.yaml'),
    [
      'apiVersion: portieris.cloud.ibm.com/v1',
      'kind: ClusterImagePolicy',
      'metadata: {name: cosign}',
      'spec:',
      '  repositories:',
      `    - name: "${registry.host}/*"`,
      '      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}',
      '---',
      cosignKeySecretYaml('release-key', 'default', await readFile(PUBLIC_KEY, 'utf8')),
    ].join('\n'),
  );
  await startServe();
}, 60_000);

// (Re)starts serve on the same state folder (its store survives a stop).
async function startServe(): Promise<void> {
  serve = await startTrustgateServe({
    policiesDir,
    stateDir: join(dir, 'state'),
    caFile: ca.caFile,
    env: { TRUSTGATE_CALLBACK_TOKEN: TOKEN },
    // The loop's interval is a day: the only polls are the test's.
    extraArgs: ['--registry-host', registry.host, '--changefeed-server', changefeed.url, '--changefeed-interval', '86400'],
  });
}

afterAll(async () => {
  await serve?.stop();
  await registry?.close();
  await changefeed?.close();
  await removeDir(dir);
  await ca?.remove();
});

function postCallback(body: unknown): Promise<HttpAnswer> {
  return httpsRequest(`${serve.url}/functions/sign-callback`, serve.caPem, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
}

interface LogEntry {
  readonly level?: string;
  readonly message?: string;
  readonly [field: string]: unknown;
}

function logEntries(): LogEntry[] {
  return serve
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogEntry);
}

// Waits until the log holds a line with this message (bounded: the test fails, not hangs).
async function logged(message: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!logEntries().some((entry) => entry.message === message)) {
    if (Date.now() > deadline) throw new Error(`no log line ${JSON.stringify(message)}:\n${serve.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const signaturePush = (id: string): unknown => ({
  id,
  action: 'push',
  target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'6'.repeat(64)}`, repository: 'lab/app', tag: `${SIGNED_DIGEST.replace(':', '-')}.sig` },
});

const imagePush = (id: string, tag: string): unknown => ({
  id,
  action: 'push',
  target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'7'.repeat(64)}`, repository: 'lab/app', tag },
});

// Stops serve while `request` is under way: the registry holds the request's first read until
// the stop is logged. `duringStop` runs then (before the held read is answered). Resolves with
// the request's answer once serve has exited (0) with `stopped` as its last log line.
async function stopDuring(request: unknown, duringStop: () => Promise<void> = () => Promise.resolve()): Promise<{ answer: HttpAnswer; messages: Array<string | undefined> }> {
  const held = registry.hold();
  const answered = postCallback(request);
  await held;
  serve.signal('SIGTERM');
  await logged('shutting down');
  await duringStop();
  registry.release();
  const answer = await answered;
  const exitCode = await serve.exited;
  expect(exitCode, serve.output()).toBe(0);
  const entries = logEntries();
  const messages = entries.map((entry) => entry.message);
  // The store is closed after the request ended, and nothing failed on it.
  expect(messages.at(-1)).toBe('stopped');
  const failures = entries.filter((entry) => (entry.level === 'error' || entry.level === 'warn') && entry.message !== 'function failed');
  expect(failures, serve.output()).toEqual([]);
  return { answer, messages };
}

function expectStopping(answer: HttpAnswer): void {
  expect(answer.status, answer.text).toBe(503);
  expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'SERVICE_STOPPING' } });
}

describe('trustgate serve /functions/sign-callback', { timeout: 60_000 }, () => {
  describe('when a changefeed poll finds its trust server unavailable', () => {
    it('answers 503 with TRUST_SERVER_UNAVAILABLE and none of the error\'s detail', async () => {
      const answer = await postCallback({ poll: true });
      expect(answer.status, answer.text).toBe(503);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'TRUST_SERVER_UNAVAILABLE' } });
      expect(answer.text).not.toContain('127.0.0.1');
      await logged('function failed');
      expect(logEntries()).toContainEqual(expect.objectContaining({ level: 'error', message: 'function failed', code: 'TRUST_SERVER_UNAVAILABLE' }));
    });
  });

  describe('when serve is stopped while a signature push waits to be checked again', () => {
    it('drops the re-checks, gives the event back and answers 503, so the redelivery is checked again', async () => {
      const { answer, messages } = await stopDuring({ events: [signaturePush('late-signature-1')] });
      expectStopping(answer);
      // Checked once; the two re-checks (after 250 ms and 750 ms) never ran.
      expect(messages.filter((message) => message === 'signature push checked')).toHaveLength(1);
      expect(messages.indexOf('signature push re-checks dropped: stopping')).toBeGreaterThan(messages.indexOf('shutting down'));

      await startServe();
      const redelivered = await postCallback({ events: [signaturePush('late-signature-1')] });
      expect(redelivered.status, redelivered.text).toBe(200);
      expect(JSON.parse(redelivered.text)).toStrictEqual({ outcomes: [{ id: 'late-signature-1', outcome: 'unsigned' }] });
    });
  });

  describe('when serve is stopped while a request of several events is under way', () => {
    it('processes no event after the stop, answers 503 (also to a request arriving during the stop), and the redeliveries are processed', async () => {
      let duringStop: HttpAnswer | undefined;
      const { answer, messages } = await stopDuring({ events: [signaturePush('late-signature-2'), imagePush('after-stop', 'v2')] }, async () => {
        duringStop = await postCallback({ events: [imagePush('during-stop', 'v3')] });
      });
      expectStopping(answer);
      expectStopping(duringStop as HttpAnswer);
      expect(messages.filter((message) => message === 'manifest push checked')).toEqual([]);
      expect(messages).toContain('registry events left unprocessed: stopping');

      await startServe();
      const redelivered = await postCallback({ events: [signaturePush('late-signature-2'), imagePush('after-stop', 'v2')] });
      expect(JSON.parse(redelivered.text)).toStrictEqual({ outcomes: [{ id: 'late-signature-2', outcome: 'unsigned' }, { id: 'after-stop', outcome: 'unsigned' }] });
      const again = await postCallback({ events: [imagePush('during-stop', 'v3')] });
      expect(JSON.parse(again.text)).toStrictEqual({ outcomes: [{ id: 'during-stop', outcome: 'unsigned' }] });
    });
  });

  describe('when serve is stopped while a changefeed page is re-checked', () => {
    it('answers 503 and leaves the page to the next poll, which re-checks it and only then moves past it', async () => {
      changefeed.up();
      const { answer, messages } = await stopDuring({ poll: true });
      expectStopping(answer);
      expect(messages).toContain('changefeed re-checks dropped: stopping');
      expect(changefeed.asked).toEqual(['0']);

      await startServe();
      const polled = await postCallback({ poll: true });
      expect(polled.status, polled.text).toBe(200);
      // Every ref recorded for lab/app: the signed digest and the tags v2 and v3.
      expect((JSON.parse(polled.text) as { outcomes: unknown[] }).outcomes).toHaveLength(3);
      expect(changefeed.asked).toEqual(['0', '0']);
      const next = await postCallback({ poll: true });
      expect(JSON.parse(next.text)).toStrictEqual({ outcomes: [] });
      expect(changefeed.asked).toEqual(['0', '0', '7']);
    });
  });
});
