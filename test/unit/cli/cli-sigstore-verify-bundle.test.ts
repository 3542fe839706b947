// `trustgate sigstore verify-bundle` on Sigstore's own conformance cases
// (test/fixtures/sigstore-conformance), called the way the conformance suite calls a client:
// every passing case exits 0, every `_fail` case exits non-zero; the artifact may be given as
// a file or, for DSSE bundles, as its `sha256:` digest.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const CASES = fileURLToPath(new URL('../../fixtures/sigstore-conformance/', import.meta.url));
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, clock: systemClock });
  return { code, stdout, stderr };
}

// The conformance suite's command line for one case directory.
function argsFor(name: string, artifact?: string): string[] {
  const dir = join(CASES, name);
  const args = ['sigstore', 'verify-bundle', '--bundle', join(dir, 'bundle.sigstore.json')];
  if (existsSync(join(dir, 'key.pub'))) args.push('--key', join(dir, 'key.pub'));
  else args.push('--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER);
  if (existsSync(join(dir, 'trusted_root.json'))) args.push('--trusted-root', join(dir, 'trusted_root.json'));
  args.push(artifact ?? (existsSync(join(dir, 'artifact')) ? join(dir, 'artifact') : join(CASES, 'a.txt')));
  return args;
}

const names = readdirSync(CASES, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);

describe('trustgate sigstore verify-bundle on Sigstore conformance cases', () => {
  it.each(names.filter((name) => !name.endsWith('_fail')))('verifies %s (exit 0)', async (name) => {
    const result = await cli(...argsFor(name));
    expect(result.code, result.stderr).toBe(0);
  });

  it.each(names.filter((name) => name.endsWith('_fail')))('refuses %s (non-zero exit)', async (name) => {
    const result = await cli(...argsFor(name));
    expect(result.code).not.toBe(0);
  });

  it('verifies a DSSE bundle given the artifact as a sha256 digest', async () => {
    const digest = `sha256:${createHash('sha256').update(readFileSync(join(CASES, 'a.txt'))).digest('hex')}`;
    expect((await cli(...argsFor('happy-path-intoto-in-dsse-v3', digest))).code).toBe(0);
  });

  it('refuses a DSSE bundle for another digest', async () => {
    expect((await cli(...argsFor('happy-path-intoto-in-dsse-v3', `sha256:${'0'.repeat(64)}`))).code).toBe(1);
  });

  it('refuses a passing keyless case for another identity', async () => {
    const args = argsFor('happy-path-v0.3');
    args[args.indexOf(IDENTITY)] = 'https://github.com/attacker/repo/.github/workflows/release.yml@refs/heads/main';
    const result = await cli(...args);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('COSIGN_IDENTITY_MISMATCH');
  });

  it('refuses a passing key case with the artifact changed', async () => {
    const args = argsFor('managed-key-happy-path');
    args[args.length - 1] = join(CASES, 'README.md');
    expect((await cli(...args)).code).toBe(1);
  });

  it('is a usage error without a key or an identity', async () => {
    expect((await cli('sigstore', 'verify-bundle', '--bundle', join(CASES, 'happy-path-v0.3', 'bundle.sigstore.json'), join(CASES, 'a.txt'))).code).toBe(2);
  });
});
