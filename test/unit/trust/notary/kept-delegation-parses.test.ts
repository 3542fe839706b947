// How often an update reads the stored document of a kept parent for the names it
// delegates: once per parent, however many unlisted children it has (a delegation document
// may be megabytes, and its parse tree many times that).
import { describe, expect, it, vi } from 'vitest';
import { updateRepository } from '../../../../shared/trust/notary/update.js';
import { delegatedRoleNames } from '../../../../shared/trust/notary/stored-role-names.js';
import { createMemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import { DEFAULT_NOW, buildRepository, fileMetaJson, generateKey, type DelegationSpec } from '../../../support/notary-builder.js';

vi.mock('../../../../shared/trust/notary/stored-role-names.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../../shared/trust/notary/stored-role-names.js')>();
  return { ...original, delegatedRoleNames: vi.fn(original.delegatedRoleNames) };
});

const GUN = 'registry.example.com/team/app';

describe('an update keeping the stored children of a parent it did not load', () => {
  it('reads the names the parent delegates from its stored document once', async () => {
    const childKey = generateKey('ecdsa');
    const delegations: DelegationSpec[] = [
      { name: 'targets/evil' },
      ...Array.from({ length: 20 }, (_, i): DelegationSpec => ({ name: `targets/evil/c${i}`, parent: 'targets/evil', keys: [childKey] })),
    ];
    const state = buildRepository(GUN, { delegations });
    const first = createMemoryMetadataSource();
    first.publish(state.metadata);
    const repo = await updateRepository({ gun: GUN, source: first, trusted: undefined, pinnedRootKeyIds: [], now: DEFAULT_NOW });
    for (const spec of delegations) await repo.delegation(spec.name);
    const trusted = repo.trustedMetadata();
    expect(trusted.delegations.size).toBe(21);

    // The next snapshot lists the parent but none of its children.
    const later = buildRepository(GUN, {
      keys: state.keys,
      versions: { timestamp: 2, snapshot: 2 },
      delegations: delegations.map((spec) => ({ ...spec, keys: state.keys.delegations.get(spec.name) ?? [] })),
      edit: (role, signed) => {
        if (role !== 'snapshot') return;
        const meta = signed['meta'] as Record<string, unknown>;
        meta['root'] = fileMetaJson(state.root);
        for (const name of Object.keys(meta)) if (name.startsWith('targets/evil/')) delete meta[name];
      },
    });
    const second = createMemoryMetadataSource();
    second.publish(new Map([...later.metadata, ['root', state.root]]));
    const updated = await updateRepository({ gun: GUN, source: second, trusted, pinnedRootKeyIds: [], now: DEFAULT_NOW });
    const parent = trusted.delegations.get('targets/evil');
    vi.mocked(delegatedRoleNames).mockClear();
    const kept = updated.trustedMetadata();
    expect(kept.delegations.size).toBe(21);
    expect(vi.mocked(delegatedRoleNames).mock.calls.filter(([bytes]) => bytes === parent)).toHaveLength(1);
  });
});
