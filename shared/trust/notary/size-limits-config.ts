// Decodes the one resource bound an operator may need to raise (or lower), once, at the
// edge: TRUSTGATE_TRUST_DATA_MAX_BYTES, the bytes of metadata one repository update may
// read. Written as a number of bytes or with a KiB / MiB suffix. The other bounds (per-file
// caps, delegations, root versions, the update deadline) are fixed: real repositories stay
// far below them.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { DEFAULT_SIZE_LIMITS, type SizeLimits } from './model.js';

const UNIT_BYTES: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 * 1024 };
// Below this a root rotation or a large targets file of a real repository would not fit;
// above it one update alone could exhaust a small deployment's memory.
const MIN_BYTES = 1024 * 1024;
const MAX_BYTES = 64 * 1024 * 1024;

export function decodeSizeLimits(env: Readonly<Record<string, string | undefined>>): SizeLimits {
  const text = env['TRUSTGATE_TRUST_DATA_MAX_BYTES'];
  if (text === undefined || text === '') return DEFAULT_SIZE_LIMITS;
  const match = /^(\d{1,12})(KiB|MiB)?$/.exec(text.trim());
  const bytes = match?.[1] === undefined ? Number.NaN : Number(match[1]) * (UNIT_BYTES[match[2] ?? ''] ?? Number.NaN);
  if (!Number.isSafeInteger(bytes) || bytes < MIN_BYTES || bytes > MAX_BYTES) {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      `TRUSTGATE_TRUST_DATA_MAX_BYTES is not a size: expected bytes or e.g. 8MiB, between 1MiB and 64MiB, got ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return { ...DEFAULT_SIZE_LIMITS, updateBytes: bytes };
}
