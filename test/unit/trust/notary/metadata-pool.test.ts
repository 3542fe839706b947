import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { createMetadataPool } from '../../../../shared/trust/notary/metadata-pool.js';

const settled = (promise: Promise<unknown>): Promise<boolean> => Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);

describe('createMetadataPool', () => {
  it('grants reservations while they fit and holds them until the lease is released', async () => {
    const pool = createMetadataPool(10);
    const first = pool.lease();
    await first.reserve(6);
    const second = pool.lease();
    const waiting = second.reserve(6);
    expect(await settled(waiting)).toBe(false);
    first.release();
    expect(await settled(waiting)).toBe(true);
    expect(pool.reserved).toBe(6);
  });

  it('lets a small reservation past a large one that does not fit', async () => {
    const pool = createMetadataPool(10);
    await pool.lease().reserve(8);
    const large = pool.lease().reserve(5);
    const small = pool.lease().reserve(2);
    expect(await settled(small)).toBe(true);
    expect(await settled(large)).toBe(false);
  });

  it('rejects a waiting reservation with the reason of its deadline and returns the lease at the deadline', async () => {
    const pool = createMetadataPool(10);
    await pool.lease().reserve(10);
    const deadline = new AbortController();
    const lease = pool.lease(deadline.signal);
    const waiting = lease.reserve(1);
    deadline.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'budget spent'));
    await expect(waiting).rejects.toMatchObject({ code: 'ADMISSION_TIMEOUT' });
    expect(pool.reserved).toBe(10);
  });

  it('returns what a released lease reserves later once its deadline passes', async () => {
    const pool = createMetadataPool(10);
    const deadline = new AbortController();
    const lease = pool.lease(deadline.signal);
    lease.release();
    await lease.reserve(4);
    expect(pool.reserved).toBe(4);
    deadline.abort();
    expect(pool.reserved).toBe(0);
  });

  it('caps a reservation larger than the pool at its size, so it can still be granted', async () => {
    const pool = createMetadataPool(10);
    await pool.lease().reserve(50);
    expect(pool.reserved).toBe(10);
  });
});
