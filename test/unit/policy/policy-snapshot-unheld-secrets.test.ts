// Secrets serve left out over its bounds travel in the policy snapshot, so the deployed
// functions deny an image needing one with POLICY_SECRET_OVER_LIMIT, as serve does, rather
// than claim the Secret does not exist (POLICY_SECRET_MISSING). The list is store content:
// bounded and decoded strictly, an old snapshot without it still reads.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode } from '../../../shared/errors.js';
import { parseImageReference } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { encodePolicyDocuments } from '../../../shared/policy/encode-policy-documents.js';
import type { PolicySet, SecretScope } from '../../../shared/policy/model.js';
import { SNAPSHOT_FORMAT, buildSnapshotPayload, chunkKey, encodeHead, headKey, sha256Hex, toChunks } from '../../../shared/policy/policy-snapshot.js';
import { MAX_UNHELD_SECRETS } from '../../../shared/policy/snapshot-unheld-secrets.js';
import { createSnapshotPolicySource, publishPolicySnapshot, readPolicySnapshot } from '../../../shared/policy/snapshot-store.js';
import { noopMetrics, silentLogger, type KvStore } from '../../../shared/ports.js';
import { collectRequirements } from '../../../shared/verify/policy-requirements.js';
import { clockFrom } from '../../support/clocks.js';
import { rejectionOf } from '../../support/trustgate-errors.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const IMAGE = 'reg.example.com/app:v1';

// Two namespaces whose policies require a signer Secret: the team's is held, the tenant's
// (`big-signer`) was left out by serve.
const POLICIES: PolicySet = decodePolicyDocuments([
  {
    source: 'p.yaml',
    text: ['team', 'tenant']
      .map(
        (namespace) => `---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: signed, namespace: ${namespace}}
spec: {repositories: [{name: "reg.example.com/*", policy: {trust: {enabled: true, signerSecrets: [{name: ${namespace === 'team' ? 'alice-signer' : 'big-signer'}}]}}}]}
`,
      )
      .join('')
      .concat(`---
apiVersion: v1
kind: Secret
metadata: {name: alice-signer, namespace: team}
stringData: {name: alice, publicKey: ${JSON.stringify(PEM)}}
`),
  },
]);

const withUnheld = (unheldSecrets: readonly SecretScope[], more: Partial<PolicySet> = {}): PolicySet => ({ ...POLICIES, unheldSecrets, ...more });

const storeWith = (): KvStore => createAuthenticatedStore(createMemoryStore({ clock: clockFrom(() => 0) }), new Uint8Array(32).fill(7));

const failureCodes = (set: PolicySet, namespace: string): string[] => collectRequirements(set, parseImageReference(IMAGE), namespace).failures.map((failure) => failure.error.code);

// Writes `payload` as the current snapshot with the store's key, as a writer would: for
// payloads the encoder never writes (an older format, hostile content from a key holder).
async function storePayload(kv: KvStore, payload: unknown, version = 1): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  const sha256 = sha256Hex(bytes);
  const chunks = toChunks(bytes);
  await Promise.all(chunks.map((chunk, index) => kv.put(chunkKey('prod', version, sha256, index), { value: chunk, version })));
  await kv.put(headKey('prod'), { value: encodeHead({ format: SNAPSHOT_FORMAT, clusterId: 'prod', version, sha256, size: bytes.length, chunks: chunks.length }), version });
}

const listOf = (set: PolicySet, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'List', items: encodePolicyDocuments(set), ...extra });

