// From a decoded PolicySet back to Portieris documents, the form a policy snapshot carries
// (shared/policy/policy-snapshot.ts): the deployed functions decode it with the same decoder
// `policy lint` and serve use, so a snapshot is validated exactly like a file.
//
// Secrets: only those a policy names, and only the public keys a verifier reads from them
// (signer `name` and `publicKey`, cosign `cosign.pub`, a simple-signing keyring `key`, a
// Sigstore `trusted_root.json`). A Secret in the set for another reason (a pull
// secret, a token) and any other key of a signer Secret never leave the proxy.
import { PolicyMode, ENFORCE_ANNOTATION, MODE_ANNOTATION, ROOT_KEY_IDS_ANNOTATION } from './model.js';
import type { ClusterImagePolicy, ImagePolicy, Policy, PolicySecret, PolicySet, SimpleRequirement } from './model.js';
import { POLICY_API_VERSION } from './decode-image-policy.js';

export type JsonDocument = Readonly<Record<string, unknown>>;

// The Secret keys a verifier reads; nothing else of a Secret is published.
// A simple-signing store's credentials (`storeSecret`) are not published: a function without
// them cannot read that store and denies.
export const PUBLISHED_SECRET_KEYS: ReadonlySet<string> = new Set(['name', 'publicKey', 'cosign.pub', 'key', 'trusted_root.json']);

// The set's documents in a canonical order (ClusterImagePolicies by name, ImagePolicies by
// namespace and name, Secrets by namespace and name), so equal sets encode to equal bytes.
export function encodePolicyDocuments(set: PolicySet): JsonDocument[] {
  const clusterPolicies = [...set.clusterPolicies].sort((a, b) => compare(a.name, b.name)).map(encodePolicyDocument);
  const imagePolicies = [...set.imagePolicies].sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`)).map(encodePolicyDocument);
  const secrets = publishedSecrets(set)
    .sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))
    .map(encodeSecret);
  return [...clusterPolicies, ...imagePolicies, ...secrets];
}

// The set as a snapshot carries it: the same policies, and only the published Secrets and keys.
export function toPublishedSet(set: PolicySet): PolicySet {
  return {
    imagePolicies: set.imagePolicies,
    clusterPolicies: set.clusterPolicies,
    secrets: publishedSecrets(set).map((secret) => ({ ...secret, data: new Map([...secret.data].filter(([key]) => PUBLISHED_SECRET_KEYS.has(key))) })),
  };
}

// Secrets named by some policy. ClusterImagePolicies read their Secrets from the workload's
// namespace, so a name they use is published from every namespace; an ImagePolicy's names
// only from its own namespace.
function publishedSecrets(set: PolicySet): PolicySecret[] {
  const anywhere = new Set<string>();
  const inNamespace = new Set<string>();
  for (const policy of set.clusterPolicies) for (const name of secretNames(policy)) anywhere.add(name);
  for (const policy of set.imagePolicies) for (const name of secretNames(policy)) inNamespace.add(`${policy.namespace}/${name}`);
  return set.secrets.filter((secret) => anywhere.has(secret.name) || inNamespace.has(`${secret.namespace}/${secret.name}`));
}

function secretNames(policy: ImagePolicy | ClusterImagePolicy): string[] {
  return policy.repositories.flatMap(({ policy: entry }) => [
    ...entry.trust.signerSecrets,
    ...(entry.sigstore?.keySecrets ?? []),
    ...(entry.sigstore?.keyless.flatMap((keyless) => (keyless.trustRootSecretName === undefined ? [] : [keyless.trustRootSecretName])) ?? []),
    ...(entry.simple?.requirements.flatMap((requirement) => (requirement.keySecret === undefined ? [] : [requirement.keySecret])) ?? []),
  ]);
}

function encodePolicyDocument(policy: ImagePolicy | ClusterImagePolicy): JsonDocument {
  const annotations: Record<string, string> = {};
  if (policy.kind === 'ClusterImagePolicy' && policy.enforce) annotations[ENFORCE_ANNOTATION] = 'true';
  if (policy.mode !== undefined && policy.mode !== PolicyMode.enforce) annotations[MODE_ANNOTATION] = policy.mode;
  // Root key IDs are one annotation per document, copied onto each entry when decoded.
  const rootKeyIds = policy.repositories[0]?.policy.trust.rootKeyIds ?? [];
  if (rootKeyIds.length > 0) annotations[ROOT_KEY_IDS_ANNOTATION] = rootKeyIds.join(',');
  const metadata = {
    name: policy.name,
    ...(policy.kind === 'ImagePolicy' ? { namespace: policy.namespace } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return {
    apiVersion: POLICY_API_VERSION,
    kind: policy.kind,
    metadata,
    spec: { repositories: policy.repositories.map((repository) => ({ name: repository.name, policy: encodePolicy(repository.policy) })) },
  };
}

function encodePolicy(policy: Policy): JsonDocument {
  const { trust, sigstore, verification, simple, vulnerability } = policy;
  return {
    mutateImage: policy.mutateImage,
    trust: {
      enabled: trust.enabled,
      ...(trust.trustServer === undefined ? {} : { trustServer: trust.trustServer }),
      signerSecrets: trust.signerSecrets.map((name) => ({ name })),
    },
    ...(sigstore === undefined
      ? {}
      : {
          sigstore: {
            authorities: [
              ...sigstore.keySecrets.map((secretName) => ({ key: { secretName } })),
              ...sigstore.keyless.map((keyless) => ({
                keyless: {
                  identities: keyless.identities.map((identity) => ({ ...identity })),
                  ...(keyless.trustRootSecretName === undefined ? {} : { trustRootSecretName: keyless.trustRootSecretName }),
                },
              })),
            ],
            threshold: sigstore.threshold,
            tlog: sigstore.tlog,
          },
        }),
    ...(verification === undefined ? {} : { verification: { mode: verification.mode } }),
    ...(simple === undefined
      ? {}
      : {
          simple: {
            ...(simple.storeURL === undefined ? {} : { storeURL: simple.storeURL }),
            ...(simple.storeSecret === undefined ? {} : { storeSecret: simple.storeSecret }),
            requirements: simple.requirements.map(encodeSimpleRequirement),
          },
        }),
    ...(vulnerability === undefined
      ? {}
      : { vulnerability: { ICCRVA: { enabled: vulnerability.iccrva.enabled, ...(vulnerability.iccrva.account === undefined ? {} : { account: vulnerability.iccrva.account }) } } }),
  };
}

function encodeSimpleRequirement(requirement: SimpleRequirement): JsonDocument {
  const { type, ...identity } = requirement.signedIdentity;
  return {
    type: requirement.type,
    ...(requirement.keySecret === undefined ? {} : { keySecret: requirement.keySecret }),
    ...(requirement.keySecretNamespace === undefined ? {} : { keySecretNamespace: requirement.keySecretNamespace }),
    signedIdentity: { type: type === 'matchRepoDigestOrExact' ? '' : type, ...identity },
  };
}

function encodeSecret(secret: PolicySecret): JsonDocument {
  const data: Record<string, string> = {};
  for (const [key, value] of [...secret.data].sort(([a], [b]) => compare(a, b))) {
    if (PUBLISHED_SECRET_KEYS.has(key)) data[key] = Buffer.from(value).toString('base64');
  }
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret.name, namespace: secret.namespace }, data };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
