// The policy the policy-lookup tests share: a ClusterImagePolicy named `registry` that
// requires Notary trust from notary.example.com for every image under reg.example.com, and
// the answer a lookup of such an image gives.

// The YAML document; each of `uncheckedPatterns` is added as a repository with no policy.
export function registryClusterPolicy(...uncheckedPatterns: readonly string[]): string {
  return `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: registry}
spec:
  repositories:
    - name: reg.example.com/*
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}
${uncheckedPatterns.map((pattern) => `    - name: ${pattern}\n`).join('')}`;
}

// The policy-lookup answer for an image under reg.example.com in a namespace with no
// ImagePolicy and no enforced ClusterImagePolicy.
export const REGISTRY_POLICY_MATCH = {
  matched: true,
  policy: { mode: 'enforce', mutateImage: true, trust: { enabled: true, trustServer: 'https://notary.example.com', signerSecrets: [], rootKeyIds: [] } },
  source: { kind: 'ClusterImagePolicy', name: 'registry', pattern: 'reg.example.com/*' },
  enforced: [],
};
