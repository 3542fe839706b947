// `trustgate sigstore verify-bundle --bundle FILE (--key PEMFILE | --certificate-identity ID
// --certificate-oidc-issuer URL) [--trusted-root FILE] FILE_OR_DIGEST`: Sigstore's client
// conformance CLI protocol, so the verifier can be held against Sigstore's own cases. Exit 0
// when the bundle verifies for the artifact, 1 when it does not (the reason on stderr), 2 for
// a usage error. FILE_OR_DIGEST is a digest when it reads `sha256:<64 hex>` and is not a file.
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { parseJsonBytes } from '../../shared/json.js';
import { loadCosignKey } from '../../shared/trust/cosign/keys.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../shared/trust/sigstore/trusted-root-source.js';
import type { CosignAuthority } from '../../shared/trust/verifier.js';
import { ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { readInputFile as readInput, readTrustedRootFile } from '../trusted-root-file.js';
import { SIGSTORE_ROOT_USAGE, SIGSTORE_USAGE } from '../usage.js';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export async function runSigstore(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const [subcommand, ...rest] = args;
  if (subcommand !== 'verify-bundle') throw new UsageError(`unknown sigstore command ${JSON.stringify(subcommand ?? '')}: ${SIGSTORE_USAGE} | ${SIGSTORE_ROOT_USAGE}`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      key: { type: 'string' },
      'certificate-identity': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      'trusted-root': { type: 'string' },
      staging: { type: 'boolean', default: false },
    },
  });
  if (values.staging) throw new UsageError('--staging is not supported: pass the staging trusted root with --trusted-root');
  if (values.bundle === undefined) throw new UsageError('--bundle FILE is required');
  if (positionals.length !== 1 || positionals[0] === undefined) throw new UsageError('expected exactly one FILE_OR_DIGEST');
  const identity = values['certificate-identity'];
  const issuer = values['certificate-oidc-issuer'];
  const keyed = values.key !== undefined;
  if (keyed === (identity !== undefined || issuer !== undefined) || (!keyed && (identity === undefined || issuer === undefined))) {
    throw new UsageError('give either --key PEMFILE or both --certificate-identity and --certificate-oidc-issuer');
  }
  const bundle = parseJsonBytes(await readInput(values.bundle, '--bundle'), ErrorCode.COSIGN_BUNDLE_INVALID, `bundle ${values.bundle}`);
  const root = values['trusted-root'] === undefined ? PUBLIC_GOOD_TRUSTED_ROOT : await readTrustedRootFile(values['trusted-root']);
  let authority: CosignAuthority;
  if (values.key !== undefined) {
    const publicKeyPem = (await readInput(values.key, '--key')).toString('utf8');
    loadCosignKey(publicKeyPem, `key ${values.key}`);
    authority = { name: 'key', publicKeyPem };
  } else {
    authority = { name: 'identity', identities: [{ issuer: issuer ?? '', subject: identity ?? '' }] };
  }
  const target = positionals[0];
  const artifact = DIGEST_RE.test(target) && !(await isFile(target)) ? { digest: target } : { bytes: await readArtifact(target) };
  const { verifyArtifactBundle } = await import('../../shared/trust/cosign/verify-artifact-bundle.js');
  try {
    verifyArtifactBundle(bundle, artifact, authority, root, values['trusted-root'] === undefined ? 'the Sigstore trusted root' : `trusted root ${values['trusted-root']}`);
  } catch (error) {
    if (!(error instanceof TrustgateError) || error.code === ErrorCode.INTERNAL) throw error;
    io.stderr(`trustgate: bundle not verified [${error.code}]: ${error.message}\n`);
    return ExitCode.DENIED;
  }
  io.stdout('OK\n');
  return ExitCode.ALLOWED;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((info) => info.isFile(), () => false);
}

// The artifact is read whole (its signature covers every byte); its size is the caller's.
async function readArtifact(path: string): Promise<Buffer> {
  return readFile(path).catch((error: unknown) => {
    throw new UsageError(`cannot read artifact ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  });
}
