// Key Secrets as policy files hold them next to the policies that name them.

// A Secret document (YAML, no trailing newline) holding a cosign public key under `cosign.pub`,
// as a sigstore authority's `key.secretName` names it.
export function cosignKeySecretYaml(name: string, namespace: string, publicKeyPem: string): string {
  return ['apiVersion: v1', 'kind: Secret', `metadata: {name: ${name}, namespace: ${namespace}}`, 'stringData:', '  cosign.pub: |', ...indentPem(publicKeyPem)].join('\n');
}

// A Notary signer Secret document (YAML, no trailing newline): the delegation name `signer`
// (`targets/<signer>`) and its public key, as `trust.signerSecrets` names it.
export function notarySignerSecretYaml(name: string, namespace: string, signer: string, publicKeyPem: string): string {
  return ['apiVersion: v1', 'kind: Secret', `metadata: {name: ${name}, namespace: ${namespace}}`, 'stringData:', `  name: ${signer}`, '  publicKey: |', ...indentPem(publicKeyPem)].join('\n');
}

// A simple-signing key Secret document (YAML, no trailing newline): an armored OpenPGP public
// key under `key`, as a `signedBy` requirement's `keySecret` names it.
export function simpleKeySecretYaml(name: string, namespace: string, armoredKey: string): string {
  return ['apiVersion: v1', 'kind: Secret', `metadata: {name: ${name}, namespace: ${namespace}}`, 'stringData:', '  key: |', ...indentPem(armoredKey)].join('\n');
}

// The PEM's lines indented as a block scalar under a stringData key.
function indentPem(pem: string): string[] {
  return pem.trim().split('\n').map((line) => `    ${line}`);
}
