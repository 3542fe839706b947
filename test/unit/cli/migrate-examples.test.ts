// The shipped migration example (examples/migration): three policy sets, the states of a
// move off Notary v1, read by `trustgate migrate report --offline` in-process. Offline with
// an empty trust cache nothing is asked of any server, so each state shows what it requires.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main.js';
import { fixedClock } from '../../support/clocks.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/migration', import.meta.url));
const IMAGE = 'registry.example.com/team-a/api:v1';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-migrate-examples-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reportOffline(state: string): Promise<{ code: number; line: Record<string, unknown> }> {
  let stdout = '';
  const code = await runCli(['migrate', 'report', '--policies', join(EXAMPLES, state), '--namespace', 'team-a', IMAGE, '--offline', '--json'], {
    stdout: (text) => (stdout += text),
    stderr: () => undefined,
    env: { TRUSTGATE_STATE_DIR: join(dir, state) },
    clock: fixedClock(new Date('2030-01-01T00:00:00Z')),
  });
  return { code, line: JSON.parse(stdout) as Record<string, unknown> };
}

describe('the migration example policy sets', () => {
  it('require Notary only before the move', async () => {
    const { line } = await reportOffline('1-notary');

    expect(line).toMatchObject({ policy: { kind: 'ImagePolicy', name: 'team-a-images' }, notary: { state: 'unknown' }, cosign: { state: 'not-required' } });
  });

  it('accept either kind during the move', async () => {
    const { line } = await reportOffline('2-carry-over');

    expect(line).toMatchObject({ notary: { state: 'unknown' }, cosign: { state: 'unknown', codes: ['REGISTRY_UNAVAILABLE'] }, allowedNow: false });
  });

  it('require cosign only after the move', async () => {
    const { line } = await reportOffline('3-cosign');

    expect(line).toMatchObject({ notary: { state: 'not-required' }, cosign: { state: 'unknown' } });
  });
});

describe('trustgate migrate sign before anything is verified', () => {
  async function sign(...args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const code = await runCli(['migrate', 'sign', '--policies', join(EXAMPLES, '2-carry-over'), '--namespace', 'team-a', IMAGE, ...args], {
      stdout: () => undefined,
      stderr: (text) => (stderr += text),
      env: { TRUSTGATE_STATE_DIR: join(dir, 'sign') },
      clock: fixedClock(new Date('2030-01-01T00:00:00Z')),
    });
    return { code, stderr };
  }

  it('refuses a cosign-encrypted key as a configuration error naming COSIGN_KEY_UNSUPPORTED', async () => {
    const keyFile = join(dir, 'cosign.key');
    await writeFile(keyFile, '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n');

    const result = await sign('--cosign-key', keyFile);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('COSIGN_KEY_UNSUPPORTED');
  });

  it('refuses --registry-username without the password in the environment', async () => {
    const result = await sign('--cosign-key', join(dir, 'missing.key'), '--registry-username', 'ci');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TRUSTGATE_REGISTRY_PASSWORD');
  });

  it('refuses a format other than bundle or classic', async () => {
    const result = await sign('--cosign-key', join(dir, 'cosign.key'), '--format', 'sigstore');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--format expects bundle or classic');
  });
});
