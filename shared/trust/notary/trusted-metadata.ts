// The raw bytes last trusted for one (trust server, GUN): what a restart starts from.
// Only the root is an anchor; the other roles are kept for rollback protection and to
// avoid refetching unchanged files, and are re-verified under the current root before
// either use (a store is outside the trust boundary of a single update).
import type { RoleName } from './model.js';

export interface TrustedMetadata {
  readonly root: Uint8Array;
  readonly timestamp?: Uint8Array;
  readonly snapshot?: Uint8Array;
  readonly targets?: Uint8Array;
  readonly delegations: ReadonlyMap<RoleName, Uint8Array>;
}
