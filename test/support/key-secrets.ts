// Key Secrets as policy files hold them next to the policies that name them.

// A Secret document (YAML, no trailing newline) holding a cosign public key under `cosign.pub`,
// as a sigstore authority's `key.secretName` names it.
export function cosignKeySecretYaml(name: string, namespace: string, publicKeyPem: string): string {
  const indented = publicKeyPem.trim().split('\n').map((line) => `    ${line}`);
  return ['apiVersion: v1', 'kind: Secret', `metadata: {name: ${name}, namespace: ${namespace}}`, 'stringData:', '  cosign.pub: |', ...indented].join('\n');
}
