// A policy snapshot publishes of each Secret only the keys of the role the policy gives it.
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { createClusterPolicyObjects } from '../../../shared/policy/cluster-policy-objects.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { publishPolicySnapshot, readPolicySnapshot } from '../../../shared/policy/snapshot-store.js';
import { clockFrom } from '../../support/clocks.js';

const KEY = new Uint8Array(32).fill(7);

const secret = (namespace: string, name: string) =>
  `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
stringData: {name: n-${name}, publicKey: P-${name}, key: K-${name}, cosign.pub: C-${name}, trusted_root.json: T-${name}, password: S-${name}}
`;

const set = decodePolicyDocuments([
  {
    source: 'p.yaml',
    text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: notary}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy: {trust: {enabled: true, signerSecrets: [{name: alice}]}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: roles, namespace: team}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy:
        sigstore:
          authorities:
            - key: {secretName: cosign}
            - keyless: {identities: [{issuer: "https://issuer.example.com", subject: "ci@example.com"}], trustRootSecretName: root}
        simple:
          requirements: [{type: signedBy, keySecret: keyring}, {type: signedBy, keySecret: shared-ring, keySecretNamespace: keys}]
---
${secret('trustgate-system', 'alice')}---
${secret('payments', 'alice')}---
${secret('team', 'cosign')}---
${secret('team', 'root')}---
${secret('team', 'keyring')}---
${secret('keys', 'shared-ring')}---
${secret('team', 'shared-ring')}`,
  },
]);

async function publishedData(): Promise<Record<string, Record<string, string>>> {
  const kv = createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), KEY);
  await publishPolicySnapshot(kv, 'prod', set, 0);
  const stored = await readPolicySnapshot(kv, 'prod');
  const result: Record<string, Record<string, string>> = {};
  for (const secret of stored?.set.secrets ?? []) {
    result[`${secret.namespace}/${secret.name}`] = Object.fromEntries([...secret.data].map(([key, value]) => [key, Buffer.from(value).toString()]));
  }
  return result;
}

describe('a policy snapshot publishes of each Secret only the keys its role reads', () => {
  it('publishes a signer Secret\'s name and publicKey, never its key or anything else', async () => {
    const data = await publishedData();
    expect(data['trustgate-system/alice']).toEqual({ name: 'n-alice', publicKey: 'P-alice' });
    expect(data['payments/alice']).toEqual({ name: 'n-alice', publicKey: 'P-alice' });
  });

  it('publishes only cosign.pub of a Sigstore key Secret, trusted_root.json of a trust root Secret and key of a simple-signing key Secret', async () => {
    const data = await publishedData();
    expect(data['team/cosign']).toEqual({ 'cosign.pub': 'C-cosign' });
    expect(data['team/root']).toEqual({ 'trusted_root.json': 'T-root' });
    expect(data['team/keyring']).toEqual({ key: 'K-keyring' });
  });

  it('publishes a simple-signing key Secret named with keySecretNamespace from that namespace only', async () => {
    const data = await publishedData();
    expect(data['keys/shared-ring']).toEqual({ key: 'K-shared-ring' });
    expect(data['team/shared-ring']).toBeUndefined();
  });

  it('never publishes a Secret value outside those keys in the stored documents', async () => {
    const kv = createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), KEY);
    await publishPolicySnapshot(kv, 'prod', set, 0);
    const text = JSON.stringify((await readPolicySnapshot(kv, 'prod'))?.documents);
    for (const secretValue of ['K-alice', 'S-alice', 'C-alice', 'K-cosign', 'P-root', 'n-keyring', 'S-keyring']) {
      expect(text).not.toContain(Buffer.from(secretValue).toString('base64'));
    }
  });
});

describe('a policy snapshot of Secrets read from the API server, each with a type', () => {
  it('publishes them without their type, and reads them back', async () => {
    // As serve --policies-from-cluster holds them: the API server gives every Secret a type.
    const objects = createClusterPolicyObjects();
    objects.apply('ImagePolicy', { metadata: { name: 'signed', namespace: 'team', uid: 'u1', resourceVersion: '1' }, spec: { repositories: [{ name: 'reg.example.com/*', policy: { trust: { enabled: true, signerSecrets: [{ name: 'alice' }, { name: 'bob' }] } } }] } });
    const data = (values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
    objects.apply('Secret', { metadata: { name: 'alice', namespace: 'team', uid: 'u2', resourceVersion: '2' }, type: 'Opaque', data: data({ name: 'alice', publicKey: 'P-alice' }) });
    objects.apply('Secret', { metadata: { name: 'bob', namespace: 'team', uid: 'u3', resourceVersion: '3' }, type: 'kubernetes.io/dockerconfigjson', data: data({ '.dockerconfigjson': '{"auths":{}}', name: 'bob', publicKey: 'P-bob' }) });
    const kv = createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), KEY);
    expect(await publishPolicySnapshot(kv, 'prod', objects.toPolicySet(), 0)).toMatchObject({ outcome: 'published' });
    const secrets = (await readPolicySnapshot(kv, 'prod'))?.set.secrets ?? [];
    expect(secrets.map((secret) => [secret.name, secret.type, [...secret.data.keys()].sort()])).toEqual([
      ['alice', undefined, ['name', 'publicKey']],
      ['bob', undefined, ['name', 'publicKey']],
    ]);
  });
});
