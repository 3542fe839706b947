import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { DEFAULT_SIZE_LIMITS, type SizeLimits } from '../../../../shared/trust/notary/model.js';
import type { TrustedMetadata } from '../../../../shared/trust/notary/trusted-metadata.js';
import { updateRepository, type VerifiedRepository } from '../../../../shared/trust/notary/update.js';
import { createMemoryMetadataSource, type MemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import {
  DEFAULT_NOW,
  buildRepository,
  fileMetaJson,
  generateKey,
  generateRootCertKey,
  type BuiltRepository,
  type RepositoryOptions,
} from '../../../support/notary-builder.js';

const GUN = 'registry.example.com/team/app';
const DAY_MS = 24 * 60 * 60 * 1000;

function serve(...states: BuiltRepository[]): MemoryMetadataSource {
  const source = createMemoryMetadataSource();
  for (const state of states) source.publish(state.metadata);
  return source;
}

function update(
  source: MemoryMetadataSource,
  trusted?: TrustedMetadata,
  extra: { pinnedRootKeyIds?: readonly string[]; limits?: SizeLimits; now?: Date; signal?: AbortSignal } = {},
): Promise<VerifiedRepository> {
  return updateRepository({
    gun: GUN,
    source,
    trusted,
    pinnedRootKeyIds: extra.pinnedRootKeyIds ?? [],
    now: extra.now ?? DEFAULT_NOW,
    ...(extra.limits ? { limits: extra.limits } : {}),
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
}

// What a previous update of `state` left trusted.
async function trustedAfter(state: BuiltRepository, loadDelegations: readonly string[] = []): Promise<TrustedMetadata> {
  const repo = await update(serve(state));
  for (const name of loadDelegations) await repo.delegation(name);
  return repo.trustedMetadata();
}

// A later state of `state`'s repository: same keys unless overridden. Unless the options
// change the root, the later state serves the very same root bytes, as notary-server does.
function next(state: BuiltRepository, options: RepositoryOptions): BuiltRepository {
  const keys = { ...state.keys, ...options.keys };
  const rootChanges = options.keys?.root !== undefined || options.versions?.root !== undefined || options.expires?.root !== undefined;
  if (rootChanges) return buildRepository(GUN, { ...options, keys });
  const built = buildRepository(GUN, {
    ...options,
    keys,
    edit: (role, signed) => {
      if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['root'] = fileMetaJson(state.root);
      options.edit?.(role, signed);
    },
  });
  return { ...built, root: state.root, metadata: new Map([...built.metadata, ['root', state.root]]) };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// Replaces part of a served document while keeping its signatures.
function reserialize(bytes: Uint8Array, change: (doc: { signed: Record<string, unknown>; signatures: { sig: string }[] }) => void): Uint8Array {
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as { signed: Record<string, unknown>; signatures: { sig: string }[] };
  change(doc);
  return new TextEncoder().encode(JSON.stringify(doc));
}

describe('updateRepository', () => {
  describe('on first use', () => {
    it('trusts the served root and fetches root, timestamp, snapshot and targets once each', async () => {
      const state = buildRepository(GUN, { targets: { v1: new Uint8Array([1, 2, 3]) } });
      const source = serve(state);
      const repo = await update(source);
      expect(repo.targets.signed.targets.has('v1')).toBe(true);
      expect(source.fetches.map((f) => [f.role, f.selector.kind])).toEqual([
        ['root', 'latest'],
        ['timestamp', 'latest'],
        ['snapshot', 'checksum'],
        ['targets', 'checksum'],
      ]);
      expect(source.fetches[2]?.selector).toEqual({ kind: 'checksum', sha256Hex: sha256Hex(state.snapshot) });
      const trusted = repo.trustedMetadata();
      expect(Buffer.from(trusted.root).equals(Buffer.from(state.root))).toBe(true);
      expect(Buffer.from(trusted.targets ?? []).equals(Buffer.from(state.targets))).toBe(true);
    });

    it('rejects with TRUST_METADATA_MISSING when the server has no root.json', async () => {
      await expect(update(createMemoryMetadataSource())).rejects.toMatchObject({ code: 'TRUST_METADATA_MISSING' });
    });

    it('rejects with TRUST_METADATA_MISSING when the server has no timestamp.json', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      source.put('timestamp', { kind: 'latest' }, undefined);
      await expect(update(source)).rejects.toMatchObject({ code: 'TRUST_METADATA_MISSING' });
    });

    it('rejects with TRUST_ROOT_CERT_INVALID when the root certificate names another GUN', async () => {
      const state = buildRepository(GUN, { keys: { root: [generateRootCertKey('registry.example.com/other/app')] } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_ROOT_CERT_INVALID' });
    });

    it('rejects with TRUST_THRESHOLD_NOT_MET when the root is not signed by its own root keys', async () => {
      const state = buildRepository(GUN, { signers: { root: [generateRootCertKey(GUN)] } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });

    it('rejects with TRUST_METADATA_EXPIRED when the root has expired', async () => {
      const state = buildRepository(GUN, { expires: { root: new Date(DEFAULT_NOW.getTime() - DAY_MS) } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
    });
  });

  describe('when a signature does not verify', () => {
    it('rejects a tampered timestamp signature with TRUST_SIGNATURE_INVALID', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      const tampered = reserialize(state.timestamp, (doc) => {
        const sig = Buffer.from(doc.signatures[0]?.sig ?? '', 'base64');
        sig[0] = (sig[0] ?? 0) ^ 0xff;
        doc.signatures[0] = { ...doc.signatures[0], sig: sig.toString('base64') };
      });
      source.put('timestamp', { kind: 'latest' }, tampered);
      await expect(update(source)).rejects.toMatchObject({ code: 'TRUST_SIGNATURE_INVALID' });
    });

    it('rejects a timestamp whose signed content was changed with TRUST_SIGNATURE_INVALID', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      source.put('timestamp', { kind: 'latest' }, reserialize(state.timestamp, (doc) => (doc.signed['version'] = 99)));
      await expect(update(source)).rejects.toMatchObject({ code: 'TRUST_SIGNATURE_INVALID' });
    });

    it('rejects a timestamp signed by a key the root does not list with TRUST_THRESHOLD_NOT_MET', async () => {
      const state = buildRepository(GUN, { signers: { timestamp: [generateKey('ed25519')] } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });

    it('rejects targets signed by a key the root does not list with TRUST_THRESHOLD_NOT_MET', async () => {
      const state = buildRepository(GUN, { signers: { targets: [generateKey('ecdsa')] } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });
  });

  describe('when the same key signs twice toward a threshold of 2', () => {
    it('rejects with TRUST_THRESHOLD_NOT_MET', async () => {
      const first = generateKey('ed25519');
      const second = generateKey('ed25519');
      const state = buildRepository(GUN, {
        keys: { timestamp: [first, second] },
        thresholds: { timestamp: 2 },
        signers: { timestamp: [first, first] },
      });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });

    it('accepts two distinct keys', async () => {
      const first = generateKey('ed25519');
      const second = generateKey('ed25519');
      const state = buildRepository(GUN, { keys: { timestamp: [first, second] }, thresholds: { timestamp: 2 } });
      await expect(update(serve(state))).resolves.toBeDefined();
    });
  });

  describe('when the timestamp has expired (freeze attack)', () => {
    it('rejects with TRUST_METADATA_EXPIRED', async () => {
      const state = buildRepository(GUN, { expires: { timestamp: new Date(DEFAULT_NOW.getTime() - 1000) } });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
    });

    it('rejects an expired snapshot or targets with TRUST_METADATA_EXPIRED', async () => {
      const past = new Date(DEFAULT_NOW.getTime() - 1000);
      await expect(update(serve(buildRepository(GUN, { expires: { snapshot: past } })))).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
      await expect(update(serve(buildRepository(GUN, { expires: { targets: past } })))).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
    });
  });

  describe('when the server rolls back to older metadata than was trusted', () => {
    const trustedVersions = { timestamp: 5, snapshot: 5, targets: 5 };

    it.each([
      ['timestamp', { timestamp: 4, snapshot: 6, targets: 6 }],
      ['snapshot', { timestamp: 6, snapshot: 4, targets: 6 }],
      ['targets', { timestamp: 6, snapshot: 6, targets: 4 }],
    ] as const)('rejects an older %s with TRUST_ROLLBACK', async (_role, versions) => {
      const state = buildRepository(GUN, { versions: trustedVersions });
      const trusted = await trustedAfter(state);
      const older = next(state, { versions });
      await expect(update(serve(older), trusted)).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });

    it('accepts newer versions and fetches the changed snapshot and targets', async () => {
      const state = buildRepository(GUN, { versions: trustedVersions });
      const trusted = await trustedAfter(state);
      const newer = next(state, { versions: { timestamp: 6, snapshot: 6, targets: 6 }, targets: { v2: new Uint8Array([2]) } });
      const source = serve(newer);
      const repo = await update(source, trusted);
      expect(repo.targets.signed.version).toBe(6);
      expect(source.fetches.map((f) => f.role)).toEqual(['timestamp', 'snapshot', 'targets']);
    });
  });

  describe('when the snapshot does not match the timestamp (mix-and-match)', () => {
    it('rejects with TRUST_HASH_MISMATCH', async () => {
      const state = buildRepository(GUN);
      const other = next(state, { versions: { snapshot: 2 } });
      const source = serve(state);
      source.put('snapshot', { kind: 'checksum', sha256Hex: sha256Hex(state.snapshot) }, other.snapshot);
      await expect(update(source)).rejects.toMatchObject({ code: 'TRUST_HASH_MISMATCH' });
    });
  });

  describe('when the targets do not match the snapshot (mix-and-match)', () => {
    it('rejects with TRUST_HASH_MISMATCH', async () => {
      const state = buildRepository(GUN, { targets: { v1: new Uint8Array([1]) } });
      const other = next(state, { targets: { v1: new Uint8Array([9]) } });
      const source = serve(state);
      source.put('targets', { kind: 'checksum', sha256Hex: sha256Hex(state.targets) }, other.targets);
      await expect(update(source)).rejects.toMatchObject({ code: 'TRUST_HASH_MISMATCH' });
    });
  });

  describe('when metadata is oversized', () => {
    it('asks the source for at most the configured timestamp size and the declared snapshot and targets lengths', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      await update(source);
      const caps = Object.fromEntries(source.fetches.map((f) => [f.role, f.maxBytes]));
      expect(caps).toEqual({
        root: DEFAULT_SIZE_LIMITS.root,
        timestamp: DEFAULT_SIZE_LIMITS.timestamp,
        snapshot: state.snapshot.length,
        targets: state.targets.length,
      });
    });

    it('rejects a timestamp over the cap with TRUST_METADATA_TOO_LARGE even when the source ignores the cap', async () => {
      const state = buildRepository(GUN);
      const source = createMemoryMetadataSource({ enforceCap: false });
      source.publish(state.metadata);
      const limits = { ...DEFAULT_SIZE_LIMITS, timestamp: state.timestamp.length - 1 };
      await expect(update(source, undefined, { limits })).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
    });

    it('rejects a snapshot declared larger than the limit with TRUST_METADATA_TOO_LARGE without fetching it', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      const limits = { ...DEFAULT_SIZE_LIMITS, snapshot: state.snapshot.length - 1 };
      await expect(update(source, undefined, { limits })).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
      expect(source.fetches.map((f) => f.role)).not.toContain('snapshot');
    });

    it('passes on the source refusing an over-cap body as TRUST_METADATA_TOO_LARGE', async () => {
      const state = buildRepository(GUN);
      const source = serve(state);
      const limits = { ...DEFAULT_SIZE_LIMITS, root: state.root.length - 1 };
      await expect(update(source, undefined, { limits })).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
    });
  });

  describe('on a warm update', () => {
    it('makes one fetch (timestamp) when the timestamp is unchanged', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases' }] });
      const trusted = await trustedAfter(state, ['targets/releases']);
      const source = serve(state);
      const repo = await update(source, trusted);
      await repo.delegation('targets/releases');
      expect(source.fetches).toEqual([{ role: 'timestamp', selector: { kind: 'latest' }, maxBytes: DEFAULT_SIZE_LIMITS.timestamp }]);
      expect(repo.trustedMetadata().delegations.has('targets/releases')).toBe(true);
    });

    it('rejects with STATE_STORE_FAILED when the stored root does not decode', async () => {
      const state = buildRepository(GUN);
      const trusted = { ...(await trustedAfter(state)), root: new TextEncoder().encode('{"signed":') };
      await expect(update(serve(state), trusted)).rejects.toMatchObject({ code: 'STATE_STORE_FAILED' });
    });

    it('discards stored metadata that does not verify under the current root', async () => {
      const state = buildRepository(GUN, { versions: { timestamp: 3 } });
      const forged = buildRepository(GUN, { keys: { root: state.keys.root }, versions: { timestamp: 99 } });
      const trusted = { ...(await trustedAfter(state)), timestamp: forged.timestamp };
      const repo = await update(serve(state), trusted);
      expect(repo.timestamp.signed.version).toBe(3);
    });
  });

  describe('when the root is rotated', () => {
    it('accepts a new root signed by the old and the new root keys', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      const rotated = next(state, {
        keys: { root: [newRootKey] },
        versions: { root: 2, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, newRootKey] },
      });
      const source = serve(state, rotated);
      const repo = await update(source, trusted);
      expect(repo.root.signed.version).toBe(2);
      expect(source.fetches).toContainEqual({ role: 'root', selector: { kind: 'checksum', sha256Hex: sha256Hex(rotated.root) }, maxBytes: rotated.root.length });
      expect(Buffer.from(repo.trustedMetadata().root).equals(Buffer.from(rotated.root))).toBe(true);
    });

    it('walks every version in between, each signed by its predecessor', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const key2 = generateRootCertKey(GUN);
      const key3 = generateRootCertKey(GUN);
      const v2 = next(state, { keys: { root: [key2] }, versions: { root: 2, timestamp: 2, snapshot: 2 }, signers: { root: [...state.keys.root, key2] } });
      const v3 = next(state, { keys: { root: [key3] }, versions: { root: 3, timestamp: 3, snapshot: 3 }, signers: { root: [key2, key3] } });
      const source = serve(state, v2, v3);
      const repo = await update(source, trusted);
      expect(repo.root.signed.version).toBe(3);
      expect(source.fetches).toContainEqual({ role: 'root', selector: { kind: 'version', version: 2 }, maxBytes: DEFAULT_SIZE_LIMITS.root });
    });

    it('rejects a new root not signed by the old root keys with TRUST_ROOT_ROTATION_INVALID', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      const rotated = next(state, { keys: { root: [newRootKey] }, versions: { root: 2, timestamp: 2, snapshot: 2 } });
      await expect(update(serve(rotated), trusted)).rejects.toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID' });
    });

    it('rejects a rotation that skips a version with TRUST_ROOT_ROTATION_INVALID', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      // Signed by the old keys too, but version 2 does not exist.
      const rotated = next(state, {
        keys: { root: [newRootKey] },
        versions: { root: 3, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, newRootKey] },
      });
      const source = serve(rotated);
      await expect(update(source, trusted)).rejects.toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID' });
      expect(source.fetches).toContainEqual({ role: 'root', selector: { kind: 'version', version: 2 }, maxBytes: DEFAULT_SIZE_LIMITS.root });
    });

    it('rejects an intermediate root whose version is not the next one with TRUST_ROOT_ROTATION_INVALID', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      const rotated = next(state, {
        keys: { root: [newRootKey] },
        versions: { root: 3, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, newRootKey] },
      });
      const source = serve(rotated);
      source.put('root', { kind: 'version', version: 2 }, rotated.root);
      await expect(update(source, trusted)).rejects.toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID' });
    });

    it('rejects a new root whose certificate names another GUN with TRUST_ROOT_ROTATION_INVALID', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const foreignKey = generateRootCertKey('registry.example.com/other/app');
      const rotated = next(state, {
        keys: { root: [foreignKey] },
        versions: { root: 2, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, foreignKey] },
      });
      const error = await update(serve(rotated), trusted).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID', cause: { code: 'TRUST_ROOT_CERT_INVALID' } });
    });

    it('rejects a snapshot naming an older root with TRUST_ROLLBACK', async () => {
      const old = buildRepository(GUN, { versions: { root: 1 } });
      const newRootKey = generateRootCertKey(GUN);
      const current = next(old, {
        keys: { root: [newRootKey] },
        versions: { root: 2, timestamp: 2, snapshot: 2 },
        signers: { root: [...old.keys.root, newRootKey] },
      });
      const trusted = await trustedAfter(current);
      // The old repository state, re-signed with newer versions by the unchanged timestamp and snapshot keys.
      const replay = next(old, { versions: { root: 1, timestamp: 3, snapshot: 3 } });
      await expect(update(serve(replay), trusted)).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });

    it('rejects a new root that has already expired with TRUST_METADATA_EXPIRED', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      const rotated = next(state, {
        keys: { root: [newRootKey] },
        versions: { root: 2, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, newRootKey] },
        expires: { root: new Date(DEFAULT_NOW.getTime() - DAY_MS) },
      });
      await expect(update(serve(rotated), trusted)).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
    });

    it('follows a timestamp key rotation by fetching the latest root when the timestamp no longer verifies', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newTimestampKey = generateKey('ed25519');
      const rotated = next(state, {
        keys: { timestamp: [newTimestampKey] },
        versions: { root: 2, timestamp: 2, snapshot: 2 },
      });
      const source = serve(state, rotated);
      const repo = await update(source, trusted);
      expect(repo.root.signed.version).toBe(2);
      expect(repo.timestamp.signed.version).toBe(2);
      expect(source.fetches).toContainEqual({ role: 'root', selector: { kind: 'latest' }, maxBytes: DEFAULT_SIZE_LIMITS.root });
    });

    it('keeps refusing a timestamp signed by an unknown key when no newer root exists', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const forged = next(state, { keys: { timestamp: [generateKey('ed25519')] }, versions: { timestamp: 2 } });
      const source = serve(state);
      source.put('timestamp', { kind: 'latest' }, forged.timestamp);
      await expect(update(source, trusted)).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });
  });

  describe('with pinned root key IDs', () => {
    it('accepts a root signed by a pinned key', async () => {
      const state = buildRepository(GUN);
      const pinned = state.keys.root.map((key) => key.id);
      await expect(update(serve(state), undefined, { pinnedRootKeyIds: pinned })).resolves.toBeDefined();
    });

    it('accepts the ID of the certificate key in its plain ecdsa form', async () => {
      const state = buildRepository(GUN);
      const rootKey = state.keys.root[0];
      const der = Buffer.from((rootKey?.publicKeyPem ?? '').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      const plainId = createHash('sha256')
        .update(canonicalize({ keytype: 'ecdsa', keyval: { private: null, public: der.toString('base64') } }))
        .digest('hex');
      await expect(update(serve(state), undefined, { pinnedRootKeyIds: [plainId] })).resolves.toBeDefined();
    });

    it('rejects a root not signed by a pinned key with TRUST_ROOT_KEY_MISMATCH', async () => {
      const state = buildRepository(GUN);
      await expect(update(serve(state), undefined, { pinnedRootKeyIds: ['ab'.repeat(32)] })).rejects.toMatchObject({
        code: 'TRUST_ROOT_KEY_MISMATCH',
      });
    });

    it('re-checks the pin against a stored root', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      await expect(update(serve(state), trusted, { pinnedRootKeyIds: ['ab'.repeat(32)] })).rejects.toMatchObject({
        code: 'TRUST_ROOT_KEY_MISMATCH',
      });
    });
  });

  describe('delegation', () => {
    it('loads a delegation by checksum once and memoises it', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', targets: { v1: new Uint8Array([1]) } }] });
      const source = serve(state);
      const repo = await update(source);
      source.clearFetches();
      const first = await repo.delegation('targets/releases');
      const second = await repo.delegation('targets/releases');
      expect(first).toBe(second);
      expect(first?.envelope.signed.targets.has('v1')).toBe(true);
      expect(source.fetches).toEqual([
        {
          role: 'targets/releases',
          selector: { kind: 'checksum', sha256Hex: sha256Hex(state.delegations.get('targets/releases') ?? new Uint8Array()) },
          maxBytes: state.delegations.get('targets/releases')?.length,
        },
      ]);
      expect(await repo.childRoles('targets')).toEqual(['targets/releases']);
    });

    it('answers undefined for a role nobody delegates or the snapshot does not list', async () => {
      const state = buildRepository(GUN, {
        delegations: [{ name: 'targets/releases' }],
        edit: (role, signed) => {
          if (role === 'snapshot') delete (signed['meta'] as Record<string, unknown>)['targets/releases'];
        },
      });
      const repo = await update(serve(state));
      expect(await repo.delegation('targets/alice')).toBeUndefined();
      expect(await repo.delegation('targets/releases')).toBeUndefined();
      expect(await repo.delegation('not-a-role')).toBeUndefined();
    });

    it.each([
      ['no keys (Notary writes "keyids": null once the only key is removed)', (role: Record<string, unknown>) => (role['keyids'] = null)],
      ['fewer keys than its threshold', (role: Record<string, unknown>) => (role['threshold'] = 2)],
    ])('passes over, without fetching it, a role its parent gives %s', async (_case, change) => {
      const state = buildRepository(GUN, {
        delegations: [{ name: 'targets/releases', targets: { v1: new Uint8Array([1]) } }],
        edit: (role, signed) => {
          if (role === 'targets') change((signed['delegations'] as { roles: Record<string, unknown>[] }).roles[0] ?? {});
        },
      });
      const source = serve(state);
      const repo = await update(source);
      source.clearFetches();
      expect(await repo.delegation('targets/releases')).toBeUndefined();
      expect(source.fetches).toEqual([]);
    });

    it('loads nested roles through their parent and applies every ancestor path', async () => {
      const state = buildRepository(GUN, {
        delegations: [
          { name: 'targets/releases', paths: ['v1', 'v2'] },
          { name: 'targets/releases/team', parent: 'targets/releases', paths: ['v1', 'x'] },
        ],
      });
      const repo = await update(serve(state));
      const team = await repo.delegation('targets/releases/team');
      expect(team?.allowsTarget('v1.0')).toBe(true);
      expect(team?.allowsTarget('x1')).toBe(false);
      expect(team?.allowsTarget('v2')).toBe(false);
      expect(await repo.childRoles('targets/releases')).toEqual(['targets/releases/team']);
    });

    it('rejects a role that is not a direct child of its delegator with TRUST_DELEGATION_INVALID', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases/team', parent: 'targets' }] });
      await expect(update(serve(state))).rejects.toMatchObject({ code: 'TRUST_DELEGATION_INVALID' });
    });

    it('rejects a delegation that delegates outside its own subtree with TRUST_DELEGATION_INVALID', async () => {
      const state = buildRepository(GUN, {
        delegations: [{ name: 'targets/alice' }, { name: 'targets/releases/evil', parent: 'targets/alice' }],
      });
      const repo = await update(serve(state));
      await expect(repo.delegation('targets/alice')).rejects.toMatchObject({ code: 'TRUST_DELEGATION_INVALID' });
    });

    it('rejects a delegation signed by a key its parent does not list with TRUST_THRESHOLD_NOT_MET', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases' }], signers: { 'targets/releases': [generateKey('ecdsa')] } });
      const repo = await update(serve(state));
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_THRESHOLD_NOT_MET' });
    });

    it('rejects an expired delegation with TRUST_METADATA_EXPIRED', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', expires: new Date(DEFAULT_NOW.getTime() - 1) }] });
      const repo = await update(serve(state));
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_METADATA_EXPIRED' });
    });

    it('rejects an older delegation than the trusted one with TRUST_ROLLBACK', async () => {
      const releasesKey = generateKey('ecdsa');
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', keys: [releasesKey], version: 3 }] });
      const trusted = await trustedAfter(state, ['targets/releases']);
      const older = next(state, {
        versions: { timestamp: 2, snapshot: 2 },
        delegations: [{ name: 'targets/releases', keys: [releasesKey], version: 2 }],
      });
      const repo = await update(serve(older), trusted);
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });

    it('rejects a delegation that does not match the snapshot with TRUST_HASH_MISMATCH', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', targets: { v1: new Uint8Array([1]) } }] });
      const other = next(state, { delegations: [{ name: 'targets/releases', targets: { v1: new Uint8Array([2]) } }] });
      const source = serve(state);
      const served = state.delegations.get('targets/releases') ?? new Uint8Array();
      source.put('targets/releases', { kind: 'checksum', sha256Hex: sha256Hex(served) }, other.delegations.get('targets/releases'));
      const repo = await update(source);
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_HASH_MISMATCH' });
    });

    it('rejects loading more delegations than the limit with TRUST_METADATA_TOO_LARGE', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/alice' }, { name: 'targets/bob' }] });
      const repo = await update(serve(state), undefined, { limits: { ...DEFAULT_SIZE_LIMITS, delegationCount: 1 } });
      await expect(repo.delegation('targets/alice')).resolves.toBeDefined();
      await expect(repo.delegation('targets/bob')).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
    });

    it('counts delegated names that are walked past without a fetch against the limit', async () => {
      const state = buildRepository(GUN, {
        edit: (role, signed) => {
          if (role !== 'targets') return;
          const roles = Array.from({ length: 500 }, (_, i) => ({ keyids: [], name: `targets/ghost${i}`, paths: [''], threshold: 1 }));
          (signed['delegations'] as { roles: unknown[] }).roles = roles;
        },
      });
      const repo = await update(serve(state), undefined, { limits: { ...DEFAULT_SIZE_LIMITS, delegationCount: 3 } });
      const names = await repo.childRoles('targets');
      expect(names).toHaveLength(500);
      for (const name of names.slice(0, 3)) await expect(repo.delegation(name)).resolves.toBeUndefined();
      await expect(repo.delegation(names[3] ?? '')).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
    });
  });

  describe('when a snapshot leaves out a delegation its parent still delegates', () => {
    // Snapshot and timestamp keys alone (notary-server holds them) can omit a role: its
    // trusted version must outlive the omission, or a later snapshot could bring back a
    // revoked document of it.
    const omitting = (name: string) => (role: string, signed: Record<string, unknown>) => {
      if (role === 'snapshot') delete (signed['meta'] as Record<string, unknown>)[name];
    };

    it('keeps the stored document of the role, and of its children, for their version floors', async () => {
      const state = buildRepository(GUN, {
        delegations: [
          { name: 'targets/releases', version: 3 },
          { name: 'targets/releases/team', parent: 'targets/releases', version: 2 },
        ],
      });
      const trusted = await trustedAfter(state, ['targets/releases', 'targets/releases/team']);
      const keys = { releases: state.keys.delegations.get('targets/releases') ?? [], team: state.keys.delegations.get('targets/releases/team') ?? [] };
      const omitted = next(state, {
        versions: { timestamp: 2, snapshot: 2 },
        delegations: [
          { name: 'targets/releases', keys: keys.releases, version: 3 },
          { name: 'targets/releases/team', parent: 'targets/releases', keys: keys.team, version: 2 },
        ],
        edit: omitting('targets/releases'),
      });
      const repo = await update(serve(omitted), trusted);
      expect(await repo.delegation('targets/releases')).toBeUndefined();
      const kept = repo.trustedMetadata().delegations;
      expect(kept.get('targets/releases')).toEqual(trusted.delegations.get('targets/releases'));
      expect(kept.get('targets/releases/team')).toEqual(trusted.delegations.get('targets/releases/team'));
    });

    it('refuses an older document of the role listed again with TRUST_ROLLBACK', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', version: 1 }] });
      const releasesKeys = state.keys.delegations.get('targets/releases') ?? [];
      const current = next(state, { versions: { timestamp: 2, snapshot: 2 }, delegations: [{ name: 'targets/releases', keys: releasesKeys, version: 2 }] });
      let trusted = await update(serve(current));
      await trusted.delegation('targets/releases');
      const omitted = next(state, {
        versions: { timestamp: 3, snapshot: 3 },
        delegations: [{ name: 'targets/releases', keys: releasesKeys, version: 2 }],
        edit: omitting('targets/releases'),
      });
      trusted = await update(serve(omitted), trusted.trustedMetadata());
      const replayed = next(state, {
        versions: { timestamp: 4, snapshot: 4 },
        delegations: [{ name: 'targets/releases', keys: releasesKeys, version: 2 }],
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/releases'] = fileMetaJson(state.delegations.get('targets/releases') ?? new Uint8Array());
        },
      });
      const source = serve(replayed);
      source.publish(new Map([['targets/releases', state.delegations.get('targets/releases') ?? new Uint8Array()]]));
      const repo = await update(source, trusted.trustedMetadata());
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });

    it('forgets the role once its parent no longer delegates it', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', version: 3 }] });
      const trusted = await trustedAfter(state, ['targets/releases']);
      const removed = next(state, { versions: { timestamp: 2, snapshot: 2, targets: 2 } });
      const repo = await update(serve(removed), trusted);
      expect(repo.trustedMetadata().delegations.has('targets/releases')).toBe(false);
    });
  });

  describe('when a root rotation removes one of the targets keys', () => {
    it('keeps the stored targets version as the floor although the stored targets no longer verifies', async () => {
      const alice = generateKey('ecdsa');
      const bob = generateKey('ecdsa');
      const state = buildRepository(GUN, { keys: { targets: [alice, bob] }, signers: { targets: [bob] } });
      const current = next(state, { versions: { timestamp: 2, snapshot: 2, targets: 2 }, signers: { targets: [alice] } });
      const trusted = await trustedAfter(current);
      // Root version 2 lists only bob's targets key; the server pairs it with bob's targets version 1.
      const rotated = next(state, {
        keys: { targets: [bob] },
        versions: { root: 2, timestamp: 3, snapshot: 3 },
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets'] = fileMetaJson(state.targets);
        },
      });
      const source = serve(rotated);
      source.publish(new Map([['targets', state.targets]]));
      await expect(update(source, trusted)).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });
  });

  describe('when the store read back the floors of only some delegations', () => {
    it('refuses any other delegation with TRUST_METADATA_TOO_LARGE, loads the named ones, and keeps the restriction', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases' }, { name: 'targets/alice' }] });
      const trusted = await trustedAfter(state);
      const repo = await update(serve(state), { ...trusted, floorsKnownOnlyFor: new Set(['targets/releases']) });
      await expect(repo.delegation('targets/releases')).resolves.toBeDefined();
      await expect(repo.delegation('targets/alice')).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
      expect(repo.trustedMetadata().floorsKnownOnlyFor).toEqual(new Set(['targets/releases']));
    });
  });

  describe('when the parent removes a key of a delegation', () => {
    it('keeps the stored version as the floor although the stored document no longer verifies', async () => {
      const alice = generateKey('ecdsa');
      const bob = generateKey('ecdsa');
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases', keys: [alice, bob], version: 1 }], signers: { 'targets/releases': [bob] } });
      const current = next(state, {
        versions: { timestamp: 2, snapshot: 2 },
        delegations: [{ name: 'targets/releases', keys: [alice, bob], version: 2 }],
        signers: { 'targets/releases': [alice] },
      });
      const trusted = await trustedAfter(current, ['targets/releases']);
      const replayed = next(state, {
        versions: { timestamp: 3, snapshot: 3, targets: 3 },
        delegations: [{ name: 'targets/releases', keys: [bob], version: 3 }],
        edit: (role, signed) => {
          if (role === 'snapshot') (signed['meta'] as Record<string, unknown>)['targets/releases'] = fileMetaJson(state.delegations.get('targets/releases') ?? new Uint8Array());
        },
      });
      const source = serve(replayed);
      source.publish(new Map([['targets/releases', state.delegations.get('targets/releases') ?? new Uint8Array()]]));
      const repo = await update(source, trusted);
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_ROLLBACK' });
    });
  });

  describe('within the per-update bounds', () => {
    it('refuses once the documents of one update together pass the byte budget, delegations included', async () => {
      const big = (tag: string): Record<string, Uint8Array> => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`${tag}${i}`, new Uint8Array([i])]));
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/alice', targets: big('a') }, { name: 'targets/bob', targets: big('b') }] });
      const alice = state.delegations.get('targets/alice')?.length ?? 0;
      const topLevel = state.root.length + state.timestamp.length + state.snapshot.length + state.targets.length;
      const source = serve(state);
      const repo = await update(source, undefined, { limits: { ...DEFAULT_SIZE_LIMITS, updateBytes: topLevel + alice + 10 } });
      await expect(repo.delegation('targets/alice')).resolves.toBeDefined();
      await expect(repo.delegation('targets/bob')).rejects.toMatchObject({ code: 'TRUST_METADATA_TOO_LARGE' });
      // Bob was asked for no more than what was left of the budget.
      expect(source.fetches.at(-1)).toMatchObject({ role: 'targets/bob', maxBytes: 10 });
    });

    it('keeps the stored state within the byte budget however many delegations earlier updates loaded', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/alice' }, { name: 'targets/bob' }] });
      const trusted = await trustedAfter(state, ['targets/alice', 'targets/bob']);
      const total = [trusted.root, trusted.timestamp, trusted.snapshot, trusted.targets, ...trusted.delegations.values()].reduce((sum, bytes) => sum + (bytes?.length ?? 0), 0);
      const repo = await update(serve(state), trusted, { limits: { ...DEFAULT_SIZE_LIMITS, updateBytes: total - 1 } });
      const kept = repo.trustedMetadata();
      expect(kept.delegations.size).toBe(1);
    });

    it('refuses a root rotation over more versions than the bound before fetching any of them', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const newRootKey = generateRootCertKey(GUN);
      const rotated = next(state, {
        keys: { root: [newRootKey] },
        versions: { root: 1_000_000, timestamp: 2, snapshot: 2 },
        signers: { root: [...state.keys.root, newRootKey] },
      });
      const source = serve(rotated);
      await expect(update(source, trusted, { limits: { ...DEFAULT_SIZE_LIMITS, rootRotations: 256 } })).rejects.toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID' });
      expect(source.fetches.filter((fetch) => fetch.selector.kind === 'version')).toEqual([]);
    });

    it('walks a rotation of exactly the bound', async () => {
      const state = buildRepository(GUN);
      const trusted = await trustedAfter(state);
      const key2 = generateRootCertKey(GUN);
      const key3 = generateRootCertKey(GUN);
      const v2 = next(state, { keys: { root: [key2] }, versions: { root: 2, timestamp: 2, snapshot: 2 }, signers: { root: [...state.keys.root, key2] } });
      const v3 = next(state, { keys: { root: [key3] }, versions: { root: 3, timestamp: 3, snapshot: 3 }, signers: { root: [key2, key3] } });
      await expect(update(serve(state, v2, v3), trusted, { limits: { ...DEFAULT_SIZE_LIMITS, rootRotations: 2 } })).resolves.toMatchObject({ root: { signed: { version: 3 } } });
      await expect(update(serve(state, v2, v3), trusted, { limits: { ...DEFAULT_SIZE_LIMITS, rootRotations: 1 } })).rejects.toMatchObject({ code: 'TRUST_ROOT_ROTATION_INVALID' });
    });

    it('stops every fetch once its deadline has passed, later delegation loads included', async () => {
      const state = buildRepository(GUN, { delegations: [{ name: 'targets/releases' }] });
      const deadline = new AbortController();
      const source = serve(state);
      const repo = await update(source, undefined, { signal: deadline.signal });
      const fetched = source.fetches.length;
      deadline.abort(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'deadline'));
      await expect(repo.delegation('targets/releases')).rejects.toMatchObject({ code: 'TRUST_SERVER_UNAVAILABLE' });
      await expect(update(source, undefined, { signal: deadline.signal })).rejects.toMatchObject({ code: 'TRUST_SERVER_UNAVAILABLE' });
      expect(source.fetches).toHaveLength(fetched);
    });
  });
});
