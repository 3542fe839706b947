// The policies, digests and trust servers the policy-form verify tests share: a
// ClusterImagePolicy `trusted` requiring Notary trust for reg.example.com/team/* (and more
// repositories where a test needs them), and an enforced ClusterImagePolicy `baseline` that
// adds a second trust server's check for reg.example.com/prod*.
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
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
