// Where the Secrets a policy names are read: an enforced ClusterImagePolicy must name the
// namespace of every Secret (never the workload's, where a tenant may write Secrets), and an
// explicit namespace is honoured by every policy.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { createClusterPolicyObjects } from '../../../shared/policy/cluster-policy-objects.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { Policy, PolicySecret } from '../../../shared/policy/model.js';
import { publishPolicySnapshot, readPolicySnapshot } from '../../../shared/policy/snapshot-store.js';
import { toRequirements, toSecretLookup } from '../../../shared/policy/trust-requirements.js';
import { clockFrom } from '../../support/clocks.js';

const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const OPERATOR_PEM = pem();
const TENANT_PEM = pem();
const ROOT = (name: string) => JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [], name });
const IDENTITY = { issuer: 'https://issuer.example.com', subject: 'ci@example.com' };

function clusterPolicy(policy: unknown, enforce: string | undefined): Record<string, unknown> {
  return {
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'baseline', ...(enforce === undefined ? {} : { annotations: { 'trustgate.dev/enforce': enforce } }) },
    spec: { repositories: [{ name: 'reg.example.com/prod/*', policy }] },
  };
}

// The field paths of every problem decoding `document` reports (none: it decoded).
function problemsOf(document: Record<string, unknown>): string[] {
  try {
    decodePolicyDocuments([{ source: 'p.json', text: JSON.stringify(document) }]);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.POLICY_INVALID);
    return (error as TrustgateError).problems.map((problem) => problem.path);
  }
}

function policyOf(document: Record<string, unknown>): Policy {
  const set = decodePolicyDocuments([{ source: 'p.json', text: JSON.stringify(document) }]);
  const policy = [...set.clusterPolicies, ...set.imagePolicies][0]?.repositories[0]?.policy;
  if (policy === undefined) throw new Error('no policy decoded');
  return policy;
}

function secret(namespace: string, name: string, data: Record<string, string>): PolicySecret {
  return { name, namespace, data: new Map(Object.entries(data).map(([key, value]) => [key, new TextEncoder().encode(value)])) };
}

// The operator's Secrets in `trustgate-keys`, and the tenant's own of the same names in `tenant`.
const SECRETS = toSecretLookup(
  [
    ['trustgate-keys', OPERATOR_PEM, 'operator'],
    ['tenant', TENANT_PEM, 'tenant'],
  ].flatMap(([namespace = '', key = '', who = '']) => [
    secret(namespace, 'release-key', { 'cosign.pub': key }),
    secret(namespace, 'signer', { name: `${who}-signer`, publicKey: key }),
    secret(namespace, 'corp-root', { 'trusted_root.json': ROOT(who) }),
    secret(namespace, 'gpg', { key: `-----BEGIN PGP PUBLIC KEY BLOCK-----${who}` }),
    secret(namespace, 'store', { username: who, password: 'p' }),
  ]),
);

const EVERY_REFERENCE = {
  trust: { enabled: true, signerSecrets: [{ name: 'signer' }] },
  sigstore: { authorities: [{ key: { secretName: 'release-key' } }, { keyless: { identities: [IDENTITY], trustRootSecretName: 'corp-root' } }] },
  simple: { storeURL: 'https://sigs.example.com', storeSecret: 'store', requirements: [{ type: 'signedBy', keySecret: 'gpg' }] },
};

const EVERY_REFERENCE_PINNED = {
  trust: { enabled: true, signerSecrets: [{ name: 'signer', namespace: 'trustgate-keys' }] },
  sigstore: {
    authorities: [{ key: { secretName: 'release-key', secretNamespace: 'trustgate-keys' } }, { keyless: { identities: [IDENTITY], trustRootSecretName: 'corp-root', trustRootSecretNamespace: 'trustgate-keys' } }],
  },
  simple: { storeURL: 'https://sigs.example.com', storeSecret: 'store', storeSecretNamespace: 'trustgate-keys', requirements: [{ type: 'signedBy', keySecret: 'gpg', keySecretNamespace: 'trustgate-keys' }] },
};

