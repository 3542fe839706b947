// A cluster policy object that has never had a valid version is a stand-in denying every
// image it could govern. The snapshot must carry that stand-in: refusing the whole set would
// leave the deployed functions on the previous, possibly more permissive, snapshot.
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { parseImageReference } from '../../../shared/image/reference.js';
import { createClusterPolicyObjects } from '../../../shared/policy/cluster-policy-objects.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { buildSnapshotPayload } from '../../../shared/policy/policy-snapshot.js';
import { publishPolicySnapshot, readPolicySnapshot } from '../../../shared/policy/snapshot-store.js';
import { collectRequirements } from '../../../shared/verify/policy-requirements.js';
import { clockFrom } from '../../support/clocks.js';

const clusterPolicy = (name: string, pattern: string, policy: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  metadata: { name, uid: `uid-${name}`, resourceVersion: '3', annotations },
  spec: { repositories: [{ name: pattern, policy }] },
});

const storeWith = () => createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), new Uint8Array(32).fill(7));

const failureCodes = (set: PolicySet, image: string, namespace: string) =>
  collectRequirements(set, parseImageReference(image), namespace).failures.map((failure) => failure.error.code);

describe('a policy snapshot of a set holding a stand-in for a never-valid policy object', () => {
  it('publishes the stand-in, and the published set denies what serve denies', async () => {
    const objects = createClusterPolicyObjects();
    objects.apply('ClusterImagePolicy', clusterPolicy('allow-all', '*', {}));
    const kv = storeWith();
    await publishPolicySnapshot(kv, 'prod', objects.toPolicySet(), 1);
    // An enforced baseline whose annotation has a typo: it never decodes.
    objects.apply('ClusterImagePolicy', clusterPolicy('baseline', '*', { trust: { enabled: true } }, { 'trustgate.dev/enforce': 'true', 'trustgate.dev/root-key-ids': 'typo' }));
    const set = objects.toPolicySet();
    expect(failureCodes(set, 'docker.io/library/nginx:1', 'team')).toContain('POLICY_INVALID');

    expect(() => buildSnapshotPayload(set)).not.toThrow();
    await publishPolicySnapshot(kv, 'prod', set, 2);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.clusterPolicies.map((policy) => policy.name)).toEqual(['allow-all', 'baseline']);
    expect(stored?.set).toEqual(set);
    expect(failureCodes(stored!.set, 'docker.io/library/nginx:1', 'team')).toContain('POLICY_INVALID');
  });

  it('keeps publishing later changes while a namespace holds a never-valid ImagePolicy, which denies only in its namespace', async () => {
    const objects = createClusterPolicyObjects();
    objects.apply('ClusterImagePolicy', clusterPolicy('allow-all', '*', {}));
    const kv = storeWith();
    await publishPolicySnapshot(kv, 'prod', objects.toPolicySet(), 1);
    objects.apply('ImagePolicy', { metadata: { name: 'x', namespace: 'tenant', uid: 'u', annotations: { 'trustgate.dev/root-key-ids': 'bad' } }, spec: { repositories: [{ name: '*', policy: {} }] } });
    objects.apply('ClusterImagePolicy', clusterPolicy('baseline', 'reg.example.com/*', { trust: { enabled: true } }, { 'trustgate.dev/enforce': 'true' }));
    await publishPolicySnapshot(kv, 'prod', objects.toPolicySet(), 2);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.clusterPolicies.map((policy) => policy.name)).toContain('baseline');
    expect(failureCodes(stored!.set, 'docker.io/library/nginx:1', 'tenant')).toContain('POLICY_INVALID');
    expect(failureCodes(stored!.set, 'docker.io/library/nginx:1', 'other')).toEqual([]);
  });
});

describe('the trustgate.dev/invalid annotation on a policy document', () => {
  const decode = (annotation: string) =>
    decodePolicyDocuments([
      {
        source: 'p.yaml',
        text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: allow-all}
spec:
  repositories:
    - name: "*"
      policy: {}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: p, namespace: team, annotations: {"trustgate.dev/invalid": ${JSON.stringify(annotation)}}}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy: {}
`,
      },
    ]);

  it('makes the images the document governs deny, and nothing else', () => {
    const set = decode('broken upstream');
    expect(failureCodes(set, 'reg.example.com/app:1', 'team')).toEqual(['POLICY_INVALID']);
    expect(failureCodes(set, 'reg.example.com/app:1', 'other')).toEqual([]);
  });

  it('is refused when it gives no reason', () => {
    expect(() => decode(' ')).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
  });
});
