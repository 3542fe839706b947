import { describe, expect, it } from 'vitest';
import { DEFAULT_SIZE_LIMITS } from '../../../../shared/trust/notary/model.js';
import { decodeSizeLimits } from '../../../../shared/trust/notary/size-limits-config.js';

describe('decodeSizeLimits', () => {
  it('keeps the defaults when TRUSTGATE_TRUST_DATA_MAX_BYTES is unset or empty', () => {
    expect(decodeSizeLimits({})).toBe(DEFAULT_SIZE_LIMITS);
    expect(decodeSizeLimits({ TRUSTGATE_TRUST_DATA_MAX_BYTES: '' })).toBe(DEFAULT_SIZE_LIMITS);
  });

  it('reads bytes, KiB and MiB into the per-update budget only', () => {
    expect(decodeSizeLimits({ TRUSTGATE_TRUST_DATA_MAX_BYTES: '16MiB' })).toEqual({ ...DEFAULT_SIZE_LIMITS, updateBytes: 16 * 1024 * 1024 });
    expect(decodeSizeLimits({ TRUSTGATE_TRUST_DATA_MAX_BYTES: '2048KiB' }).updateBytes).toBe(2 * 1024 * 1024);
    expect(decodeSizeLimits({ TRUSTGATE_TRUST_DATA_MAX_BYTES: '1048576' }).updateBytes).toBe(1024 * 1024);
  });

  for (const text of ['8MB', '-1', '1KiB', '65MiB', 'lots', '1e9']) {
    it(`refuses ${JSON.stringify(text)} with CONFIG_INVALID`, () => {
      expect(() => decodeSizeLimits({ TRUSTGATE_TRUST_DATA_MAX_BYTES: text })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  }
});
