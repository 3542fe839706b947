// `trustgate policy lookup IMAGE --policies PATH [--namespace NS] [--json]`: which policy
// governs the image in the namespace, and which enforced ClusterImagePolicies apply on top.
import { parseArgs } from 'node:util';
import { isTrustgateError } from '../../shared/errors.js';
import { toPolicyLookupResponse, type PolicyLookupResponse } from '../../shared/policy/policy-lookup.js';
import { decodePolicyLookupRequest, type PolicyLookupRequest } from '../../shared/policy/policy-lookup-request.js';
import { ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { formatProblem, loadPolicySet } from '../policy-set.js';
import { describePolicy, describePrecedence, describeSource, describeTagAndDigest } from './describe-policy.js';

// Exit 0 matched, 1 no match, 2 usage error or unusable policies. `--json` prints exactly the
// policy-lookup function's answer.
export async function runPolicyLookup(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      policies: { type: 'string' },
      namespace: { type: 'string', default: 'default' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing IMAGE' : 'expected exactly one IMAGE');
  if (values.policies === undefined) throw new UsageError('missing --policies PATH');
  const request = toRequest(positionals[0], values.namespace);
  const response = toPolicyLookupResponse(await loadPolicySet(values.policies), request);
  io.stdout(values.json ? `${JSON.stringify(response)}\n` : formatLookup(response));
  return response.matched ? ExitCode.ALLOWED : ExitCode.DENIED;
}

function toRequest(image: unknown, namespace: string): PolicyLookupRequest {
  try {
    return decodePolicyLookupRequest({ image, namespace });
  } catch (error) {
    if (isTrustgateError(error)) throw new UsageError(error.problems.map(formatProblem).join('; ') || error.message);
    throw error;
  }
}

function formatLookup(response: PolicyLookupResponse): string {
  const lines = response.matched
    ? [
        `matched: ${describeSource(response.source)}`,
        ...describePolicy(response.policy).map((line) => `  ${line}`),
        ...(response.precedence === undefined ? [] : describePrecedence(response.precedence)),
      ]
    : [`no match: ${response.reason}`];
  if (response.tagAndDigest !== undefined) lines.push(...describeTagAndDigest(response.tagAndDigest));
  for (const { policy, source } of response.enforced) {
    lines.push(`enforced: ${describeSource(source)}`, ...describePolicy(policy).map((line) => `  ${line}`));
  }
  return `${lines.join('\n')}\n`;
}