describe('a policy snapshot of a set with Secrets left out over the bounds', () => {
  it('carries them, so the read set denies an image needing one with POLICY_SECRET_OVER_LIMIT, as serve does', async () => {
    const served = withUnheld([{ namespace: 'tenant', name: 'big-signer' }]);
    expect(failureCodes(served, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_OVER_LIMIT]);
    const kv = storeWith();
    await publishPolicySnapshot(kv, 'prod', served, 1);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.unheldSecrets).toEqual([{ namespace: 'tenant', name: 'big-signer' }]);
    expect(failureCodes(stored!.set, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_OVER_LIMIT]);
    // The held Secret still decides; a namespace with nothing left out is not affected.
    expect(failureCodes(stored!.set, 'team')).toEqual([]);
  });

  it('carries a name left out in every namespace, which covers the same name in one namespace', async () => {
    const kv = storeWith();
    await publishPolicySnapshot(kv, 'prod', withUnheld([{ namespace: 'tenant', name: 'big-signer' }, { name: 'big-signer', byCluster: true }]), 1);
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.unheldSecrets).toEqual([{ name: 'big-signer' }]);
    expect(failureCodes(stored!.set, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_OVER_LIMIT]);
  });

  it('never hides a Secret the snapshot holds: a listed Secret that is held still decides', async () => {
    const kv = storeWith();
    await storePayload(kv, listOf(POLICIES, { unheldSecrets: [{ namespace: 'team', name: 'alice-signer' }] }));
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(failureCodes(stored!.set, 'team')).toEqual([]);
  });

  it('encodes the list in one order whatever order serve gave, so the same set publishes nothing new', async () => {
    const kv = storeWith();
    const scopes: SecretScope[] = [{ namespace: 'tenant', name: 'big-signer' }, { namespace: 'other', name: 'x' }, { name: 'everywhere' }];
    expect(await publishPolicySnapshot(kv, 'prod', withUnheld(scopes), 1)).toMatchObject({ outcome: 'published' });
    expect(await publishPolicySnapshot(kv, 'prod', withUnheld([...scopes].reverse()), 2)).toMatchObject({ outcome: 'unchanged' });
  });

  it('publishes a new version when only the Secrets left out changed', async () => {
    const kv = storeWith();
    await publishPolicySnapshot(kv, 'prod', withUnheld([{ namespace: 'tenant', name: 'big-signer' }]), 1);
    expect(await publishPolicySnapshot(kv, 'prod', POLICIES, 2)).toMatchObject({ outcome: 'published' });
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.unheldSecrets).toBeUndefined();
    expect(failureCodes(stored!.set, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_MISSING]);
  });

  it('encodes a set with nothing left out to the same bytes as before the list existed', () => {
    const { bytes } = buildSnapshotPayload(POLICIES);
    expect(Object.keys(JSON.parse(new TextDecoder().decode(bytes)) as object)).toEqual(['apiVersion', 'kind', 'items']);
  });

  describe('when serve left out more Secrets than a snapshot lists', () => {
    const many = Array.from({ length: MAX_UNHELD_SECRETS + 10 }, (_, index): SecretScope => ({ namespace: `ns-${String(index).padStart(5, '0')}`, name: 'signer' }));

    it('lists the first ones, marks the list incomplete, and any Secret not found then denies with POLICY_SECRET_OVER_LIMIT', async () => {
      const kv = storeWith();
      await publishPolicySnapshot(kv, 'prod', withUnheld(many), 1);
      const stored = await readPolicySnapshot(kv, 'prod');
      expect(stored?.set.unheldSecrets).toHaveLength(MAX_UNHELD_SECRETS);
      expect(stored?.set.unheldSecrets?.[0]).toEqual({ namespace: 'ns-00000', name: 'signer' });
      expect(stored?.set.unheldSecretsIncomplete).toBe(true);
      // big-signer is not among those listed: it may be one left out.
      expect(failureCodes(stored!.set, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_OVER_LIMIT]);
      expect(failureCodes(stored!.set, 'team')).toEqual([]);
    });
  });
});

describe('a policy snapshot written before it carried the Secrets left out', () => {
  it('reads, with nothing left out: a Secret not found is missing', async () => {
    const kv = storeWith();
    await storePayload(kv, listOf(POLICIES));
    const stored = await readPolicySnapshot(kv, 'prod');
    expect(stored?.set.unheldSecrets).toBeUndefined();
    expect(stored?.set.unheldSecretsIncomplete).toBeUndefined();
    expect(failureCodes(stored!.set, 'tenant')).toEqual([ErrorCode.POLICY_SECRET_MISSING]);
  });
});

describe('a policy snapshot whose list of Secrets left out is hostile', () => {
  const tooMany = Array.from({ length: MAX_UNHELD_SECRETS + 1 }, (_, index) => ({ namespace: 'tenant', name: `s${index}` }));
  it.each([
    ['a list longer than the bound', { unheldSecrets: tooMany }],
    ['a list that is not an array', { unheldSecrets: { namespace: 'tenant', name: 'big-signer' } }],
    ['an entry that is not an object', { unheldSecrets: ['tenant/big-signer'] }],
    ['an entry with a field of its own', { unheldSecrets: [{ namespace: 'tenant', name: 'big-signer', admit: true }] }],
    ['a name that cannot be a Secret name', { unheldSecrets: [{ namespace: 'tenant', name: 'a,b' }] }],
    ['a namespace that cannot be a namespace', { unheldSecrets: [{ namespace: '../tenant', name: 'big-signer' }] }],
    ['a namespace that is not a string', { unheldSecrets: [{ namespace: 7, name: 'big-signer' }] }],
    ['an incomplete mark other than true', { unheldSecrets: [], unheldSecretsIncomplete: 'yes' }],
    ['an incomplete mark without a list', { unheldSecretsIncomplete: true }],
  ])('refuses %s with POLICY_SNAPSHOT_INVALID', async (_, extra) => {
    const kv = storeWith();
    await storePayload(kv, listOf(POLICIES, extra));
    expect((await rejectionOf(readPolicySnapshot(kv, 'prod'))).code).toBe(ErrorCode.POLICY_SNAPSHOT_INVALID);
  });

  it('keeps the last good snapshot serving when a newer one carries an oversized list', async () => {
    const kv = storeWith();
    const source = createSnapshotPolicySource({ kv, clusterId: 'prod', clock: clockFrom(() => 0), refreshMs: 0, logger: silentLogger, metrics: noopMetrics });
    await publishPolicySnapshot(kv, 'prod', withUnheld([{ namespace: 'tenant', name: 'big-signer' }]), 1);
    expect((await source()).unheldSecrets).toHaveLength(1);
    await storePayload(kv, listOf(POLICIES, { unheldSecrets: tooMany }), 2);
    expect((await source()).unheldSecrets).toEqual([{ namespace: 'tenant', name: 'big-signer' }]);
  });
});
