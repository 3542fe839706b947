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
  // Version and expiry of documents above that this process decoded while verifying them,
  // keyed by the exact bytes object: saving them then needs no second parse of a document
  // that may be megabytes (its parse tree is many times that). A document not listed is
  // parsed for them.
  readonly facts?: ReadonlyMap<Uint8Array, DocumentFacts>;
  // Present when the store read back the rows of only some delegated roles (it reads a
  // bounded number): the roles whose version floor is known (stored row or none). Any other
  // delegation may have a floor that was not read, so update.ts refuses to load it rather
  // than accept it without one. Absent: every stored delegation row is in `delegations`.
  readonly floorsKnownOnlyFor?: ReadonlySet<RoleName>;
}

export interface DocumentFacts {
  readonly version: number;
  // Epoch milliseconds.
  readonly expires: number;
}
