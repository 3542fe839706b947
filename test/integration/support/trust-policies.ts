// Portieris policy YAML for the GUNs the integration tests sign (uniqueGun), requiring
// Notary trust from the trust server the test runs.
import { REGISTRY_HOST } from './scenarios.js';

// Every GUN uniqueGun makes.
export const TEST_GUN_PATTERN = `${REGISTRY_HOST}/it/*`;

// One `spec.repositories` item for every test GUN, requiring trust from `trustServer` and,
// when given, a signature by each signer the named secrets hold.
export function trustedTestGuns(trustServer: string, signerSecrets: readonly string[] = []): string {
  const signers = signerSecrets.length === 0 ? '' : `          signerSecrets:\n${signerSecrets.map((name) => `            - name: ${name}\n`).join('')}`;
  return `    - name: "${TEST_GUN_PATTERN}"
      policy:
        trust:
          enabled: true
          trustServer: "${trustServer}"
${signers}`;
}

// The ClusterImagePolicy `signed-test-registry`: trust required for every test GUN; each of
// `uncheckedPatterns` is admitted with an empty policy (no checks).
export function signedTestRegistryPolicy(trustServer: string, ...uncheckedPatterns: readonly string[]): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: signed-test-registry
spec:
  repositories:
${trustedTestGuns(trustServer)}${uncheckedPatterns.map((pattern) => `    - name: "${pattern}"\n      policy: {}\n`).join('')}`;
}

// Namespace `sandbox` runs anything unchecked (an allow-all ImagePolicy), while the enforced
// ClusterImagePolicy `name` requires trust from `trustServer` for each of `patterns` in every
// namespace: the baseline a namespace policy cannot weaken.
export function sandboxWithEnforcedBaseline(trustServer: string, name: string, patterns: readonly string[]): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: allow-all, namespace: sandbox}
spec:
  repositories:
    - name: "*"
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: ${name}
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
${patterns.map((pattern) => `    - name: "${pattern}"\n      policy:\n        trust: {enabled: true, trustServer: "${trustServer}"}\n`).join('')}`;
}