describe('an enforced ClusterImagePolicy', () => {
  it('is invalid at every Secret reference that names no namespace', () => {
    const at = 'p.json:1: spec.repositories[0].policy.';
    expect(problemsOf(clusterPolicy(EVERY_REFERENCE, 'true'))).toEqual([
      `${at}trust.signerSecrets[0].namespace`,
      `${at}sigstore.authorities[0].key.secretNamespace`,
      `${at}sigstore.authorities[1].keyless.trustRootSecretNamespace`,
      `${at}simple.storeSecretNamespace`,
      `${at}simple.requirements[0].keySecretNamespace`,
    ]);
  });

  it('is invalid with an empty keySecretNamespace, which means the workload namespace', () => {
    const policy = { simple: { requirements: [{ type: 'signedBy', keySecret: 'gpg', keySecretNamespace: '' }] } };
    expect(problemsOf(clusterPolicy(policy, 'true'))).toEqual(['p.json:1: spec.repositories[0].policy.simple.requirements[0].keySecretNamespace']);
  });

  it('needs no namespace for a Secret it never reads: signer Secrets of a disabled Notary check, a key of a requirement other than signedBy', () => {
    const staged = { trust: { enabled: false, signerSecrets: [{ name: 'staged-signer' }] }, simple: { requirements: [{ type: 'insecureAcceptAnything', keySecret: 'leftover' }] } };
    expect(problemsOf(clusterPolicy(staged, 'true'))).toEqual([]);
  });

  it('never quotes a trusted root Secret\'s value in its denial (whoever wrote the policy may not read the Secret)', () => {
    const secrets = toSecretLookup([secret('keys', 'db', { 'trusted_root.json': 'SuperSecretDBPassword123' })]);
    const policy = { sigstore: { authorities: [{ keyless: { identities: [IDENTITY], trustRootSecretName: 'db', trustRootSecretNamespace: 'keys' } }] } };
    let message = '';
    try {
      toRequirements(policyOf(clusterPolicy(policy, 'true')), secrets, 'default');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('not valid JSON');
    expect(message).not.toContain('Super');
  });

  it('is valid when every Secret reference names its namespace', () => {
    expect(problemsOf(clusterPolicy(EVERY_REFERENCE_PINNED, 'true'))).toEqual([]);
  });

  it('reads every Secret from the namespace it names, never the tenant one of the same name in the workload namespace', () => {
    const requirements = toRequirements(policyOf(clusterPolicy(EVERY_REFERENCE_PINNED, 'true')), SECRETS, 'tenant');
    expect(requirements).toMatchObject([
      { kind: 'notary', signers: [{ name: 'operator-signer', publicKeyPem: OPERATOR_PEM.trim() }] },
      {
        kind: 'cosign',
        authorities: [
          { name: 'key/trustgate-keys/release-key', publicKeyPem: OPERATOR_PEM.trim() },
          { name: 'keyless/1', trustedRoot: { name: 'operator' } },
        ],
      },
      { kind: 'simple', storeCredentials: { username: 'operator' } },
    ]);
    const simple = requirements[2];
    const keyring = simple?.kind === 'simple' ? simple.rules[0]?.keyring : undefined;
    expect(new TextDecoder().decode(keyring?.bytes)).toBe('-----BEGIN PGP PUBLIC KEY BLOCK-----operator');
  });

  it('denies with POLICY_SECRET_MISSING when the named namespace lacks the Secret, whatever the workload namespace holds', () => {
    const policy = { sigstore: { authorities: [{ key: { secretName: 'release-key', secretNamespace: 'elsewhere' } }] } };
    expect(() => toRequirements(policyOf(clusterPolicy(policy, 'true')), SECRETS, 'tenant')).toThrow(expect.objectContaining({ code: ErrorCode.POLICY_SECRET_MISSING }));
  });
});

describe('a ClusterImagePolicy that is not enforced', () => {
  it.each([[undefined], ['false']])('reads Secrets without a namespace from the workload namespace (enforce annotation %s)', (enforce) => {
    expect(problemsOf(clusterPolicy(EVERY_REFERENCE, enforce))).toEqual([]);
    const [notary, cosign] = toRequirements(policyOf(clusterPolicy(EVERY_REFERENCE, enforce)), SECRETS, 'tenant');
    expect(notary).toMatchObject({ signers: [{ name: 'tenant-signer' }] });
    expect(cosign).toMatchObject({ authorities: [{ name: 'key/release-key', publicKeyPem: TENANT_PEM.trim() }, { trustedRoot: { name: 'tenant' } }] });
  });

  it('honours an explicit namespace', () => {
    const [notary, cosign] = toRequirements(policyOf(clusterPolicy(EVERY_REFERENCE_PINNED, undefined)), SECRETS, 'tenant');
    expect(notary).toMatchObject({ signers: [{ name: 'operator-signer' }] });
    expect(cosign).toMatchObject({ authorities: [{ publicKeyPem: OPERATOR_PEM.trim() }, { trustedRoot: { name: 'operator' } }] });
  });
});

describe('an ImagePolicy', () => {
  const imagePolicy = (policy: unknown) => ({ apiVersion: 'portieris.cloud.ibm.com/v1', kind: 'ImagePolicy', metadata: { name: 'p', namespace: 'tenant' }, spec: { repositories: [{ name: '*', policy }] } });
  const pinnedTo = (namespace: string) => ({
    trust: { enabled: true, signerSecrets: [{ name: 'signer', namespace }] },
    sigstore: { authorities: [{ key: { secretName: 'release-key', secretNamespace: namespace } }, { keyless: { identities: [IDENTITY], trustRootSecretName: 'corp-root', trustRootSecretNamespace: namespace } }] },
    simple: { storeURL: 'https://sigs.example.com', storeSecret: 'store', storeSecretNamespace: namespace, requirements: [{ type: 'signedBy', keySecret: 'gpg' }] },
  });

  it('may name its own namespace in every Secret namespace field', () => {
    expect(problemsOf(imagePolicy(pinnedTo('tenant')))).toEqual([]);
    const [notary] = toRequirements(policyOf(imagePolicy(pinnedTo('tenant'))), SECRETS, 'tenant');
    expect(notary).toMatchObject({ signers: [{ name: 'tenant-signer' }] });
  });

  it('names no other namespace\'s Secret (it would make serve read, watch, publish and quote it), store credentials included', () => {
    const at = 'p.json:1: spec.repositories[0].policy.';
    expect(problemsOf(imagePolicy(pinnedTo('trustgate-keys')))).toEqual([
      `${at}trust.signerSecrets[0].namespace`,
      `${at}sigstore.authorities[0].key.secretNamespace`,
      `${at}sigstore.authorities[1].keyless.trustRootSecretNamespace`,
      `${at}simple.storeSecretNamespace`,
    ]);
  });

  it('has a key Secret it names in another namespace (keySecretNamespace) watched against its own namespace\'s bounds', () => {
    const objects = createClusterPolicyObjects();
    // Portieris' simple-signing keySecretNamespace, the one field an ImagePolicy may point elsewhere.
    const policy = {
      sigstore: { authorities: [{ key: { secretName: 'own-key', secretNamespace: 'tenant' } }] },
      simple: { requirements: [{ type: 'signedBy', keySecret: 'gpg', keySecretNamespace: 'trustgate-keys' }] },
    };
    objects.apply('ImagePolicy', { metadata: { name: 'p', namespace: 'tenant', uid: 'u1', resourceVersion: '1' }, spec: { repositories: [{ name: '*', policy }] } });
    expect(objects.referencedSecrets()).toEqual(
      expect.arrayContaining([
        { namespace: 'trustgate-keys', name: 'gpg', by: 'tenant' },
        { namespace: 'tenant', name: 'own-key' },
      ]),
    );
  });
});

describe('a Secret namespace field', () => {
  it.each([
    ['a namespace that is not a DNS label', { sigstore: { authorities: [{ key: { secretName: 'k', secretNamespace: 'Bad_NS' } }] } }, 'sigstore.authorities[0].key.secretNamespace'],
    ['an empty signer namespace', { trust: { enabled: true, signerSecrets: [{ name: 's', namespace: '' }] } }, 'trust.signerSecrets[0].namespace'],
    ['a trusted root namespace without trustRootSecretName', { sigstore: { authorities: [{ keyless: { identities: [IDENTITY], trustRootSecretNamespace: 'keys' } }] } }, 'sigstore.authorities[0].keyless.trustRootSecretNamespace'],
    ['a store namespace without storeSecret', { simple: { storeSecretNamespace: 'keys', requirements: [{ type: 'insecureAcceptAnything' }] } }, 'simple.storeSecretNamespace'],
  ])('is invalid with %s', (_, policy, field) => {
    expect([...new Set(problemsOf(clusterPolicy(policy, undefined)))]).toEqual([`p.json:1: spec.repositories[0].policy.${field}`]);
  });

  it('lets two key authorities share a Secret name in different namespaces', () => {
    const policy = { sigstore: { threshold: 2, authorities: [{ key: { secretName: 'release-key', secretNamespace: 'trustgate-keys' } }, { key: { secretName: 'release-key', secretNamespace: 'tenant' } }] } };
    const [cosign] = toRequirements(policyOf(clusterPolicy(policy, 'true')), SECRETS, 'default');
    expect(cosign).toMatchObject({ authorities: [{ name: 'key/trustgate-keys/release-key' }, { name: 'key/tenant/release-key' }], threshold: 2 });
  });
});

describe('serve --policies-from-cluster and its policy snapshot', () => {
  const objects = createClusterPolicyObjects();
  objects.apply('ClusterImagePolicy', { ...clusterPolicy(EVERY_REFERENCE_PINNED, 'true'), metadata: { name: 'baseline', uid: 'u1', resourceVersion: '1', annotations: { 'trustgate.dev/enforce': 'true' } } });
  const base64 = (values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
  for (const namespace of ['trustgate-keys', 'tenant']) {
    objects.apply('Secret', { metadata: { name: 'release-key', namespace, uid: `k-${namespace}`, resourceVersion: '2' }, data: base64({ 'cosign.pub': namespace === 'tenant' ? TENANT_PEM : OPERATOR_PEM }) });
  }

  it('watch the Secrets of an enforced ClusterImagePolicy only in the namespaces it names, charged to no tenant', () => {
    expect(objects.referencedSecrets()).toEqual(
      expect.arrayContaining([
        { namespace: 'trustgate-keys', name: 'signer', byCluster: true },
        { namespace: 'trustgate-keys', name: 'release-key', byCluster: true },
        { namespace: 'trustgate-keys', name: 'corp-root', byCluster: true },
        { namespace: 'trustgate-keys', name: 'store', byCluster: true },
        { namespace: 'trustgate-keys', name: 'gpg', byCluster: true },
      ]),
    );
    expect(objects.referencedSecrets()).toHaveLength(5);
    expect(objects.toPolicySet().secrets.map((held) => `${held.namespace}/${held.name}`)).toEqual(['trustgate-keys/release-key']);
  });

  it('publish the namespace fields and only the Secret of the named namespace', async () => {
    const kv = createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), new Uint8Array(32).fill(7));
    expect(await publishPolicySnapshot(kv, 'prod', objects.toPolicySet(), 0)).toMatchObject({ outcome: 'published' });
    const stored = (await readPolicySnapshot(kv, 'prod'))?.set;
    expect(stored?.secrets.map((held) => `${held.namespace}/${held.name}`)).toEqual(['trustgate-keys/release-key']);
    expect(stored?.clusterPolicies[0]?.repositories[0]?.policy).toEqual(policyOf(clusterPolicy(EVERY_REFERENCE_PINNED, 'true')));
  });
});
