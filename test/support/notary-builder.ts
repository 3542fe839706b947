// Builds Notary v1 metadata as notary-server serves it (capitalised _type, base64 keys and
// signatures, canonical-JSON signing), signed with keys made here, so tests can produce
// valid repositories and then break exactly one thing at a time.
//
//   const repo = buildRepository('127.0.0.1:5000/team/app', {
//     targets: { v1: manifestBytes },
//     delegations: [{ name: 'targets/releases', targets: { v1: { sha256Hex, length } } }],
//   });
//   repo.root, repo.timestamp, repo.snapshot, repo.targets, repo.delegations.get('targets/releases')
//   repo.metadata.get(role)  -> bytes for any role, e.g. to serve from an in-memory source
//   buildRepository(gun, { keys: repo.keys, versions: { targets: 2 }, ... })  -> a later state
//
// Times default to DEFAULT_NOW, so tests pass the same `now` to the code under test.
import { constants, createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import type { KeyType, RoleName, TopLevelRole } from '../../shared/trust/notary/model.js';
import { createSelfSignedCertificate, toPem } from './x509-certificate.js';

export const DEFAULT_NOW = new Date('2026-11-27T08:00:00Z');
const DAY_MS = 24 * 60 * 60 * 1000;
const YEAR_MS = 365 * DAY_MS;

export interface TestKey {
  readonly type: KeyType;
  // keyval.public exactly as it appears in metadata.
  readonly publicBase64: string;
  readonly id: string;
  sign(data: Uint8Array): Uint8Array;
  // The signature method Notary uses for this key type.
  readonly method: string;
  readonly privateKey: KeyObject;
  // SPKI PEM of the public key (also for x509 keys), as a signer secret would hold it.
  readonly publicKeyPem: string;
  // The certificate PEM, for ecdsa-x509 / rsa-x509 keys.
  readonly certificatePem?: string;
}

export interface RootCertOptions {
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly sha1?: boolean;
  // 'rsa' gives an rsa-x509 key (2048 bits); default 'ecdsa' (P-256, ecdsa-x509).
  readonly algorithm?: 'ecdsa' | 'rsa';
  // Subject CNs; default [gun]. Lets tests build certificates with several or no CNs.
  readonly commonNames?: readonly string[];
}

// A fresh key of a plain Notary key type: ed25519 (raw 32-byte public key, method eddsa),
// ecdsa (P-256, DER SPKI, raw r||s signatures) or rsa (2048 bits, DER SPKI, rsapss).
export function generateKey(type: 'ed25519' | 'ecdsa' | 'rsa'): TestKey {
  const { privateKey, publicKey } =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : type === 'ecdsa'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // An Ed25519 SPKI is a 12-byte header followed by the raw key.
  const publicBase64 = (type === 'ed25519' ? spki.subarray(12) : spki).toString('base64');
  return makeKey(type, publicBase64, privateKey, publicKey);
}

// A root key as `notary init` makes it: a self-signed certificate with CN = GUN, served as
// ecdsa-x509 (base64 of the PEM). Options move the validity window or sign with SHA-1.
export function generateRootCertKey(gun: string, options: RootCertOptions = {}): TestKey {
  const algorithm = options.algorithm ?? 'ecdsa';
  const { privateKey, publicKey } =
    algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = createSelfSignedCertificate(privateKey, publicKey, {
    commonNames: options.commonNames ?? [gun],
    notBefore: options.notBefore ?? new Date(DEFAULT_NOW.getTime() - DAY_MS),
    notAfter: options.notAfter ?? new Date(DEFAULT_NOW.getTime() + 10 * YEAR_MS),
    hash: options.sha1 ? 'sha1' : 'sha256',
  });
  const certificatePem = toPem(der);
  const type = algorithm === 'rsa' ? 'rsa-x509' : 'ecdsa-x509';
  return makeKey(type, Buffer.from(certificatePem).toString('base64'), privateKey, publicKey, certificatePem);
}

// A TestKey for a certificate made elsewhere (e.g. by the openssl CLI) and its private key:
// ecdsa-x509 or rsa-x509 after the certificate's key.
export function certificateKey(certificatePem: string, privateKey: KeyObject): TestKey {
  const publicKey = createPublicKey(privateKey);
  const type = publicKey.asymmetricKeyType === 'rsa' ? 'rsa-x509' : 'ecdsa-x509';
  return makeKey(type, Buffer.from(certificatePem).toString('base64'), privateKey, publicKey, certificatePem);
}

function makeKey(type: KeyType, publicBase64: string, privateKey: KeyObject, publicKey: KeyObject, certificatePem?: string): TestKey {
  const isRsa = type === 'rsa' || type === 'rsa-x509';
  const method = type === 'ed25519' ? 'eddsa' : isRsa ? 'rsapss' : 'ecdsa';
  const signData = (data: Uint8Array): Uint8Array => {
    if (type === 'ed25519') return new Uint8Array(sign(null, data, privateKey));
    if (isRsa) return new Uint8Array(sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }));
    return new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  };
  const key = {
    type,
    publicBase64,
    id: keyIdOf(type, publicBase64),
    sign: signData,
    method,
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  return certificatePem === undefined ? key : { ...key, certificatePem };
}

