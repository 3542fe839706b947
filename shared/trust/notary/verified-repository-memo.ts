// An in-process memo of verified Notary repositories per (trust server, GUN, pinned root
// key IDs), so a warm verification inside the freshness window answers without decoding
// keys, re-checking signatures or reading the store.
//
// Security: the memo only ever holds VerifiedRepository objects that passed full
// verification in this process (updateRepository, against the trust server or against the
// stored bytes, which are never trusted without that verification). It is an in-memory
// object of this process, so nothing outside the process can plant or alter an entry.
// What can change with time is expiry: every answer re-checks, against the request's
// `now`, the expiry of each document it depends on (root, timestamp, snapshot, targets,
// each delegation used and its ancestors) and the validity period of the root
// certificates, so an expired document fails exactly as a full update would fail
// (TUF spec 5.4.4 / 5.5.6 / 5.6.5: freeze attack). The memo is bounded in entries and in
// bytes held (least recently used entries are dropped), so neither many repositories nor
// a few enormous ones can grow memory without limit.
import { createBoundedMemo, type BoundedMemo } from '../../cache/bounded-memo.js';
import { readCertificateFields } from './certificate-fields.js';
import { parentRoleOf } from './delegations.js';
import { assertNotExpired } from './metadata-checks.js';
import type { RoleName } from './model.js';
import { assertRootCertificates } from './root-certificates.js';
import type { VerifiedDelegation, VerifiedRepository } from './update.js';

export const DEFAULT_MEMO_ENTRIES = 1_000;
// Bytes of verified documents the memo holds at most (their decoded form costs a few times
// more). Real repositories are a few KiB each; one update may read up to its byte budget.
export const DEFAULT_MEMO_BYTES = 8 * 1024 * 1024;

export interface MemoEntry {
  readonly repository: VerifiedRepository;
  // Epoch milliseconds when the trust server last confirmed this state.
  readonly checkedAt: number;
  // Precomputed from the verified documents: the state is usable at `t` when
  // validFrom <= t < validUntil (certificates are valid through their notAfter, so that
  // bound is stored as notAfter + 1).
  readonly validFrom: number;
  readonly validUntil: number;
}

export type VerifiedRepositoryMemo = BoundedMemo<string, MemoEntry>;

// The memo key: pinned root key IDs are part of it because a repository verified without
// (or under other) pins must not answer a request that pins keys.
export function memoKey(server: string, gun: string, rootKeyIds: readonly string[]): string {
  return JSON.stringify([server, gun, [...rootKeyIds].map((id) => id.toLowerCase()).sort()]);
}

// Least recently used entries are dropped: a repository in use is expensive to rebuild.
// Bounded by entries and by the bytes of the documents held, so a few enormous repositories
// cannot hold the process's memory either. An entry grows as its delegations are loaded:
// setting it again re-weighs it.
export function createVerifiedRepositoryMemo(maxEntries: number = DEFAULT_MEMO_ENTRIES, maxBytes: number = DEFAULT_MEMO_BYTES): VerifiedRepositoryMemo {
  return createBoundedMemo<string, MemoEntry>(maxEntries, { leastRecentlyUsed: true, weigh: (entry) => entry.repository.heldBytes(), maxWeight: maxBytes });
}

// Builds the memo entry for a repository just verified, computing once the instant range in
// which its top-level documents and root certificates are all valid.
export function toMemoEntry(repository: VerifiedRepository, checkedAt: number): MemoEntry {
  let validFrom = Number.NEGATIVE_INFINITY;
  let validUntil = Math.min(
    repository.root.signed.expires.getTime(),
    repository.timestamp.signed.expires.getTime(),
    repository.snapshot.signed.expires.getTime(),
    repository.targets.signed.expires.getTime(),
  );
  for (const keyId of repository.root.signed.roles.root.keyIds) {
    const certificate = repository.root.signed.keys.get(keyId)?.certificate;
    const fields = certificate === undefined ? undefined : readCertificateFields(new Uint8Array(certificate.raw));
    // Unreadable cannot happen for a verified root; an empty range sends every answer
    // through the full checks, which then report it.
    if (fields === undefined) return { repository, checkedAt, validFrom: 0, validUntil: 0 };
    validFrom = Math.max(validFrom, fields.notBefore.getTime());
    validUntil = Math.min(validUntil, fields.notAfter.getTime() + 1);
  }
  return { repository, checkedAt, validFrom, validUntil };
}

// What a resolution through a view consulted: the earliest expiry (epoch milliseconds)
// among the delegations it loaded, with their parents.
export interface ConsultedDelegations {
  expires: number;
}

// The memoised repository as of `now`: throws what a full update at `now` would throw for
// an expired top-level document or root certificate, and returns a view whose delegations
// are refused once expired. Pinned root keys need no re-check: they are part of the key.
// With `consulted`, the view records the expiry of every delegation it hands out.
export function repositoryAt(entry: MemoEntry, now: Date, consulted?: ConsultedDelegations): VerifiedRepository {
  const { repository } = entry;
  const t = now.getTime();
  if (t < entry.validFrom || t >= entry.validUntil) {
    // Same order as the update: timestamp, snapshot, targets, then the root.
    assertNotExpired(repository.timestamp.signed, 'timestamp', now);
    assertNotExpired(repository.snapshot.signed, 'snapshot', now);
    assertNotExpired(repository.targets.signed, 'targets', now);
    assertNotExpired(repository.root.signed, 'root', now);
    assertRootCertificates(repository.root.signed, repository.gun, now);
  }

  // A delegation is usable only while it and every delegation above it are unexpired: a
  // full update loads (and expiry-checks) the parents before the child.
  async function delegation(name: RoleName): Promise<VerifiedDelegation | undefined> {
    const found = await repository.delegation(name);
    if (found === undefined) return undefined;
    const chain: VerifiedDelegation[] = [found];
    for (let parent = parentRoleOf(name); parent !== undefined && parentRoleOf(parent) !== undefined; parent = parentRoleOf(parent)) {
      const above = await repository.delegation(parent);
      if (above !== undefined) chain.push(above);
    }
    for (const role of chain.reverse()) {
      assertNotExpired(role.envelope.signed, role.name, now);
      if (consulted !== undefined) consulted.expires = Math.min(consulted.expires, role.envelope.signed.expires.getTime());
    }
    return found;
  }

  return {
    gun: repository.gun,
    root: repository.root,
    timestamp: repository.timestamp,
    snapshot: repository.snapshot,
    targets: repository.targets,
    delegation,
    async childRoles(parent) {
      if (parentRoleOf(parent) !== undefined) await delegation(parent);
      return repository.childRoles(parent);
    },
    trustedMetadata: () => repository.trustedMetadata(),
    heldBytes: () => repository.heldBytes(),
  };
}
