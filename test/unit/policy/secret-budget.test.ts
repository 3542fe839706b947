import { describe, expect, it } from 'vitest';
import { chargeChanged, createSecretBudget, secretBounds, secretChargedTo, selectWatchedScopes, type SecretBounds } from '../../../shared/policy/secret-budget.js';

const small: SecretBounds = { maxSecrets: 3, maxSecretsPerNamespace: 2, maxBytes: 1000, maxBytesPerNamespace: 600, maxNames: 3, maxNamesPerNamespace: 2 };

describe('createSecretBudget', () => {
  it('holds Secrets while they fit and leaves out the one that does not, by name', () => {
    const budget = createSecretBudget(small);
    expect(budget.admit('a', 's1', '1', 100)).toBe(true);
    expect(budget.admit('b', 's1', '2', 100)).toBe(true);
    expect(budget.admit('c', 's1', '3', 100)).toBe(true);
    expect(budget.admit('d', 's1', '4', 100)).toBe(false);
    expect(budget.held()).toEqual({ secrets: 3, bytes: 300 });
    expect(budget.leftOut()).toEqual([{ namespace: 'd', name: 's1' }]);
  });

  it('keeps one namespace from taking the room of the others', () => {
    const budget = createSecretBudget(small);
    expect(budget.admit('tenant', 'big', '1', 500)).toBe(true);
    expect(budget.admit('tenant', 'more', '2', 200)).toBe(false);
    expect(budget.admit('other', 'key', '3', 200)).toBe(true);
    expect(budget.admit('tenant', 'a', '4', 10)).toBe(true);
    expect(budget.admit('tenant', 'b', '5', 10)).toBe(false);
  });

  it('charges a Secret to the namespace whose policy names it, so another namespace\'s room stays its own', () => {
    const budget = createSecretBudget(small);
    expect(budget.admit('keys', 'team-a-1', '1', 10, 'tenant')).toBe(true);
    expect(budget.admit('keys', 'team-a-2', '2', 10, 'tenant')).toBe(true);
    expect(budget.admit('keys', 'team-a-3', '3', 10, 'tenant')).toBe(false);
    expect(budget.admit('keys', 'baseline', '4', 10)).toBe(true);
    expect(budget.release('keys', 'team-a-1')).toBe(true);
    expect(budget.admit('keys', 'team-a-3', '3', 10, 'tenant')).toBe(true);
  });

  it('drops the held version when a new version no longer fits, and frees room on release', () => {
    const budget = createSecretBudget(small);
    expect(budget.admit('a', 's', '1', 100)).toBe(true);
    expect(budget.admit('a', 's', '2', 700)).toBe(false);
    expect(budget.held()).toEqual({ secrets: 0, bytes: 0 });
    expect(budget.leftOut()).toEqual([{ namespace: 'a', name: 's' }]);
    expect(budget.release('a', 's')).toBe(false);
    expect(budget.leftOut()).toEqual([]);
    expect(budget.admit('a', 's', '3', 100)).toBe(true);
    expect(budget.release('a', 's')).toBe(true);
    expect(budget.held()).toEqual({ secrets: 0, bytes: 0 });
  });

  it('counts the same version once however often it is seen', () => {
    const budget = createSecretBudget(small);
    budget.admit('a', 's', '7', 100);
    budget.admit('a', 's', '7', 100);
    expect(budget.held()).toEqual({ secrets: 1, bytes: 100 });
  });
  it('counts a held version afresh when it is charged to another namespace, freeing the room it took', () => {
    const budget = createSecretBudget(small);
    expect(budget.admit('tenant', 'big', '1', 550)).toBe(true);
    // Named first by the tenant (full): left out of its room.
    expect(budget.admit('keys', 'release', '2', 100, 'tenant')).toBe(false);
    // Named by the operator's baseline too: charged to its own namespace, where it fits.
    expect(budget.admit('keys', 'release', '2', 100, 'keys')).toBe(true);
    expect(budget.chargeOf('keys', 'release')).toBe('keys');
    expect(budget.leftOut()).toEqual([]);
    // The baseline stops naming it: the same version charged to the tenant again is left out.
    expect(budget.admit('keys', 'release', '2', 100, 'tenant')).toBe(false);
    expect(budget.chargeOf('keys', 'release')).toBeUndefined();
    expect(budget.held()).toEqual({ secrets: 1, bytes: 550 });
    // Moved from the tenant's room to its own namespace's, it frees the tenant's room.
    expect(budget.release('tenant', 'big')).toBe(true);
    expect(budget.admit('keys', 'release', '2', 100, 'tenant')).toBe(true);
    expect(budget.admit('keys', 'release', '2', 100, 'keys')).toBe(true);
    expect(budget.admit('tenant', 'big', '1', 550)).toBe(true);
    expect(budget.held()).toEqual({ secrets: 2, bytes: 650 });
  });
});

