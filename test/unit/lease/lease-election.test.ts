import { describe, expect, it } from 'vitest';
import { afterLeaseWrite, holdsLease, INITIAL_LEASE_STATE, MAX_FOREIGN_LEASE_MS, planLeaseRelease, planLeaseStep, type LeaseState, type ObservedLease } from '../../../shared/lease/lease-election.js';

const OPTIONS = { identity: 'pod-a_1', leaseDurationSeconds: 15, renewDeadlineMs: 10_000 };
// Years ahead of any real date: nothing here reads the wall clock.
const T0 = Date.UTC(2041, 0, 1);

function lease(fields: Partial<ObservedLease> & { resourceVersion: string }): ObservedLease {
  return { holderIdentity: undefined, leaseDurationSeconds: 15, leaseTransitions: 0, acquireTime: undefined, ...fields };
}

describe('lease election', () => {
  it('creates the Lease when there is none, and holds it once the create is accepted', () => {
    const { state, step } = planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, undefined, T0);
    expect(step).toMatchObject({ kind: 'create', spec: { holderIdentity: 'pod-a_1', leaseDurationSeconds: 15, leaseTransitions: 0 } });
    expect(holdsLease(OPTIONS, state, T0)).toBe(false);
    const held = afterLeaseWrite(state, step, 'written', T0);
    expect(holdsLease(OPTIONS, held, T0 + 1)).toBe(true);
  });

  it('does not hold the Lease when another candidate created it first', () => {
    const { state, step } = planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, undefined, T0);
    expect(holdsLease(OPTIONS, afterLeaseWrite(state, step, 'conflict', T0), T0)).toBe(false);
  });

  it('renews its own Lease conditionally on the version read, keeping the acquire time', () => {
    const held: LeaseState = { seen: undefined, heldSinceWriteMs: T0 };
    const { step } = planLeaseStep(OPTIONS, held, lease({ resourceVersion: '7', holderIdentity: 'pod-a_1', acquireTime: '2041-01-01T00:00:00.000000Z', leaseTransitions: 2 }), T0 + 5_000);
    expect(step).toMatchObject({ kind: 'renew', resourceVersion: '7', spec: { renewTimeMs: T0 + 5_000, acquireTime: '2041-01-01T00:00:00.000000Z', leaseTransitions: 2 } });
  });

  it('waits while another holder renews, however long that goes on', () => {
    let state = INITIAL_LEASE_STATE;
    for (let i = 0; i < 10; i += 1) {
      const planned = planLeaseStep(OPTIONS, state, lease({ resourceVersion: String(i), holderIdentity: 'pod-b_2' }), T0 + i * 5_000);
      expect(planned.step).toMatchObject({ kind: 'wait', holder: 'pod-b_2' });
      state = planned.state;
    }
  });

  it('takes over a Lease whose holder stopped renewing, only after its duration on our clock', () => {
    const stale = lease({ resourceVersion: '9', holderIdentity: 'pod-b_2', leaseTransitions: 3 });
    const first = planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, stale, T0);
    expect(first.step).toEqual({ kind: 'wait', holder: 'pod-b_2', expiresAtMs: T0 + 15_000 });
    const before = planLeaseStep(OPTIONS, first.state, stale, T0 + 14_999);
    expect(before.step.kind).toBe('wait');
    const after = planLeaseStep(OPTIONS, before.state, stale, T0 + 15_000);
    expect(after.step).toMatchObject({ kind: 'take-over', resourceVersion: '9', spec: { holderIdentity: 'pod-a_1', leaseTransitions: 4 } });
  });

  it('does not trust the renew time a Lease claims: a first sight counts from now', () => {
    // A Lease last renewed long ago by its holder's clock is still given its full duration
    // from when we first see it (clock skew between replicas cannot cause a double holder).
    const { step } = planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, lease({ resourceVersion: '1', holderIdentity: 'pod-b_2' }), T0 + 10 * 365 * 86_400_000);
    expect(step.kind).toBe('wait');
  });

  it('caps the duration a foreign Lease claims, so a squatter cannot block a takeover forever', () => {
    const squatter = lease({ resourceVersion: '5', holderIdentity: 'squatter', leaseDurationSeconds: 2_000_000_000 });
    const first = planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, squatter, T0);
    expect(first.step).toEqual({ kind: 'wait', holder: 'squatter', expiresAtMs: T0 + MAX_FOREIGN_LEASE_MS });
    expect(planLeaseStep(OPTIONS, first.state, squatter, T0 + MAX_FOREIGN_LEASE_MS).step.kind).toBe('take-over');
  });

  it('takes a Lease that names no holder at once', () => {
    expect(planLeaseStep(OPTIONS, INITIAL_LEASE_STATE, lease({ resourceVersion: '3', holderIdentity: '' }), T0).step).toMatchObject({ kind: 'take-over', resourceVersion: '3' });
  });

  it('loses the Lease as soon as it reads another holder in it', () => {
    const held: LeaseState = { seen: undefined, heldSinceWriteMs: T0 };
    const { state } = planLeaseStep(OPTIONS, held, lease({ resourceVersion: '8', holderIdentity: 'pod-b_2' }), T0 + 1_000);
    expect(holdsLease(OPTIONS, state, T0 + 1_000)).toBe(false);
  });

  it('loses the Lease when a renewal is refused as a conflict', () => {
    const held: LeaseState = { seen: undefined, heldSinceWriteMs: T0 };
    const { state, step } = planLeaseStep(OPTIONS, held, lease({ resourceVersion: '8', holderIdentity: 'pod-a_1' }), T0 + 5_000);
    expect(holdsLease(OPTIONS, afterLeaseWrite(state, step, 'conflict', T0 + 5_000), T0 + 5_000)).toBe(false);
  });

  it('stops holding at the renew deadline when renewals fail, before the Lease can expire for others', () => {
    const held: LeaseState = { seen: undefined, heldSinceWriteMs: T0 };
    const { state, step } = planLeaseStep(OPTIONS, held, lease({ resourceVersion: '8', holderIdentity: 'pod-a_1' }), T0 + 5_000);
    const failed = afterLeaseWrite(state, step, 'failed', T0 + 5_000);
    expect(holdsLease(OPTIONS, failed, T0 + 9_999)).toBe(true);
    expect(holdsLease(OPTIONS, failed, T0 + 10_000)).toBe(false);
  });

  it('releases its own Lease on stop with an empty holder, conditionally on the version read', () => {
    const step = planLeaseRelease(OPTIONS, lease({ resourceVersion: '11', holderIdentity: 'pod-a_1', leaseTransitions: 2 }), T0);
    expect(step).toEqual({ kind: 'release', resourceVersion: '11', spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTimeMs: T0, renewTimeMs: T0, leaseTransitions: 2 } });
    const released = afterLeaseWrite({ seen: undefined, heldSinceWriteMs: T0 }, step!, 'written', T0);
    expect(holdsLease(OPTIONS, released, T0)).toBe(false);
  });

  it('leaves alone a Lease another replica holds or that is gone when it stops', () => {
    expect(planLeaseRelease(OPTIONS, lease({ resourceVersion: '12', holderIdentity: 'pod-b_2' }), T0)).toBeUndefined();
    expect(planLeaseRelease(OPTIONS, undefined, T0)).toBeUndefined();
  });

  it('takes a released Lease over at once, counting one more transition', () => {
    const { step } = planLeaseStep({ ...OPTIONS, identity: 'pod-b_2' }, INITIAL_LEASE_STATE, lease({ resourceVersion: '13', holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 }), T0);
    expect(step).toMatchObject({ kind: 'take-over', resourceVersion: '13', spec: { holderIdentity: 'pod-b_2', leaseTransitions: 3 } });
  });
});
