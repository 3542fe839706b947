// `trustgate serve` re-reading its policies while it runs: on SIGHUP and on its interval a
// valid edit changes what is admitted, and an invalid edit changes nothing.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const IMAGE = 'docker.io/library/nginx:1.27';

// Namespace `default` may run the given pattern without checks; nothing else matches.
const allowing = (pattern: string): string => `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata:
  name: allowed-images
  namespace: default
spec:
  repositories:
    - name: "${pattern}"
`;

let ca: TestCa;
let dir: string;
let policiesDir: string;
const started: ServeProcess[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  dir = await makeTempDir('policy-reload');
  policiesDir = join(dir, 'policies');
}, 30_000);

afterAll(async () => {
  await Promise.all(started.map((serve) => serve.stop()));
  await removeDir(dir);
  await ca?.remove();
});

async function serveWith(policy: string, extraArgs: readonly string[]): Promise<ServeProcess> {
  await rm(policiesDir, { recursive: true, force: true });
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'policies.yaml'), policy);
  const serve = await startTrustgateServe({ policiesDir, stateDir: join(dir, `state-${started.length}`), caFile: ca.caFile, extraArgs });
  started.push(serve);
  return serve;
}

async function admitted(serve: ServeProcess): Promise<boolean> {
  const body = JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: IMAGE }] }))));
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body });
  return (JSON.parse(answer.text) as { response: { allowed: boolean } }).response.allowed;
}

// Polls until the log holds `count` lines with this message, bounded.
async function logLines(serve: ServeProcess, message: string, count: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = serve
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['message'] === message);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('trustgate serve re-reading its policies', () => {
  describe('on SIGHUP', () => {
    let serve: ServeProcess;

    beforeAll(async () => {
      serve = await serveWith(allowing('docker.io/library/*'), ['--policies-interval', '0']);
    }, 30_000);

    it('admits under the policies it started with', async () => {
      expect(await admitted(serve)).toBe(true);
    });

    it('denies once an edit that no longer matches the image is put in force', async () => {
      await writeFile(join(policiesDir, 'policies.yaml'), allowing('quay.io/*'));
      serve.signal('SIGHUP');
      expect(await logLines(serve, 'policies reloaded', 1)).toHaveLength(1);
      expect(await admitted(serve)).toBe(false);
    });

    it('keeps the policies in force when an edit does not decode', async () => {
      await writeFile(join(policiesDir, 'policies.yaml'), `${allowing('docker.io/library/*')}    policy:\n      trust: {enabled: "yes"}\n`);
      serve.signal('SIGHUP');
      const [refused] = await logLines(serve, 'policies not reloaded: the policies in force stay in force', 1);
      expect(refused?.['problems']).toEqual([expect.stringContaining('policies.yaml:1')]);
      expect(await admitted(serve)).toBe(false);
      const metrics = (await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text;
      expect(metrics).toContain('trustgate_policy_reloads_total{outcome="rejected"} 1');
      expect(metrics).toContain('trustgate_policy_reloads_total{outcome="reloaded"} 1');
    });
  });

  describe('on its interval', () => {
    it('puts an edit in force without a signal', async () => {
      const serve = await serveWith(allowing('quay.io/*'), ['--policies-interval', '1']);
      expect(await admitted(serve)).toBe(false);
      await writeFile(join(policiesDir, 'policies.yaml'), allowing('docker.io/*'));
      expect(await logLines(serve, 'policies reloaded', 1)).toEqual([expect.objectContaining({ trigger: 'interval' })]);
      expect(await admitted(serve)).toBe(true);
    }, 20_000);
  });
});
