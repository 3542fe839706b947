// Policy files for the CLI: read and decoded, with any failure turned into a ConfigError
// that lists every problem (`file:document: field path: message`), one per line.
import { ErrorCode, isTrustgateError, type FieldProblem } from '../shared/errors.js';
import type { PolicySet } from '../shared/policy/model.js';
import { readPolicySet } from '../shared/policy/read-policy-set.js';
import { ConfigError } from './cli-error.js';

export async function loadPolicySet(path: string): Promise<PolicySet> {
  try {
    return await readPolicySet(path);
  } catch (error) {
    if (isTrustgateError(error) && (error.code === ErrorCode.POLICY_INVALID || error.code === ErrorCode.CONFIG_INVALID)) {
      const summary = error.code === ErrorCode.POLICY_INVALID ? `invalid policies in ${path}` : error.message;
      throw new ConfigError(summary, error.problems.map(formatProblem));
    }
    throw error;
  }
}

// One problem as a line; problem paths already start with `file:document`.
export function formatProblem(problem: FieldProblem): string {
  return problem.path === '' ? problem.message : `${problem.path}: ${problem.message}`;
}