describe('secretChargedTo and chargeChanged', () => {
  it('charges a Secret named in another namespace by an ImagePolicy to that policy\'s namespace, any other to its own', () => {
    expect(secretChargedTo({ namespace: 'keys', name: 's', by: 'tenant' }, 'keys')).toBe('tenant');
    expect(secretChargedTo({ namespace: 'keys', name: 's', byCluster: true }, 'keys')).toBe('keys');
    expect(secretChargedTo({ namespace: 'keys', name: 's' }, 'keys')).toBe('keys');
    expect(secretChargedTo({ name: 's' }, 'team-a')).toBe('team-a');
  });

  it('tells when who is charged for a watched name changed', () => {
    const tenant = { namespace: 'keys', name: 's', by: 'tenant' };
    expect(chargeChanged(tenant, { namespace: 'keys', name: 's', byCluster: true })).toBe(true);
    expect(chargeChanged({ namespace: 'keys', name: 's' }, tenant)).toBe(true);
    expect(chargeChanged(tenant, { namespace: 'keys', name: 's', by: 'other' })).toBe(true);
    expect(chargeChanged({ namespace: 'keys', name: 's', byCluster: true }, { namespace: 'keys', name: 's' })).toBe(false);
    expect(chargeChanged(tenant, tenant)).toBe(false);
    expect(chargeChanged({ name: 's' }, { name: 's' })).toBe(false);
  });
});

describe('selectWatchedScopes', () => {
  it('watches a ClusterImagePolicy name everywhere, covering ImagePolicies naming it', () => {
    const { watched, leftOut } = selectWatchedScopes([{ namespace: 'team', name: 'key' }, { name: 'key' }, { namespace: 'team', name: 'other' }], small);
    expect(watched).toEqual([{ name: 'key' }, { namespace: 'team', name: 'other' }]);
    expect(leftOut).toEqual([]);
  });

  it('charges a Secret named in another namespace (keySecretNamespace) to the namespace whose policy names it', () => {
    const names = { ...small, maxNames: 10 };
    const tenantNames = ['k1', 'k2', 'k3'].map((name) => ({ namespace: 'keys', name, by: 'tenant' }));
    const { watched, leftOut } = selectWatchedScopes([...tenantNames, { namespace: 'keys', name: 'own' }, { namespace: 'keys', name: 'baseline', byCluster: true }], names);
    expect(watched.map((scope) => `${scope.namespace}/${scope.name}`)).toEqual(['keys/baseline', 'keys/k1', 'keys/k2', 'keys/own']);
    expect(leftOut).toEqual([{ namespace: 'keys', name: 'k3', by: 'tenant' }]);
  });

  it('never watches a name that cannot be a Secret name, so no selector can be smuggled in', () => {
    const { watched } = selectWatchedScopes([{ name: 'a,metadata.namespace!=x' }, { namespace: 'team', name: 'Key' }, { namespace: '../x', name: 'k' }], small);
    expect(watched).toEqual([]);
  });

  it('leaves out names beyond the bounds, per namespace first, ClusterImagePolicy names first overall', () => {
    const { watched, leftOut } = selectWatchedScopes(
      [{ namespace: 'a', name: 'n1' }, { namespace: 'a', name: 'n2' }, { namespace: 'a', name: 'n3' }, { name: 'global' }, { namespace: 'b', name: 'n1' }],
      small,
    );
    expect(watched).toEqual([{ name: 'global' }, { namespace: 'a', name: 'n1' }, { namespace: 'a', name: 'n2' }]);
    expect(leftOut).toEqual([{ namespace: 'a', name: 'n3' }, { namespace: 'b', name: 'n1' }]);
  });

  it('keeps the names already watched when new ones would exceed the bounds', () => {
    const { watched, leftOut } = selectWatchedScopes([{ namespace: 'z', name: 'old' }, { namespace: 'a', name: 'n1' }, { namespace: 'b', name: 'n1' }, { namespace: 'c', name: 'n1' }], small, new Set(['z/old']));
    expect(watched).toEqual([{ namespace: 'z', name: 'old' }, { namespace: 'a', name: 'n1' }, { namespace: 'b', name: 'n1' }]);
    expect(leftOut).toEqual([{ namespace: 'c', name: 'n1' }]);
  });
});

describe('secretBounds', () => {
  it('never lets a per-namespace bound exceed the total', () => {
    expect(secretBounds({ maxSecrets: 4, maxBytes: 4096 })).toMatchObject({ maxSecretsPerNamespace: 4, maxBytesPerNamespace: 4096, maxNames: 4, maxNamesPerNamespace: 4 });
  });
});