// Computed here independently of the product code, so a key-ID bug cannot hide in both.
function keyIdOf(type: string, publicBase64: string): string {
  return createHash('sha256')
    .update(canonicalize({ keytype: type, keyval: { private: null, public: publicBase64 } }))
    .digest('hex');
}

export function keyJson(key: TestKey): { keytype: string; keyval: { private: null; public: string } } {
  return { keytype: key.type, keyval: { private: null, public: key.publicBase64 } };
}

// File meta for bytes as snapshot/timestamp/targets record it: length and base64 hashes.
export function fileMetaJson(bytes: Uint8Array): { length: number; hashes: { sha256: string; sha512: string } } {
  return {
    length: bytes.length,
    hashes: {
      sha256: createHash('sha256').update(bytes).digest('base64'),
      sha512: createHash('sha512').update(bytes).digest('base64'),
    },
  };
}

// Signs the canonical JSON of `signed` with each signer and returns the served document
// bytes: the signed part exactly as signed, as notary-server serves it. extraSignatures are
// appended verbatim (duplicates, bogus methods, foreign key IDs).
export function signMetadata(
  signed: Record<string, unknown>,
  signers: readonly TestKey[],
  options: { extraSignatures?: { keyid: string; method: string; sig: string }[] } = {},
): Uint8Array {
  const canonicalText = canonicalize(signed);
  const canonical = new TextEncoder().encode(canonicalText);
  const signatures = [
    ...signers.map((key) => ({ keyid: key.id, method: key.method, sig: Buffer.from(key.sign(canonical)).toString('base64') })),
    ...(options.extraSignatures ?? []),
  ];
  return new TextEncoder().encode(`{"signed":${canonicalText},"signatures":${JSON.stringify(signatures)}}`);
}

// Formats a date as Notary does (RFC 3339, UTC).
export function notaryTime(date: Date): string {
  return date.toISOString();
}

// A target: the manifest bytes themselves, or its digest and size (Docker's mapping:
// hashes.sha256 = manifest digest, length = manifest size).
export type TargetSpec = Uint8Array | { readonly sha256Hex: string; readonly length: number };

export interface DelegationSpec {
  // 'targets/releases', 'targets/releases/team', ...
  readonly name: RoleName;
  // The role that delegates to it; default 'targets'.
  readonly parent?: RoleName;
  // Default: one new ecdsa key.
  readonly keys?: readonly TestKey[];
  readonly threshold?: number;
  // Default [''] (every target name).
  readonly paths?: readonly string[];
  readonly targets?: Readonly<Record<string, TargetSpec>>;
  readonly version?: number;
  readonly expires?: Date;
}

export interface RepositoryKeys {
  readonly root: readonly TestKey[];
  readonly targets: readonly TestKey[];
  readonly snapshot: readonly TestKey[];
  readonly timestamp: readonly TestKey[];
}

export interface RepositoryOptions {
  // Reference time for default expiries and root certificate validity (default DEFAULT_NOW).
  readonly now?: Date;
  // Reuse keys (e.g. those of an earlier build) instead of generating them.
  readonly keys?: Partial<RepositoryKeys>;
  readonly thresholds?: Partial<Record<TopLevelRole, number>>;
  // Default 1 for every role.
  readonly versions?: Partial<Record<TopLevelRole, number>>;
  // Defaults: root now+10y, targets and snapshot now+3y, timestamp now+14d.
  readonly expires?: Partial<Record<TopLevelRole, Date>>;
  readonly consistentSnapshot?: boolean;
  // Top-level targets.
  readonly targets?: Readonly<Record<string, TargetSpec>>;
  readonly delegations?: readonly DelegationSpec[];
  // Changes a role's signed object just before it is signed; hashes recorded by snapshot and
  // timestamp are computed afterwards, so the rest of the repository stays consistent.
  readonly edit?: (role: RoleName, signed: Record<string, unknown>) => void;
  // Sign a role with these keys instead of its own (e.g. old + new root keys for a rotation).
  readonly signers?: Readonly<Record<RoleName, readonly TestKey[]>>;
}

export interface BuiltRepository {
  readonly gun: string;
  readonly now: Date;
  readonly keys: RepositoryKeys & { readonly delegations: ReadonlyMap<RoleName, readonly TestKey[]> };
  // The signed objects as built, to copy, change and re-sign with signMetadata.
  readonly signed: ReadonlyMap<RoleName, Record<string, unknown>>;
  readonly root: Uint8Array;
  readonly timestamp: Uint8Array;
  readonly snapshot: Uint8Array;
  readonly targets: Uint8Array;
  readonly delegations: ReadonlyMap<RoleName, Uint8Array>;
  // Every role's bytes, top-level and delegated, by role name.
  readonly metadata: ReadonlyMap<RoleName, Uint8Array>;
}

