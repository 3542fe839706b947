// Rekor v2 entries (hashedrekord 0.0.2 with a checkpoint and inclusion proof, time from RFC 3161
// timestamps) through `trustgate sigstore verify-bundle`: Sigstore's real v2 vectors verify,
// and each made-up variant of them (a changed checkpoint, proof, body, trusted root or
// timestamp) is refused with its code, never with a crash.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const CASES = fileURLToPath(new URL('../../fixtures/sigstore-conformance/', import.meta.url));
const ARTIFACT = join(CASES, 'a.txt');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
// A message signature logged as hashedrekord 0.0.2, and a DSSE envelope logged as hashedrekord
// 0.0.2 over its PAE (both Sigstore staging, each with its own trusted root).
const MESSAGE = 'rekor2-happy-path';
const DSSE = 'rekor2-dsse-happy-path';

type Json = Record<string, unknown>;

// The object at `keys` under `value` (fixtures are known to have it).
function dig(value: unknown, ...keys: (string | number)[]): Json {
  let current = value;
  for (const key of keys) current = (current as Record<string | number, unknown>)[key];
  if (typeof current !== 'object' || current === null) throw new Error(`fixture has no object at ${keys.join('.')}`);
  return current as Json;
}

const scratch = mkdtempSync(join(tmpdir(), 'trustgate-rekor2-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let written = 0;

function load(name: string, file: string): Json {
  return JSON.parse(readFileSync(join(CASES, name, file), 'utf8')) as Json;
}

function write(value: unknown): string {
  const path = join(scratch, `${(written += 1)}.json`);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

function entryOf(bundle: Json): Json {
  return dig(bundle, 'verificationMaterial', 'tlogEntries', 0);
}

async function verify(name: string, change: { bundle?: (bundle: Json) => void; root?: (root: Json) => void } = {}): Promise<{ code: number; stderr: string }> {
  const bundle = load(name, 'bundle.sigstore.json');
  const root = load(name, 'trusted_root.json');
  change.bundle?.(bundle);
  change.root?.(root);
  let stderr = '';
  const argv = ['sigstore', 'verify-bundle', '--bundle', write(bundle), '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', write(root), ARTIFACT];
  const code = await runCli(argv, { stdout: () => undefined, stderr: (text) => (stderr += text), env: {}, clock: systemClock });
  return { code, stderr };
}

function expectRefused(result: { code: number; stderr: string }, code: string): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toContain(`[${code}]`);
}

// The checkpoint's first signature line's base64 (key hint then signature), changed by `edit`.
function editLogSignature(bundle: Json, edit: (bytes: Buffer) => void): void {
  const checkpoint = dig(entryOf(bundle), 'inclusionProof', 'checkpoint');
  const envelope = checkpoint['envelope'] as string;
  const match = /\u2014 (\S+) (\S+)\n/.exec(envelope);
  if (match?.[2] === undefined) throw new Error('fixture checkpoint has no signature line');
  const bytes = Buffer.from(match[2], 'base64');
  edit(bytes);
  checkpoint['envelope'] = envelope.replace(match[2], bytes.toString('base64'));
}

describe('trustgate sigstore verify-bundle with Rekor v2 entries', () => {
  it('verifies a message signature logged in a Rekor v2 log, timestamped by a trusted TSA', async () => {
    expect((await verify(MESSAGE)).code).toBe(0);
  });

  it('verifies a DSSE envelope logged as hashedrekord 0.0.2 over its pre-authentication encoding', async () => {
    expect((await verify(DSSE)).code).toBe(0);
  });

  it('refuses a checkpoint whose log signature was tampered with', async () => {
    expectRefused(await verify(MESSAGE, { bundle: (bundle) => editLogSignature(bundle, (bytes) => void (bytes[10] = (bytes[10] ?? 0) ^ 1)) }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses an inclusion proof whose path does not lead to the checkpoint\'s root hash', async () => {
    const result = await verify(DSSE, {
      bundle: (bundle) => {
        const hashes = dig(entryOf(bundle), 'inclusionProof')['hashes'] as string[];
        hashes[0] = Buffer.alloc(32, 7).toString('base64');
      },
    });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it('refuses an inclusion proof naming another root hash than its checkpoint', async () => {
    const result = await verify(DSSE, { bundle: (bundle) => void (dig(entryOf(bundle), 'inclusionProof')['rootHash'] = Buffer.alloc(32, 7).toString('base64')) });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it('refuses a DSSE envelope whose signature is not the one the log recorded', async () => {
    const result = await verify(DSSE, {
      bundle: (bundle) => {
        const signature = dig(bundle, 'dsseEnvelope', 'signatures', 0);
        const bytes = Buffer.from(signature['sig'] as string, 'base64');
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
        signature['sig'] = bytes.toString('base64');
      },
    });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it('refuses a DSSE envelope whose payload type is not the one the log recorded the digest of', async () => {
    expectRefused(await verify(DSSE, { bundle: (bundle) => void (dig(bundle, 'dsseEnvelope')['payloadType'] = 'application/json') }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses a bundle whose certificate is not the one the log entry names', async () => {
    // Another genuine staging certificate for the same identity (another signing key): the
    // log entry is checked before the signature, so the reason is the log's.
    const otherCertificate = dig(load(DSSE, 'bundle.sigstore.json'), 'verificationMaterial', 'certificate');
    expectRefused(await verify(MESSAGE, { bundle: (bundle) => void (dig(bundle, 'verificationMaterial')['certificate'] = otherCertificate) }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses an entry from a log the trusted root does not name', async () => {
    const result = await verify(MESSAGE, {
      root: (root) => void (root['tlogs'] = (root['tlogs'] as Json[]).filter((log) => !String(log['baseUrl']).includes('log2025-alpha1'))),
    });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it('refuses an entry whose log key was no longer valid at the timestamped time', async () => {
    const result = await verify(MESSAGE, {
      root: (root) => {
        const log = (root['tlogs'] as Json[]).find((candidate) => String(candidate['baseUrl']).includes('log2025-alpha1'));
        if (log === undefined) throw new Error('fixture root lost its v2 log');
        dig(log, 'publicKey')['validFor'] = { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' };
      },
    });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it('refuses a timestamp from a TSA the trusted root does not name', async () => {
    expectRefused(await verify(MESSAGE, { root: (root) => void (root['timestampAuthorities'] = []) }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses a Rekor v2 entry without any RFC 3161 timestamp', async () => {
    expectRefused(await verify(MESSAGE, { bundle: (bundle) => void (dig(bundle, 'verificationMaterial')['timestampVerificationData'] = { rfc3161Timestamps: [] }) }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses a certificate that was not valid at the timestamped signing time', async () => {
    const result = await verify('rekor2-timestamp-with-incorrect-time_fail');
    expectRefused(result, 'COSIGN_CERTIFICATE_INVALID');
  });

  it('refuses the bundle without its log entry: the log is required', async () => {
    expectRefused(await verify(MESSAGE, { bundle: (bundle) => void (dig(bundle, 'verificationMaterial')['tlogEntries'] = []) }), 'COSIGN_TLOG_INVALID');
  });

  it('refuses a checkpoint signature name that is a backtracking pattern, without running it', async () => {
    // The key hint still points at the trusted log, so sigstore-js 3 would match the base URL
    // against the name as a regular expression and never return (this run would not finish).
    const result = await verify(MESSAGE, {
      bundle: (bundle) => {
        const checkpoint = dig(entryOf(bundle), 'inclusionProof', 'checkpoint');
        checkpoint['envelope'] = (checkpoint['envelope'] as string).replace('\u2014 log2025-alpha1.rekor.sigstage.dev ', '\u2014 (.*)*x ');
      },
    });
    expectRefused(result, 'COSIGN_TLOG_INVALID');
  });

  it.each([
    ['a checkpoint log size that is not a number', (bundle: Json): void => {
      const checkpoint = dig(entryOf(bundle), 'inclusionProof', 'checkpoint');
      checkpoint['envelope'] = (checkpoint['envelope'] as string).replace('\n736\n', '\nseven\n');
    }],
    ['an entry body that is not JSON', (bundle: Json): void => void (entryOf(bundle)['canonicalizedBody'] = Buffer.from('not json').toString('base64'))],
    ['an entry body of another kind', (bundle: Json): void => {
      const body = JSON.parse(Buffer.from(entryOf(bundle)['canonicalizedBody'] as string, 'base64').toString('utf8')) as Json;
      body['kind'] = 'dsse';
      entryOf(bundle)['canonicalizedBody'] = Buffer.from(JSON.stringify(body)).toString('base64');
    }],
    ['a checkpoint without a signature line', (bundle: Json): void => {
      const checkpoint = dig(entryOf(bundle), 'inclusionProof', 'checkpoint');
      checkpoint['envelope'] = (checkpoint['envelope'] as string).split('\n\n')[0] ?? '';
    }],
    ['a zeroed log signature', (bundle: Json): void => editLogSignature(bundle, (bytes) => void bytes.fill(0, 4))],
  ])('refuses %s with a reason', async (_what, change) => {
    expectRefused(await verify(MESSAGE, { bundle: change }), 'COSIGN_TLOG_INVALID');
  });
});
