// The policies, digests, trust servers and verifier stand-ins the policy-form verify tests
// share: a ClusterImagePolicy `trusted` requiring Notary trust for reg.example.com/team/* (and
// more repositories where a test needs them), an enforced ClusterImagePolicy `baseline` that
// adds a second trust server's check for reg.example.com/prod*, and verifiers that answer
// from a table.
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { repositoryName } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import type { ImageVerifier, TrustRequirement } from '../../../shared/trust/verifier.js';
import { fixedClock } from '../../support/clocks.js';

export const DIGEST_A = `sha256:${'aa'.repeat(32)}`;
export const DIGEST_B = `sha256:${'bb'.repeat(32)}`;
export const SERVER_A = 'https://notary-a.example.com';
export const SERVER_B = 'https://notary-b.example.com';
// The clock the verify deps of these tests run with.
export const VERIFY_CLOCK = fixedClock(new Date('2026-11-27T00:00:00Z'));

// One repository entry of a policy's `spec.repositories`; without `policy`, the repository is
// let through unchecked.
export function repository(pattern: string, policy?: string): string {
  return policy === undefined ? `    - name: ${pattern}\n` : `    - name: ${pattern}\n      policy: ${policy}\n`;
}

// A Notary trust policy naming `server`.
export function trustFrom(server: string): string {
  return `{trust: {enabled: true, trustServer: "${server}"}}`;
}

// The ClusterImagePolicy `trusted`: trust from `server` for reg.example.com/team/*, then `more`.
export function trustedClusterPolicy(server: string, ...more: readonly string[]): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: trusted}
spec:
  repositories:
${repository('reg.example.com/team/*', trustFrom(server))}${more.join('')}`;
}

// The cluster policies of the verify tests: `trusted` (team/* and prod/* need trust from
// SERVER_A, open/* is let through, `more` sits between them) and the enforced `baseline`.
export function clusterPolicies(...more: readonly string[]): string {
  const trusted = trustedClusterPolicy(SERVER_A, repository('reg.example.com/open/*'), ...more, repository('reg.example.com/prod/*', trustFrom(SERVER_A)));
  return `${trusted}---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: baseline
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
    # Less specific than trusted's entry, so in namespaces without ImagePolicies trusted
    # governs and this one applies on top of it.
${repository('reg.example.com/prod*', trustFrom(SERVER_B))}`;
}

// The policy set of YAML `documents`, as read from one file.
export function policySetOf(...documents: readonly string[]): PolicySet {
  return decodePolicyDocuments([{ source: 'policies.yaml', text: documents.join('---\n') }]);
}

// A table verifier's answers by repository: the digest it verifies, or the error code it
// fails with.
export type VerifierTable = Readonly<Record<string, string>>;

// Whom a table verifier names as the signer, by kind.
const TABLE_SIGNERS = { notary: 'targets', cosign: 'cosign:key/release-key', simple: 'simple:ABCD' } as const;

// A verifier of `kind` answering from `table` (failing with `missing` for a repository not in
// it), keeping each requirement it is asked in `asked`.
export function tableVerifier<R extends TrustRequirement>(kind: R['kind'], table: VerifierTable, asked: R[], missing: ErrorCode): ImageVerifier<R> {
  return {
    kind,
    verify: (image, requirement) => {
      asked.push(requirement);
      const answer = table[repositoryName(image)];
      if (answer === undefined || !answer.startsWith('sha256:')) return Promise.reject(new TrustgateError((answer ?? missing) as ErrorCode, `${kind} says no`));
      // A fresh string each time: digests are compared by value.
      return Promise.resolve({ digest: `sha256:${answer.slice('sha256:'.length)}`, signers: [TABLE_SIGNERS[kind]] });
    },
  };
}
