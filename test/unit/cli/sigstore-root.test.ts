// `trustgate sigstore root`, run in-process over a SQLite state directory and a TUF
// repository served on loopback (the DynamoDB store and the built CLI are driven by
// test/integration/sigstore-root-store.test.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main.js';
import { systemClock } from '../../../infra/clock/system-clock.js';
import { trustedRootFingerprint } from '../../../shared/trust/sigstore/trusted-root-shape.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../../shared/trust/sigstore/trusted-root-source.js';
import type { LocalServer } from '../../support/local-http-server.js';
import { TufRepository } from '../../support/tuf-repository.js';

let dir = '';
let repo: TufRepository;
let server: LocalServer;
let tufRoot = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-cli-sigstore-'));
  repo = new TufRepository();
  server = await repo.serve();
  tufRoot = join(dir, 'root.json');
  await writeFile(tufRoot, repo.root(1));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env: {}, clock: systemClock });
  return { code, stdout, stderr };
}

describe('trustgate sigstore root', () => {
  it('prints the shipped root in force when no mirror is configured, and exits 0', async () => {
    const result = await run(['sigstore', 'root', '--state-dir', join(dir, 'offline')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('sigstore trusted root: shipped');
    expect(result.stdout).toContain(`fingerprint: ${trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT)}`);
    expect(result.stdout).toContain('mirror: none');
  });

  it('exits 2 when asked to refresh with no mirror configured', async () => {
    const result = await run(['sigstore', 'root', '--refresh', '--state-dir', join(dir, 'offline')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TRUSTGATE_SIGSTORE_TUF_URL');
  });

  it('exits 2 for a mirror URL that is plain http off loopback', async () => {
    const result = await run(['sigstore', 'root', '--sigstore-tuf-url', 'http://tuf.example', '--state-dir', join(dir, 'offline')]);
    expect(result.code).toBe(2);
  });

  it('exits 2 for an unknown sigstore subcommand', async () => {
    expect((await run(['sigstore', 'roots'])).code).toBe(2);
  });

  it('refreshes from the mirror, then shows the stored root, its TUF versions and the last refresh', async () => {
    repo.publishTarget(Buffer.from(JSON.stringify(PUBLIC_GOOD_TRUSTED_ROOT, null, 1)));
    const flags = ['--state-dir', join(dir, 'state'), '--sigstore-tuf-url', server.url, '--sigstore-tuf-root', tufRoot];
    const refreshed = await run(['sigstore', 'root', '--refresh', ...flags]);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toContain('sigstore trusted root: mirror');
    expect(refreshed.stdout).toContain('tuf: root v1, timestamp v1, snapshot v1, targets v1');
    // The mirror serves the public-good root (spaced differently): now vouched for by TUF, but
    // the same root as the shipped one, so the root in force did not change.
    expect(refreshed.stdout).toMatch(/last refresh: \S+ unchanged/);
    expect(refreshed.stdout).toContain(`fingerprint: ${trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT)}`);

    const shown = await run(['sigstore', 'root', ...flags]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('sigstore trusted root: store');
    expect(shown.stdout).toContain('tuf: root v1, timestamp v1, snapshot v1, targets v1');
  });
});
