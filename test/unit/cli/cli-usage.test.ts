import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonAs } from '../../support/parse-json-as.js';
import { runCli } from '../../../cli/main.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'trustgate-cli-'));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: { TRUSTGATE_STATE_DIR: stateDir }, clock: systemClock });
  return { code, stdout, stderr };
}

// A loopback port with nothing listening on it.
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('trustgate verify', () => {
  describe('when it is used wrongly', () => {
    it('exits 2 without an image', async () => {
      const result = await cli('verify');
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('missing IMAGE');
    });

    it('exits 2 when a signer key file cannot be read', async () => {
      const result = await cli('verify', 'reg.example.com/a:v1', '--trust-server', 'https://n.example.com', '--signer', `alice=${join(stateDir, 'missing.pem')}`);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('cannot read signer key file');
    });

    it('exits 2 on an unknown option or command', async () => {
      expect((await cli('verify', 'nginx', '--bogus')).code).toBe(2);
      expect((await cli('frobnicate')).code).toBe(2);
    });

    it('exits 2 on a malformed root key ID', async () => {
      expect((await cli('verify', 'nginx', '--root-key-id', 'xyz')).code).toBe(2);
    });
  });

  describe('when the trust server is down', () => {
    it('exits 1 and reports TRUST_SERVER_UNAVAILABLE in the JSON answer', async () => {
      const port = await closedPort();
      const result = await cli('verify', `127.0.0.1:5000/team/app:v1`, '--trust-server', `https://127.0.0.1:${port}`, '--json');
      expect(result.code).toBe(1);
      const answer: unknown = JSON.parse(result.stdout);
      expect(answer).toMatchObject({ allowed: false, image: '127.0.0.1:5000/team/app:v1', digest: null, codes: ['TRUST_SERVER_UNAVAILABLE'], signers: [] });
    });
  });

  describe('when the image reference is malformed', () => {
    it('exits 1 with IMAGE_REF_INVALID', async () => {
      const result = await cli('verify', 'UPPER/Case', '--json');
      expect(result.code).toBe(1);
      expect(parseJsonAs<{ codes: string[] }>(result.stdout).codes).toEqual(['IMAGE_REF_INVALID']);
    });
  });
});
