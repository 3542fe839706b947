import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { createClusterPolicyObjects, type ClusterPolicyObjects } from '../../../shared/policy/cluster-policy-objects.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { collectRequirements } from '../../../shared/verify/policy-requirements.js';

const TRUST_SERVER = 'https://notary.example.com';

// An object as the API server lists it: server-set metadata, and (in a typed list) no
// apiVersion or kind.
function imagePolicy(namespace: string, name: string, pattern: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  return {
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '7', generation: 1, managedFields: [{ manager: 'kubectl' }], annotations },
    spec: { repositories: [{ name: pattern, policy: { trust: { enabled: true, trustServer: TRUST_SERVER, signerSecrets: [{ name: 'signer' }] } } }] },
  };
}

function clusterPolicy(name: string, pattern: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  return {
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '3', annotations },
    spec: { repositories: [{ name: pattern, policy: {} }] },
  };
}

function secret(namespace: string, name: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', data: { name: Buffer.from('alice').toString('base64') } };
}

const INVALID = { 'trustgate.dev/root-key-ids': 'not-a-key-id' };

function codesFor(set: PolicySet, image: string, namespace: string): string[] {
  return collectRequirements(set, parseImageReference(image), namespace).failures.map((failure) => failure.error.code);
}

function withBaseline(): ClusterPolicyObjects {
  const objects = createClusterPolicyObjects();
  objects.apply('ClusterImagePolicy', clusterPolicy('allow-all', '*'));
  return objects;
}

