// `trustgate serve`'s sign-callback when things fail or stop:
// - a changefeed poll whose trust server refuses connections answers 503 with
//   TRUST_SERVER_UNAVAILABLE (not a bare 500 INTERNAL), and nothing of the error's detail;
// - a stop while a request waits to re-check a signature push it found unsigned ends that
//   request at once: its re-checks are dropped, the request is answered, and serve closes its
//   store only after that (its log ends with `stopped`, with no store error before it).
//
// The registry is a loopback server that holds its first answer until the test lets it go,
// so the test orders the steps (stop requested, then the first check completes) without
// timing anything; it has no signature for any image (404), as a registry before a signing.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findClosedPort } from '../support/local-http-server.js';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const TOKEN = 'callback-token-for-stop-tests';
const PUBLIC_KEY = new URL('../fixtures/cosign/cosign.pub', import.meta.url);
const SIGNED_DIGEST = `sha256:${'5'.repeat(64)}`;

// A registry holding no signatures whose answers wait until released.
interface HeldRegistry {
  readonly host: string;
  readonly paths: string[];
  // Resolves when the first request has arrived (and is being held).
  readonly firstRequest: Promise<void>;
  release(): void;
  close(): Promise<void>;
}

async function startHeldRegistry(): Promise<HeldRegistry> {
  const paths: string[] = [];
  const held: ServerResponse[] = [];
  let released = false;
  let arrived: () => void = () => undefined;
  const firstRequest = new Promise<void>((resolve) => (arrived = resolve));
  const answer = (response: ServerResponse): void => {
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    paths.push(request.url ?? '');
    arrived();
    if (released) answer(response);
    else held.push(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    paths,
    firstRequest,
    release: () => {
      released = true;
      for (const response of held.splice(0)) answer(response);
    },
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
let serve: ServeProcess;

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('serve-callback-stop');
  registry = await startHeldRegistry();
  const policiesDir = join(dir, 'policies');
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
  const closedTrustServer = `http://127.0.0.1:${await findClosedPort()}`;
  serve = await startTrustgateServe({
    policiesDir,
    stateDir: join(dir, 'state'),
    caFile: ca.caFile,
    env: { TRUSTGATE_CALLBACK_TOKEN: TOKEN },
    // The loop's interval is a day: the only polls are the test's.
    extraArgs: ['--registry-host', registry.host, '--changefeed-server', closedTrustServer, '--changefeed-interval', '86400'],
  });
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await registry?.close();
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

describe('trustgate serve /functions/sign-callback', { timeout: 60_000 }, () => {
  describe('when a changefeed poll finds its trust server refusing connections', () => {
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
    it('drops the re-checks, answers the request, and closes the store only after it', async () => {
      const event = {
        id: 'late-signature-1',
        action: 'push',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'6'.repeat(64)}`, repository: 'lab/app', tag: `${SIGNED_DIGEST.replace(':', '-')}.sig` },
      };
      const answered = postCallback({ events: [event] });
      // The first check is under way, its registry read held.
      await registry.firstRequest;
      serve.signal('SIGTERM');
      await logged('shutting down');
      // Only now may the first check finish (unsigned): its re-checks come after the stop.
      registry.release();

      const answer = await answered;
      const exitCode = await serve.exited;

      expect(answer.status, answer.text).toBe(200);
      expect(JSON.parse(answer.text)).toStrictEqual({ outcomes: [{ id: 'late-signature-1', outcome: 'unsigned' }] });
      expect(exitCode, serve.output()).toBe(0);
      const entries = logEntries();
      const messages = entries.map((entry) => entry.message);
      // Checked once; the two re-checks (after 250 ms and 750 ms) never ran.
      expect(messages.filter((message) => message === 'signature push checked')).toHaveLength(1);
      const dropped = messages.indexOf('signature push re-checks dropped: stopping');
      expect(dropped, serve.output()).toBeGreaterThan(messages.indexOf('shutting down'));
      // The store is closed after the request ended, and nothing touched it afterwards.
      expect(messages.at(-1)).toBe('stopped');
      expect(dropped).toBeLessThan(messages.indexOf('stopped'));
      const failures = entries.filter((entry) => (entry.level === 'error' || entry.level === 'warn') && entry.message !== 'function failed');
      expect(failures, serve.output()).toEqual([]);
      expect(entries.filter((entry) => entry.message === 'function failed' && entry['code'] !== 'TRUST_SERVER_UNAVAILABLE')).toEqual([]);
    });
  });
});
