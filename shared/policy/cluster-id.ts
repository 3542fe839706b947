// The id a policy snapshot is published under: a lower-case DNS label. Kept apart from the
// snapshot code so a function checks its configuration without loading the policy decoders.
import { ErrorCode, TrustgateError } from '../errors.js';

const CLUSTER_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// CONFIG_INVALID unless `id` is a usable cluster id.
export function assertClusterId(id: string): string {
  if (!CLUSTER_ID.test(id)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `cluster id must be a lower-case DNS label (a-z, 0-9, '-', at most 63 characters), got ${JSON.stringify(id.slice(0, 80))}`);
  }
  return id;
}