describe('createClusterPolicyObjects', () => {
  describe('when objects come as the API server lists them', () => {
    it('decodes them with the policy decoders into the set in force', () => {
      const objects = withBaseline();
      expect(objects.apply('ImagePolicy', imagePolicy('team', 'web', 'registry.example.com/team/*'))).toMatchObject({ kind: 'valid' });
      const set = objects.toPolicySet();
      expect(set.imagePolicies).toMatchObject([{ kind: 'ImagePolicy', name: 'web', namespace: 'team' }]);
      expect(set.clusterPolicies).toMatchObject([{ kind: 'ClusterImagePolicy', name: 'allow-all', enforce: false }]);
    });
  });

  describe('when a valid ImagePolicy is edited into an invalid one', () => {
    it('reports every problem and keeps its previous version in force', () => {
      const objects = withBaseline();
      objects.apply('ImagePolicy', imagePolicy('team', 'web', 'registry.example.com/team/*'));
      const before = objects.toPolicySet();
      const outcome = objects.apply('ImagePolicy', imagePolicy('team', 'web', 'registry.example.com/other/*', INVALID));
      expect(outcome).toMatchObject({ kind: 'invalid', kept: true, id: { kind: 'ImagePolicy', namespace: 'team', name: 'web' } });
      expect(outcome.kind === 'invalid' ? outcome.problems.map((problem) => problem.path) : []).toEqual(['ImagePolicy team/web:1: metadata.annotations.trustgate.dev/root-key-ids']);
      expect(objects.toPolicySet()).toEqual(before);
    });
  });

  describe('when an ImagePolicy was never valid', () => {
    it('denies every image of its namespace with POLICY_INVALID, setting aside the namespace’s other ImagePolicies and the cluster policies', () => {
      const objects = withBaseline();
      objects.apply('ImagePolicy', imagePolicy('team', 'open', '*'));
      expect(objects.apply('ImagePolicy', imagePolicy('team', 'broken', 'registry.example.com/team/*', INVALID))).toMatchObject({ kind: 'invalid', kept: false });
      const set = objects.toPolicySet();
      expect(codesFor(set, 'registry.example.com/team/app:1', 'team')).toEqual(['POLICY_INVALID']);
      expect(codesFor(set, 'docker.io/library/nginx:1', 'team')).toEqual(['POLICY_INVALID']);
    });

    it('leaves other namespaces as they were, and is undone by deleting it', () => {
      const objects = withBaseline();
      const broken = imagePolicy('team', 'broken', '*', INVALID);
      objects.apply('ImagePolicy', broken);
      expect(codesFor(objects.toPolicySet(), 'docker.io/library/nginx:1', 'elsewhere')).toEqual([]);
      expect(objects.remove('ImagePolicy', broken)).toBe(true);
      expect(codesFor(objects.toPolicySet(), 'docker.io/library/nginx:1', 'team')).toEqual([]);
    });
  });

  describe('when a ClusterImagePolicy was never valid', () => {
    it('denies every image in every namespace with POLICY_INVALID, namespaces with ImagePolicies included', () => {
      const objects = withBaseline();
      objects.apply('ImagePolicy', imagePolicy('team', 'open', '*'));
      objects.apply('ClusterImagePolicy', clusterPolicy('baseline', '*', { 'trustgate.dev/enforce': 'maybe' }));
      const set = objects.toPolicySet();
      expect(codesFor(set, 'docker.io/library/nginx:1', 'default')).toEqual(['POLICY_INVALID']);
      expect(codesFor(set, 'docker.io/library/nginx:1', 'team')).toContain('POLICY_INVALID');
    });
  });

  describe('Secrets', () => {
    it('enter the set only when a policy names them', () => {
      const objects = withBaseline();
      objects.apply('Secret', secret('team', 'signer'));
      objects.apply('Secret', secret('team', 'unrelated'));
      expect(objects.toPolicySet().secrets).toEqual([]);
      expect(objects.referencedSecrets()).toEqual([]);
      objects.apply('ImagePolicy', imagePolicy('team', 'web', '*'));
      expect(objects.referencedSecrets()).toEqual([{ namespace: 'team', name: 'signer' }]);
      expect(objects.toPolicySet().secrets.map((entry) => `${entry.namespace}/${entry.name}`)).toEqual(['team/signer']);
    });

    it('enter the set when a keyless authority names them as its trusted root', () => {
      const objects = withBaseline();
      objects.apply('Secret', secret('team', 'corp-root'));
      objects.apply('ImagePolicy', {
        metadata: { name: 'keyless', namespace: 'team' },
        spec: {
          repositories: [
            { name: '*', policy: { sigstore: { authorities: [{ keyless: { identities: [{ issuer: 'https://issuer.example', subject: 'ci@example.com' }], trustRootSecretName: 'corp-root' } }] } } },
          ],
        },
      });
      expect(objects.referencedSecrets()).toContainEqual({ namespace: 'team', name: 'corp-root' });
      expect(objects.toPolicySet().secrets.map((entry) => `${entry.namespace}/${entry.name}`)).toContain('team/corp-root');
    });

    it('are charged to the cheapest of the policies naming them, recomputed as those policies come and go', () => {
      const objects = withBaseline();
      const naming = (name: string, namespace?: string): Record<string, unknown> => ({
        metadata: { name, ...(namespace === undefined ? {} : { namespace }), annotations: namespace === undefined ? { 'trustgate.dev/enforce': 'true' } : {} },
        // An ImagePolicy names it as a simple-signing key (keySecretNamespace), the baseline as a signer.
        spec: {
          repositories: [
            {
              name: '*',
              policy:
                namespace === undefined
                  ? { trust: { enabled: true, trustServer: TRUST_SERVER, signerSecrets: [{ name: 'release', namespace: 'keys' }] } }
                  : { simple: { requirements: [{ type: 'signedBy', keySecret: 'release', keySecretNamespace: 'keys' }] } },
            },
          ],
        },
      });
      objects.apply('ImagePolicy', naming('first', 'tenant'));
      expect(objects.referencedSecrets()).toEqual([{ namespace: 'keys', name: 'release', by: 'tenant' }]);
      objects.apply('ClusterImagePolicy', naming('baseline'));
      expect(objects.referencedSecrets()).toEqual([{ namespace: 'keys', name: 'release', byCluster: true }]);
      objects.remove('ClusterImagePolicy', naming('baseline'));
      expect(objects.referencedSecrets()).toEqual([{ namespace: 'keys', name: 'release', by: 'tenant' }]);
    });

    it('named by an ImagePolicy enter the set only in its namespace', () => {
      const objects = withBaseline();
      objects.apply('ImagePolicy', imagePolicy('team', 'web', '*'));
      objects.apply('Secret', secret('team', 'signer'));
      objects.apply('Secret', secret('other', 'signer'));
      expect(objects.toPolicySet().secrets.map((entry) => `${entry.namespace}/${entry.name}`)).toEqual(['team/signer']);
    });

    it('keep their previous valid version when an update does not decode', () => {
      const objects = withBaseline();
      objects.apply('ImagePolicy', imagePolicy('team', 'web', '*'));
      objects.apply('Secret', secret('team', 'signer'));
      expect(objects.apply('Secret', { ...secret('team', 'signer'), data: { name: 'not base64!' } })).toMatchObject({ kind: 'invalid', kept: true });
      expect(objects.toPolicySet().secrets).toHaveLength(1);
    });
  });

  describe('when an object has no name', () => {
    it('is ignored without changing the set', () => {
      const objects = withBaseline();
      const before = objects.toPolicySet();
      expect(objects.apply('ImagePolicy', { metadata: {} })).toMatchObject({ kind: 'ignored' });
      expect(objects.toPolicySet()).toEqual(before);
    });
  });
});
