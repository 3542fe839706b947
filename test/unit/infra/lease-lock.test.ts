import { describe, expect, it } from 'vitest';
import { decodeLease, leaseIdentity, leaseNamespace, snapshotLeaseName } from '../../../infra/kubernetes-api/lease-lock.js';
import { TrustgateError } from '../../../shared/errors.js';

describe('the snapshot Lease adapter', () => {
  it('names the Lease after the cluster id', () => {
    expect(snapshotLeaseName('prod-eu')).toBe('trustgate-policy-snapshot-prod-eu');
  });

  it('takes the namespace from POD_NAMESPACE, else the service account file, else trustgate-system', () => {
    expect(leaseNamespace({ POD_NAMESPACE: 'ops' }, () => 'other')).toBe('ops');
    expect(leaseNamespace({}, () => 'other\n')).toBe('other');
    expect(leaseNamespace({}, () => undefined)).toBe('trustgate-system');
  });

  it('refuses a namespace that is not a namespace name', () => {
    expect(() => leaseNamespace({ POD_NAMESPACE: '../secrets' }, () => undefined)).toThrow(TrustgateError);
    expect(() => leaseNamespace({ POD_NAMESPACE: '../secrets' }, () => undefined)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('gives two processes of the same pod different identities', () => {
    const first = leaseIdentity({ POD_NAME: 'trustgate-0' });
    expect(first).toMatch(/^trustgate-0_[0-9a-f]{8}$/);
    expect(leaseIdentity({ POD_NAME: 'trustgate-0' })).not.toBe(first);
  });

  it('decodes only well-typed fields of a Lease and ignores the rest', () => {
    const lease = decodeLease(JSON.stringify({ metadata: { resourceVersion: '12' }, spec: { holderIdentity: 7, leaseDurationSeconds: -3, leaseTransitions: 2, acquireTime: '2041-01-01T00:00:00.000000Z' } }));
    expect(lease).toEqual({ resourceVersion: '12', holderIdentity: undefined, leaseDurationSeconds: undefined, leaseTransitions: 2, acquireTime: '2041-01-01T00:00:00.000000Z' });
  });

  it('refuses a Lease without a resourceVersion, which no conditional write could name', () => {
    expect(() => decodeLease(JSON.stringify({ metadata: {}, spec: { holderIdentity: 'x' } }))).toThrow(expect.objectContaining({ code: 'POLICY_SOURCE_UNAVAILABLE' }));
  });
});