// A complete, consistent, validly signed repository (see the example at the top).
export function buildRepository(gun: string, options: RepositoryOptions = {}): BuiltRepository {
  const now = options.now ?? DEFAULT_NOW;
  const keys: RepositoryKeys = {
    root: options.keys?.root ?? [
      generateRootCertKey(gun, { notBefore: new Date(now.getTime() - DAY_MS), notAfter: new Date(now.getTime() + 10 * YEAR_MS) }),
    ],
    targets: options.keys?.targets ?? [generateKey('ecdsa')],
    snapshot: options.keys?.snapshot ?? [generateKey('ed25519')],
    timestamp: options.keys?.timestamp ?? [generateKey('ed25519')],
  };
  const delegationSpecs = options.delegations ?? [];
  const delegationKeys = new Map<RoleName, readonly TestKey[]>(delegationSpecs.map((d) => [d.name, d.keys ?? [generateKey('ecdsa')]]));
  const expires = (role: TopLevelRole, fallbackMs: number): string =>
    notaryTime(options.expires?.[role] ?? new Date(now.getTime() + fallbackMs));
  const version = (role: TopLevelRole): number => options.versions?.[role] ?? 1;

  const signed = new Map<RoleName, Record<string, unknown>>();
  const metadata = new Map<RoleName, Uint8Array>();
  const finish = (role: RoleName, body: Record<string, unknown>, roleKeys: readonly TestKey[]): Uint8Array => {
    options.edit?.(role, body);
    signed.set(role, body);
    const bytes = signMetadata(body, options.signers?.[role] ?? roleKeys);
    metadata.set(role, bytes);
    return bytes;
  };

  const allTopKeys = [...keys.root, ...keys.targets, ...keys.snapshot, ...keys.timestamp];
  const root = finish(
    'root',
    {
      _type: 'Root',
      consistent_snapshot: options.consistentSnapshot ?? false,
      expires: expires('root', 10 * YEAR_MS),
      keys: Object.fromEntries(allTopKeys.map((key) => [key.id, keyJson(key)])),
      roles: Object.fromEntries(
        (['root', 'snapshot', 'targets', 'timestamp'] as const).map((role) => [
          role,
          { keyids: keys[role].map((key) => key.id), threshold: options.thresholds?.[role] ?? 1 },
        ]),
      ),
      version: version('root'),
    },
    keys.root,
  );

  // Delegating roles list their children's keys and paths; children first is not needed
  // because a parent records no hash of its children (the snapshot does).
  const delegationsOf = (parent: RoleName): Record<string, unknown> => {
    const children = delegationSpecs.filter((d) => (d.parent ?? 'targets') === parent);
    const childKeys = children.flatMap((d) => delegationKeys.get(d.name) ?? []);
    return {
      keys: Object.fromEntries(childKeys.map((key) => [key.id, keyJson(key)])),
      roles: children.map((d) => ({
        keyids: (delegationKeys.get(d.name) ?? []).map((key) => key.id),
        name: d.name,
        paths: [...(d.paths ?? [''])],
        threshold: d.threshold ?? 1,
      })),
    };
  };

  const targets = finish(
    'targets',
    {
      _type: 'Targets',
      delegations: delegationsOf('targets'),
      expires: expires('targets', 3 * YEAR_MS),
      targets: targetsJson(options.targets ?? {}),
      version: version('targets'),
    },
    keys.targets,
  );

  const delegations = new Map<RoleName, Uint8Array>();
  for (const spec of delegationSpecs) {
    const bytes = finish(
      spec.name,
      {
        _type: 'Targets',
        delegations: delegationsOf(spec.name),
        expires: notaryTime(spec.expires ?? new Date(now.getTime() + 3 * YEAR_MS)),
        targets: targetsJson(spec.targets ?? {}),
        version: spec.version ?? 1,
      },
      delegationKeys.get(spec.name) ?? [],
    );
    delegations.set(spec.name, bytes);
  }

  const snapshotMeta: Record<string, unknown> = { root: fileMetaJson(root), targets: fileMetaJson(targets) };
  for (const [name, bytes] of delegations) snapshotMeta[name] = fileMetaJson(bytes);
  const snapshot = finish(
    'snapshot',
    { _type: 'Snapshot', expires: expires('snapshot', 3 * YEAR_MS), meta: snapshotMeta, version: version('snapshot') },
    keys.snapshot,
  );
  const timestamp = finish(
    'timestamp',
    { _type: 'Timestamp', expires: expires('timestamp', 14 * DAY_MS), meta: { snapshot: fileMetaJson(snapshot) }, version: version('timestamp') },
    keys.timestamp,
  );

  return { gun, now, keys: { ...keys, delegations: delegationKeys }, signed, root, timestamp, snapshot, targets, delegations, metadata };
}

function targetsJson(targets: Readonly<Record<string, TargetSpec>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(targets).map(([name, spec]) => [
      name,
      spec instanceof Uint8Array
        ? fileMetaJson(spec)
        : { hashes: { sha256: Buffer.from(spec.sha256Hex, 'hex').toString('base64') }, length: spec.length },
    ]),
  );
}
