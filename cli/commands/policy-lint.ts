// `trustgate policy lint PATH`: decode a policy file or folder exactly as the service does and
// list every problem, so a policy is checked before it is deployed rather than when it denies.
import { parseArgs } from 'node:util';
import { ErrorCode, isTrustgateError } from '../../shared/errors.js';
import { decodePolicyDocuments } from '../../shared/policy/decode-documents.js';
import { readPolicyFiles } from '../../shared/policy/policy-files.js';
import type { PolicyFile } from '../../shared/policy/parse-policy-stream.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { formatProblem } from '../policy-set.js';

// Exit 0 valid (one summary line), 1 invalid (every problem on stdout, one per line),
// 2 unreadable path.
export async function runPolicyLint(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { positionals } = parseArgs({ args: [...args], allowPositionals: true, options: {} });
  const [path, ...extra] = positionals;
  if (path === undefined) throw new UsageError('missing PATH');
  if (extra.length > 0) throw new UsageError('expected exactly one PATH');
  let files: PolicyFile[];
  try {
    files = await readPolicyFiles(path);
  } catch (error) {
    if (isTrustgateError(error) && error.code === ErrorCode.CONFIG_INVALID) throw new ConfigError(error.message);
    throw error;
  }
  try {
    const set = decodePolicyDocuments(files);
    const counts = `${set.imagePolicies.length} ImagePolicies, ${set.clusterPolicies.length} ClusterImagePolicies, ${set.secrets.length} Secrets`;
    io.stdout(`valid: ${counts} (${files.length === 1 ? '1 file' : `${files.length} files`})\n`);
    // Policies that do not deny are named, so a rollout left in warn or audit is seen.
    for (const policy of [...set.clusterPolicies, ...set.imagePolicies]) {
      if (policy.mode === undefined || policy.mode === 'enforce') continue;
      const name = policy.kind === 'ImagePolicy' ? `${policy.namespace}/${policy.name}` : policy.name;
      io.stdout(`mode ${policy.mode}: ${policy.kind} ${name}\n`);
    }
    return ExitCode.ALLOWED;
  } catch (error) {
    // A valid document asking for what is not built yet (keyless, a transparency log) fails lint too.
    if (!isTrustgateError(error) || (error.code !== ErrorCode.POLICY_INVALID && error.code !== ErrorCode.POLICY_UNSUPPORTED)) throw error;
    io.stdout(error.problems.map((problem) => `${formatProblem(problem)}\n`).join(''));
    const count = error.problems.length === 1 ? '1 problem' : `${error.problems.length} problems`;
    io.stderr(`trustgate: ${path} is ${error.code === ErrorCode.POLICY_UNSUPPORTED ? 'not supported' : 'invalid'}: ${count}\n`);
    return ExitCode.DENIED;
  }
}
