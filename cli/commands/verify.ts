// `trustgate verify IMAGE [--trust-server URL] [--signer NAME=PEMFILE]... [--root-key-id ID]... [--json]`
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createFileStore } from '../../shared/cache/file-store.js';
import { isTrustgateError } from '../../shared/errors.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { silentLogger } from '../../shared/ports.js';
import { createTokenProvider } from '../../shared/registry/token-auth.js';
import { createNotaryVerifier } from '../../shared/trust/notary/notary-verifier.js';
import { createTrustedStateStore } from '../../shared/trust/notary/trusted-state-store.js';
import { decodeVerifyImageRequest } from '../../shared/verify/verify-image-request.js';
import { verifyImage, type VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { resolveStateDir } from '../state-dir.js';

export const VERIFY_USAGE =
  'usage: trustgate verify IMAGE [--trust-server URL] [--signer NAME=PEMFILE]... [--root-key-id ID]... [--state-dir DIR] [--json]';

export async function runVerify(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      'trust-server': { type: 'string' },
      signer: { type: 'string', multiple: true },
      'root-key-id': { type: 'string', multiple: true },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing IMAGE' : 'expected exactly one IMAGE');
  const signers = await Promise.all((values.signer ?? []).map(readSigner));
  let request;
  try {
    request = decodeVerifyImageRequest({
      image: positionals[0],
      trust: {
        ...(values['trust-server'] === undefined ? {} : { server: values['trust-server'] }),
        signers,
        rootKeyIds: values['root-key-id'] ?? [],
      },
    });
  } catch (error) {
    if (isTrustgateError(error)) throw new UsageError(error.problems.map((p) => `${p.path}: ${p.message}`).join('; ') || error.message);
    throw error;
  }
  const fetch = createNodeFetch();
  const state = createTrustedStateStore(createFileStore(resolveStateDir(values['state-dir'], io.env)));
  const notary = createNotaryVerifier({
    fetch,
    state,
    logger: silentLogger,
    tokens: createTokenProvider({ fetch, timeoutMs: 10_000, now: () => Date.now() }),
  });
  const response = await verifyImage({ notary, clock: { now: () => new Date() }, logger: silentLogger }, request);
  io.stdout(values.json ? `${JSON.stringify(response)}\n` : formatVerdict(response));
  return response.allowed ? ExitCode.ALLOWED : ExitCode.DENIED;
}

async function readSigner(spec: string): Promise<{ name: string; publicKey: string }> {
  const at = spec.indexOf('=');
  if (at <= 0 || at === spec.length - 1) throw new UsageError(`--signer expects NAME=PEMFILE, got ${JSON.stringify(spec)}`);
  const file = spec.slice(at + 1);
  try {
    return { name: spec.slice(0, at), publicKey: await readFile(file, 'utf8') };
  } catch (error) {
    throw new UsageError(`cannot read signer key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function formatVerdict(response: VerifyImageResponse): string {
  if (response.allowed) {
    return `allowed: ${response.image} -> ${response.digest ?? ''} (signed by ${response.signers.join(', ')})\n`;
  }
  return `denied: ${response.image}\n${response.reasons.map((r, i) => `  [${response.codes[i] ?? ''}] ${r}\n`).join('')}`;
}
