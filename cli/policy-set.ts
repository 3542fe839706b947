// Policy files for the CLI: read and decoded, with any failure turned into a ConfigError
// that lists every problem (`file:document: field path: message`), one per line.
import { ErrorCode, isTrustgateError, type FieldProblem } from '../shared/errors.js';
import { decodePolicyDocuments } from '../shared/policy/decode-documents.js';
import type { PolicySet } from '../shared/policy/model.js';
import type { PolicyFile } from '../shared/policy/parse-policy-stream.js';
import { readPolicyFiles } from '../shared/policy/policy-files.js';
import { ConfigError } from './cli-error.js';

export async function loadPolicySet(path: string): Promise<PolicySet> {
  return (await loadPolicyFiles(path)).set;
}

// The files as read and the set decoded from them (serve compares later reads with them).
export async function loadPolicyFiles(path: string): Promise<{ readonly files: PolicyFile[]; readonly set: PolicySet }> {
  try {
    const files = await readPolicyFiles(path);
    return { files, set: decodePolicyDocuments(files) };
  } catch (error) {
    if (isTrustgateError(error) && (error.code === ErrorCode.POLICY_INVALID || error.code === ErrorCode.POLICY_UNSUPPORTED || error.code === ErrorCode.CONFIG_INVALID)) {
      const summary =
        error.code === ErrorCode.POLICY_INVALID ? `invalid policies in ${path}` : error.code === ErrorCode.POLICY_UNSUPPORTED ? `policies in ${path} ask for what is not supported yet` : error.message;
      throw new ConfigError(summary, error.problems.map(formatProblem));
    }
    throw error;
  }
}

// One problem as a line; problem paths already start with `file:document`.
export function formatProblem(problem: FieldProblem): string {
  return problem.path === '' ? problem.message : `${problem.path}: ${problem.message}`;
}
