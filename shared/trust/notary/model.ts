// Decoded, read-only Notary v1 (TUF-like) metadata. Produced once by the decoders in
// decode.ts from hostile bytes; after that the core trusts these shapes. Signature checks
// are separate (signatures.ts): a decoded document is well-formed, not yet trusted.
import type { KeyObject, X509Certificate } from 'node:crypto';

export const TOP_LEVEL_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type TopLevelRole = (typeof TOP_LEVEL_ROLES)[number];
// 'root' | 'targets' | 'snapshot' | 'timestamp' | 'targets/<name>[/<name>...]'
export type RoleName = string;

export const KEY_TYPES = ['ed25519', 'ecdsa', 'ecdsa-x509', 'rsa', 'rsa-x509'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface PublicKey {
  // Key ID as Notary computes it: hex sha256 of canonical {"keytype","keyval":{"private":null,"public"}}.
  readonly id: string;
  readonly type: KeyType;
  // keyval.public exactly as served (base64).
  readonly publicBase64: string;
  // The verifying key (for *-x509 types, the certificate's public key).
  readonly key: KeyObject;
  // Present for *-x509 key types.
  readonly certificate?: X509Certificate;
  // DER SubjectPublicKeyInfo of `key`: compares keys across encodings (ecdsa vs ecdsa-x509, PEM).
  readonly spki: Uint8Array;
}

export interface Signature {
  readonly keyId: string;
  readonly method: string; // 'eddsa' | 'ecdsa' | 'rsapss' | 'rsapkcs1v15' (others fail verification)
  readonly sig: Uint8Array;
}

export interface FileMeta {
  readonly length: number;
  // Hash name ('sha256', 'sha512') -> raw digest bytes (decoded from base64).
  readonly hashes: ReadonlyMap<string, Uint8Array>;
}

export interface RoleKeys {
  readonly keyIds: readonly string[];
  readonly threshold: number;
}

interface Common {
  readonly version: number;
  readonly expires: Date;
}

export interface RootMetadata extends Common {
  readonly type: 'Root';
  readonly keys: ReadonlyMap<string, PublicKey>;
  readonly roles: Readonly<Record<TopLevelRole, RoleKeys>>;
  readonly consistentSnapshot: boolean;
}

export interface TimestampMetadata extends Common {
  readonly type: 'Timestamp';
  readonly snapshot: FileMeta;
}

export interface SnapshotMetadata extends Common {
  readonly type: 'Snapshot';
  // 'root', 'targets', 'targets/releases', ... (no '.json', no version field).
  readonly meta: ReadonlyMap<RoleName, FileMeta>;
}

export interface DelegationRole extends RoleKeys {
  readonly name: RoleName;
  // Target-name prefixes this role may sign; '' means every name.
  readonly paths: readonly string[];
}

export interface TargetsMetadata extends Common {
  readonly type: 'Targets';
  readonly targets: ReadonlyMap<string, FileMeta>;
  readonly delegations: {
    readonly keys: ReadonlyMap<string, PublicKey>;
    readonly roles: readonly DelegationRole[];
  };
}

export type AnyMetadata = RootMetadata | TimestampMetadata | SnapshotMetadata | TargetsMetadata;

// A decoded document with what signature checks need: the canonical bytes of `signed`
// (what was signed) and the served bytes (what hashes and lengths are checked against).
export interface Envelope<T extends AnyMetadata> {
  readonly signed: T;
  readonly signatures: readonly Signature[];
  readonly canonical: Uint8Array;
  readonly raw: Uint8Array;
}

// Limits on what one repository update may make us spend. Per-file caps follow the Notary
// client's own; the others bound a hostile trust server that serves validly signed but
// enormous repositories (TUF spec 5.3.3 and 5.6.7 leave the exact numbers to the client).
export interface SizeLimits {
  readonly root: number;
  readonly timestamp: number;
  readonly snapshot: number;
  readonly targets: number;
  // Distinct delegated roles one update may look at (loaded or merely walked past).
  readonly delegationCount: number;
  // Bytes of all documents fetched by one update together (including lazily loaded
  // delegations): what one repository may cost in memory and in the store.
  readonly updateBytes: number;
  // Root versions one update may walk through (python-tuf and go-tuf use 256).
  readonly rootRotations: number;
}

export const DEFAULT_SIZE_LIMITS: SizeLimits = {
  root: 100 * 1024,
  timestamp: 4 * 1024,
  snapshot: 2 * 1024 * 1024,
  targets: 5 * 1024 * 1024,
  delegationCount: 64,
  updateBytes: 4 * 1024 * 1024,
  rootRotations: 256,
};
