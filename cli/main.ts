// The trustgate command line: composes the core with real adapters.
//
// Each command's module is imported only when that command runs (the bundle splits them into
// chunks): `--help` loads none of them, `policy lint` no HTTP or AWS code, and only `deploy`
// the OpenWhisk client. A process pays at start only for what its command uses.
import { ConfigError, ExitCode, UsageError } from './cli-error.js';
import type { CliIo } from './io.js';
import { DEPLOY_USAGE, MIGRATE_USAGES, POLICY_USAGES, SERVE_USAGE, SIGSTORE_ROOT_USAGE, SIGSTORE_USAGE, STORE_USAGES, VERIFY_POLICY_USAGE, VERIFY_USAGE } from './usage.js';

const USAGE = [
  'usage: trustgate <command> [options]',
  '',
  'commands:',
  ...[VERIFY_USAGE, VERIFY_POLICY_USAGE, ...POLICY_USAGES, SERVE_USAGE, ...STORE_USAGES, SIGSTORE_USAGE, SIGSTORE_ROOT_USAGE, ...MIGRATE_USAGES, DEPLOY_USAGE].map((usage) => `  ${usage.replace('usage: trustgate ', '')}`),
].join('\n');

export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await (await import('./commands/verify.js')).runVerify(rest, io);
      case 'policy':
        return await (await import('./commands/policy.js')).runPolicy(rest, io);
      case 'serve':
        return await (await import('./commands/serve.js')).runServe(rest, io);
      case 'store':
        return await (await import('./commands/store.js')).runStore(rest, io);
      case 'sigstore':
        // `sigstore root` reports the trusted root in force; every other subcommand
        // (verify-bundle) is the conformance verifier.
        if (rest[0] === 'root') return await (await import('./commands/sigstore-root.js')).runSigstoreRoot(rest.slice(1), io);
        return await (await import('./commands/sigstore.js')).runSigstore(rest, io);
      case 'migrate':
        return await (await import('./commands/migrate.js')).runMigrate(rest, io);
      case 'deploy':
        return await (await import('./commands/deploy-openwhisk.js')).runDeploy(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(`${USAGE}\n`);
        return command === undefined ? ExitCode.USAGE : ExitCode.ALLOWED;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr(`trustgate: ${(error as Error).message}\n${USAGE}\n`);
      return ExitCode.USAGE;
    }
    if (error instanceof ConfigError) {
      io.stderr(`trustgate: ${error.message}\n${error.problems.map((problem) => `  ${problem}\n`).join('')}`);
      return ExitCode.USAGE;
    }
    io.stderr(`trustgate: ${(error as Error).message}\n`);
    return ExitCode.DENIED;
  }
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
