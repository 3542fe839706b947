// `trustgate policy <lint|lookup|apply> ...`
import { UsageError, type ExitCode } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { runPolicyApply } from './policy-apply.js';
import { runPolicyLint } from './policy-lint.js';
import { runPolicyLookup } from './policy-lookup.js';

export async function runPolicy(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const [subcommand, ...rest] = args;
  switch (subcommand) {
    case 'lint':
      return runPolicyLint(rest, io);
    case 'lookup':
      return runPolicyLookup(rest, io);
    case 'apply':
      return runPolicyApply(rest, io);
    case undefined:
      throw new UsageError('missing policy subcommand: expected lint, lookup or apply');
    default:
      throw new UsageError(`unknown policy subcommand ${JSON.stringify(subcommand)}: expected lint, lookup or apply`);
  }
}
