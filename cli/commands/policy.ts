// `trustgate policy <lint|lookup> ...`
import { UsageError, type ExitCode } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { POLICY_LINT_USAGE, runPolicyLint } from './policy-lint.js';
import { POLICY_LOOKUP_USAGE, runPolicyLookup } from './policy-lookup.js';

export const POLICY_USAGES = [POLICY_LINT_USAGE, POLICY_LOOKUP_USAGE];

export async function runPolicy(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const [subcommand, ...rest] = args;
  switch (subcommand) {
    case 'lint':
      return runPolicyLint(rest, io);
    case 'lookup':
      return runPolicyLookup(rest, io);
    case undefined:
      throw new UsageError('missing policy subcommand: expected lint or lookup');
    default:
      throw new UsageError(`unknown policy subcommand ${JSON.stringify(subcommand)}: expected lint or lookup`);
  }
}
