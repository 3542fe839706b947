// Runs the product's CLI exactly as a user does (`node bin/trustgate.cjs verify ... --json`)
// with the test CA trusted and a per-test state directory. Unless a test sets it, the
// freshness window is 0 (TRUSTGATE_FRESHNESS): tests change the repository between two runs
// and expect the second run to see the change. HOME and XDG_CACHE_HOME are a folder of the
// test process (support/cli-home.ts), so verify's code cache stays out of the user's home.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { cliHomeEnvironment } from './cli-home.js';
import { runCommand } from './run-command.js';

export const TRUSTGATE_BIN = fileURLToPath(new URL('../../../bin/trustgate.cjs', import.meta.url));

export interface TrustgateRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  // The parsed stdout when it is a verdict (`--json` prints the verify-image answer), else undefined.
  readonly json: VerifyImageResponse | undefined;
}

export interface VerifyOptions {
  readonly image: string;
  readonly trustServer: string;
  readonly stateDir: string;
  readonly caFile?: string;
  // NAME -> PEM public key file, one `--signer NAME=PEMFILE` each.
  readonly signers?: readonly { readonly name: string; readonly publicKeyFile: string }[];
  readonly rootKeyIds?: readonly string[];
  // Extra arguments, e.g. ['--freshness', '1s'].
  readonly extraArgs?: readonly string[];
  // Extra environment, e.g. TRUSTGATE_DYNAMODB_TABLE.
  readonly env?: Readonly<Record<string, string>>;
}

export function isTrustgateBuilt(): boolean {
  return existsSync(TRUSTGATE_BIN);
}

// `trustgate verify IMAGE --trust-server URL [--signer N=F]... [--root-key-id ID]... --json`.
export function runTrustgateVerify(options: VerifyOptions): Promise<TrustgateRun> {
  const args = [
    'verify',
    options.image,
    '--trust-server',
    options.trustServer,
    ...(options.signers ?? []).flatMap((signer) => ['--signer', `${signer.name}=${signer.publicKeyFile}`]),
    ...(options.rootKeyIds ?? []).flatMap((id) => ['--root-key-id', id]),
    ...(options.extraArgs ?? []),
    '--json',
  ];
  return runTrustgate(args, {
    stateDir: options.stateDir,
    ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
    ...(options.env === undefined ? {} : { extra: options.env }),
  });
}

// Runs the CLI with any arguments (usage-error tests pass malformed ones).
export async function runTrustgate(
  args: readonly string[],
  env: { stateDir: string; caFile?: string; extra?: Readonly<Record<string, string>> },
): Promise<TrustgateRun> {
  const result = await runCommand(process.execPath, [TRUSTGATE_BIN, ...args], {
    env: {
      PATH: process.env['PATH'],
      ...cliHomeEnvironment(),
      TRUSTGATE_STATE_DIR: env.stateDir,
      TRUSTGATE_FRESHNESS: '0',
      ...(env.caFile === undefined ? {} : { NODE_EXTRA_CA_CERTS: env.caFile }),
      ...env.extra,
    },
  });
  return { ...result, json: parseVerdict(result.stdout) };
}

function parseVerdict(stdout: string): VerifyImageResponse | undefined {
  try {
    const value = JSON.parse(stdout) as unknown;
    return typeof value === 'object' && value !== null && 'allowed' in value ? (value as VerifyImageResponse) : undefined;
  } catch {
    return undefined;
  }
}
