// Policy snapshots over an authenticated in-memory store: what is published (policies and
// the keys they use, nothing else), how a reader follows versions, and what it refuses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { CHUNK_BYTES, buildSnapshotPayload, chunkKey, headKey } from '../../../shared/policy/policy-snapshot.js';
import { createSnapshotPolicySource, publishPolicySnapshot, readPolicySnapshot } from '../../../shared/policy/snapshot-store.js';
import { silentLogger, type KvStore, type Metrics } from '../../../shared/ports.js';
import { clockFrom } from '../../support/clocks.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const KEY = new Uint8Array(32).fill(7);
const PEM = readFileSync(new URL('../../fixtures/cosign/cosign.pub', import.meta.url), 'utf8');

function policies(pattern: string, extra = ''): PolicySet {
  return decodePolicyDocuments([
    {
      source: 'p.yaml',
      text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: open, annotations: {trustgate.dev/mode: warn}}
spec:
  repositories:
    - name: "${pattern}"
      policy: {trust: {enabled: true, signerSecrets: [{name: alice}]}, sigstore: {authorities: [{key: {secretName: cosign-key}}]}, simple: {requirements: [{type: signedBy, keySecret: gpg, signedIdentity: {type: matchRepository}}]}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team, namespace: team-a, annotations: {trustgate.dev/root-key-ids: "${'ab'.repeat(32)}"}}
spec: {repositories: [{name: "reg.example.com/team/*", policy: {mutateImage: false, verification: {mode: any}, trust: {enabled: true}, vulnerability: {ICCRVA: {enabled: true, account: acct}}}}]}
---
apiVersion: v1
kind: Secret
metadata: {name: alice, namespace: team-a}
stringData: {name: alice, publicKey: "not checked here", token: "hunter2"}
---
apiVersion: v1
kind: Secret
metadata: {name: cosign-key, namespace: team-b}
stringData: {cosign.pub: ${JSON.stringify(PEM)}}
---
apiVersion: v1
kind: Secret
metadata: {name: pull-secret, namespace: team-a}
stringData: {.dockerconfigjson: "{\\"auths\\": {}}"}
${extra}`,
    },
  ]);
}

function stores(): { raw: KvStore; kv: KvStore } {
  let now = 0;
  const raw = createMemoryStore({ clock: clockFrom(() => (now += 0)) });
  return { raw, kv: createAuthenticatedStore(raw, KEY) };
}

function countingMetrics(): Metrics & { readonly counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    increment: (name, labels) => counts.set(`${name}${JSON.stringify(labels ?? {})}`, (counts.get(`${name}${JSON.stringify(labels ?? {})}`) ?? 0) + 1),
    observe: () => undefined,
  };
}

function reader(kv: KvStore, metrics: Metrics = countingMetrics()): () => Promise<PolicySet> {
  return createSnapshotPolicySource({ kv, clusterId: 'prod', clock: clockFrom(() => 0), refreshMs: 0, logger: silentLogger, metrics });
}

const patternOf = (set: PolicySet): string | undefined => set.clusterPolicies[0]?.repositories[0]?.name;

describe('publishing a policy snapshot', () => {
  it('round-trips every policy field and the published Secret keys', async () => {
    const { kv } = stores();
    const set = policies('reg.example.com/*');
    await publishPolicySnapshot(kv, 'prod', set, 0);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.clusterPolicies).toEqual(set.clusterPolicies);
    expect(stored?.set.imagePolicies).toEqual(set.imagePolicies);
  });

  it('publishes only Secrets a policy names, and only the keys verifiers read', async () => {
    const { kv } = stores();
    await publishPolicySnapshot(kv, 'prod', policies('reg.example.com/*'), 0);
    const stored = await readPolicySnapshot(kv, 'prod');
    const secrets = new Map(stored?.set.secrets.map((secret) => [`${secret.namespace}/${secret.name}`, [...secret.data.keys()].sort()]));
    expect(secrets).toEqual(new Map([['team-a/alice', ['name', 'publicKey']], ['team-b/cosign-key', ['cosign.pub']]]));
    const text = JSON.stringify(stored?.documents);
    expect(text).not.toContain(Buffer.from('hunter2').toString('base64'));
    expect(text).not.toContain('pull-secret');
  });

  it('round-trips keyless authorities and publishes their trusted root, a GPG keyring, but never a store password', async () => {
    const { kv } = stores();
    const set = policies(
      'reg.example.com/*',
      `---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: keyless, namespace: team-c}
spec:
  repositories:
    - name: "reg.example.com/keyless/*"
      policy:
        sigstore:
          authorities:
            - keyless: {identities: [{issuer: "https://issuer.example", subjectRegExp: "^https://ci\\\\.example/.+$"}], trustRootSecretName: corp-root}
            - key: {secretName: cosign-key}
          threshold: 2
          tlog: required
        simple: {storeURL: "https://sigs.example.com", storeSecret: store-creds, requirements: [{type: signedBy, keySecret: gpg}]}
---
apiVersion: v1
kind: Secret
metadata: {name: corp-root, namespace: team-c}
stringData: {trusted_root.json: "{}"}
---
apiVersion: v1
kind: Secret
metadata: {name: gpg, namespace: team-c}
stringData: {key: "keyring"}
---
apiVersion: v1
kind: Secret
metadata: {name: store-creds, namespace: team-c}
stringData: {username: reader, password: s3cret-store-password}
`,
    );
    await publishPolicySnapshot(kv, 'prod', set, 0);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.imagePolicies).toEqual(set.imagePolicies);
    const secrets = new Map(stored?.set.secrets.map((secret) => [`${secret.namespace}/${secret.name}`, [...secret.data.keys()].sort()]));
    expect(secrets.get('team-c/corp-root')).toEqual(['trusted_root.json']);
    expect(secrets.get('team-c/gpg')).toEqual(['key']);
    expect(secrets.has('team-c/store-creds')).toBe(false);
    expect(JSON.stringify(stored?.documents)).not.toContain(Buffer.from('s3cret-store-password').toString('base64'));
  });

  it('publishes nothing when the content is unchanged, and a new version when it changed', async () => {
    const { kv } = stores();
    expect(await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0)).toMatchObject({ outcome: 'published', version: 1 });
    expect(await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0)).toMatchObject({ outcome: 'unchanged', version: 1 });
    expect(await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0)).toMatchObject({
      outcome: 'published',
      version: 2,
      changes: { added: [], removed: [], changed: ['ClusterImagePolicy open'] },
    });
  });

  it('chunks a large set below the store item limit and reads it back whole', async () => {
    const { raw, kv } = stores();
    const many = Array.from({ length: 1500 }, (_, index) => `---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: p${index}, namespace: ns-${index % 50}}
spec: {repositories: [{name: "reg.example.com/team-${index}/${'x'.repeat(200)}/*", policy: {trust: {enabled: true}}}]}
`).join('');
    const set = policies('reg.example.com/*', many);
    expect(buildSnapshotPayload(set).bytes.length).toBeGreaterThan(CHUNK_BYTES);
    const result = await publishPolicySnapshot(kv, 'prod', set, 0);
    const head = await readPolicySnapshot(kv, 'prod');
    expect(head?.head.chunks).toBeGreaterThan(1);
    for (let index = 0; index < (head?.head.chunks ?? 0); index += 1) {
      expect((await raw.get(chunkKey('prod', result.version, result.sha256, index)))?.value.length).toBeLessThanOrEqual(CHUNK_BYTES + 32);
    }
    expect(head?.set.imagePolicies).toHaveLength(1501);
  });

  describe('when two writers read the same version and both publish', () => {
    it('lets exactly one win; the other rejects with POLICY_SNAPSHOT_CONFLICT and the head names the winner', async () => {
      const { kv } = stores();
      await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
      // Both writers read the head before either writes it.
      let arrived = 0;
      let release: () => void = () => undefined;
      const barrier = new Promise<void>((resolve) => (release = resolve));
      const gated: KvStore = {
        ...kv,
        get: async (key) => {
          const item = await kv.get(key);
          if (key === headKey('prod')) {
            arrived += 1;
            if (arrived === 2) release();
            if (arrived <= 2) await barrier;
          }
          return item;
        },
      };
      const results = await Promise.allSettled([publishPolicySnapshot(gated, 'prod', policies('b.example.com/*'), 0), publishPolicySnapshot(gated, 'prod', policies('c.example.com/*'), 0)]);
      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((result) => (result.reason as { code: string }).code)).toEqual([ErrorCode.POLICY_SNAPSHOT_CONFLICT]);
      const stored = await readPolicySnapshot(kv, 'prod');
      expect(stored?.head.version).toBe(2);
      expect(['b.example.com/*', 'c.example.com/*']).toContain(patternOf(stored?.set as PolicySet));
    });
  });

  it('takes the clock as the version when it is ahead, so a put-back old head never makes a version repeat', async () => {
    const { raw, kv } = stores();
    await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
    const oldHead = await raw.get(headKey('prod'));
    await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
    if (oldHead === undefined) throw new Error('no head');
    await raw.put(headKey('prod'), oldHead);
    expect(await publishPolicySnapshot(kv, 'prod', policies('c.example.com/*'), 1_000)).toMatchObject({ outcome: 'published', version: 1_000 });
  });

  it('refuses a cluster id that is not a DNS label with CONFIG_INVALID', async () => {
    const { kv } = stores();
    expect((await rejectionOf(publishPolicySnapshot(kv, 'prod/../x', policies('a/*'), 0))).code).toBe(ErrorCode.CONFIG_INVALID);
  });
});

describe('reading policy snapshots through the in-process source', () => {
  it('picks up a new version', async () => {
    const { kv } = stores();
    const source = reader(kv);
    await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
    expect(patternOf(await source())).toBe('a.example.com/*');
    await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
    expect(patternOf(await source())).toBe('b.example.com/*');
  });

  it('keeps serving within the refresh bound without reading the store', async () => {
    const { kv } = stores();
    let now = 0;
    const source = createSnapshotPolicySource({ kv, clusterId: 'prod', clock: clockFrom(() => now), refreshMs: 10_000, logger: silentLogger, metrics: countingMetrics() });
    await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
    expect(patternOf(await source())).toBe('a.example.com/*');
    await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
    now = 9_999;
    expect(patternOf(await source())).toBe('a.example.com/*');
    now = 10_000;
    expect(patternOf(await source())).toBe('b.example.com/*');
  });

  describe('when there is no snapshot and none was good before', () => {
    it('rejects with POLICY_SNAPSHOT_MISSING', async () => {
      expect((await rejectionOf(reader(stores().kv)())).code).toBe(ErrorCode.POLICY_SNAPSHOT_MISSING);
    });
  });

  describe('when a chunk was altered by a writer without the key', () => {
    it('refuses it (POLICY_SNAPSHOT_INVALID), keeps the last good one and counts the refusal', async () => {
      const { raw, kv } = stores();
      const metrics = countingMetrics();
      const source = reader(kv, metrics);
      await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
      expect(patternOf(await source())).toBe('a.example.com/*');
      const next = await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
      const key = chunkKey('prod', next.version, next.sha256, 0);
      const item = await raw.get(key);
      if (item === undefined) throw new Error('no chunk');
      const altered = Uint8Array.from(item.value);
      const at = altered.length - 2;
      altered[at] = (altered[at] ?? 0) ^ 1;
      await raw.put(key, { ...item, value: altered });
      expect(patternOf(await source())).toBe('a.example.com/*');
      expect(metrics.counts.get('trustgate_policy_snapshot_refusals_total{"reason":"invalid"}')).toBe(1);
      expect((await rejectionOf(reader(kv)())).code).toBe(ErrorCode.POLICY_SNAPSHOT_INVALID);
    });
  });

  describe('when a chunk is missing (a partial snapshot)', () => {
    it('refuses it and keeps the last good one', async () => {
      const { kv } = stores();
      const source = reader(kv);
      await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
      await source();
      const next = await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
      await kv.delete(chunkKey('prod', next.version, next.sha256, 0));
      expect(patternOf(await source())).toBe('a.example.com/*');
      expect((await rejectionOf(readPolicySnapshot(kv, 'prod'))).code).toBe(ErrorCode.POLICY_SNAPSHOT_INVALID);
    });
  });

  describe('when an authentic older snapshot is put back (rollback)', () => {
    it('refuses it and keeps the newer one', async () => {
      const { raw, kv } = stores();
      const source = reader(kv);
      const first = await publishPolicySnapshot(kv, 'prod', policies('a.example.com/*'), 0);
      const oldHead = await raw.get(headKey('prod'));
      const oldChunk = await raw.get(chunkKey('prod', first.version, first.sha256, 0));
      await publishPolicySnapshot(kv, 'prod', policies('b.example.com/*'), 0);
      expect(patternOf(await source())).toBe('b.example.com/*');
      if (oldHead === undefined || oldChunk === undefined) throw new Error('nothing captured');
      await raw.put(headKey('prod'), oldHead);
      await raw.put(chunkKey('prod', first.version, first.sha256, 0), oldChunk);
      expect(patternOf(await source())).toBe('b.example.com/*');
    });
  });

  describe('when the head is moved to another cluster id', () => {
    it('refuses it: the MAC covers the key', async () => {
      const { raw, kv } = stores();
      await publishPolicySnapshot(kv, 'other', policies('a.example.com/*'), 0);
      const head = await raw.get(headKey('other'));
      if (head === undefined) throw new Error('no head');
      await raw.put(headKey('prod'), head);
      expect((await rejectionOf(reader(kv)())).code).toBe(ErrorCode.POLICY_SNAPSHOT_INVALID);
    });
  });
});
