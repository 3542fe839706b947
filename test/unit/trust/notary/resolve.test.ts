import { describe, expect, it } from 'vitest';
import { resolveSignedDigest, type ResolveRequest } from '../../../../shared/trust/notary/resolve.js';
import { updateRepository, type VerifiedRepository } from '../../../../shared/trust/notary/update.js';
import { createMemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import {
  DEFAULT_NOW,
  buildRepository,
  generateKey,
  generateRootCertKey,
  type RepositoryOptions,
  type TestKey,
} from '../../../support/notary-builder.js';

const GUN = 'registry.example.com/team/app';
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const target = (hex: string) => ({ sha256Hex: hex, length: 1234 });

async function repositoryOf(options: RepositoryOptions): Promise<VerifiedRepository> {
  const source = createMemoryMetadataSource();
  source.publish(buildRepository(GUN, options).metadata);
  return updateRepository({ gun: GUN, source, trusted: undefined, pinnedRootKeyIds: [], now: DEFAULT_NOW });
}

function resolve(repo: VerifiedRepository, request: Partial<ResolveRequest>): ReturnType<typeof resolveSignedDigest> {
  return resolveSignedDigest(repo, { signers: [], ...request });
}

describe('resolveSignedDigest', () => {
  describe('without signers (Docker Content Trust rule)', () => {
    it('prefers targets/releases over targets', async () => {
      const repo = await repositoryOf({
        targets: { v1: target(A) },
        delegations: [{ name: 'targets/releases', targets: { v1: target(B) } }],
      });
      await expect(resolve(repo, { tag: 'v1' })).resolves.toEqual({ digest: `sha256:${B}`, signers: ['targets/releases'] });
    });

    it('falls back to the top-level targets', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) }, delegations: [{ name: 'targets/releases', targets: { v2: target(B) } }] });
      await expect(resolve(repo, { tag: 'v1' })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets'] });
    });

    it('takes the digest from the manifest bytes a target was made of', async () => {
      const manifest = new TextEncoder().encode('{"schemaVersion":2}');
      const repo = await repositoryOf({ targets: { latest: manifest } });
      const { createHash } = await import('node:crypto');
      await expect(resolve(repo, { tag: 'latest' })).resolves.toMatchObject({
        digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
      });
    });

    describe('when the tag is signed only by a non-release delegation', () => {
      it('rejects with TRUST_NO_SIGNED_TARGET naming that role', async () => {
        const repo = await repositoryOf({ delegations: [{ name: 'targets/alice', targets: { v1: target(A) } }] });
        const error = await resolve(repo, { tag: 'v1' }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
        expect((error as Error).message).toContain('targets/alice');
      });
    });

    describe('when the tag is signed by a role nested under targets/releases', () => {
      it('rejects with TRUST_NO_SIGNED_TARGET even when targets has the tag', async () => {
        const repo = await repositoryOf({
          targets: { v1: target(A) },
          delegations: [
            { name: 'targets/releases', targets: {} },
            { name: 'targets/releases/team', parent: 'targets/releases', targets: { v1: target(B) } },
          ],
        });
        const error = await resolve(repo, { tag: 'v1' }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
        expect((error as Error).message).toContain('targets/releases/team');
      });
    });

    describe('when a delegation signs a target outside its paths', () => {
      it('ignores it and uses targets', async () => {
        const repo = await repositoryOf({
          targets: { prod: target(A) },
          delegations: [{ name: 'targets/releases', paths: ['v'], targets: { prod: target(B) } }],
        });
        await expect(resolve(repo, { tag: 'prod' })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets'] });
      });

      it('rejects with TRUST_NO_SIGNED_TARGET when nothing else signs it', async () => {
        const repo = await repositoryOf({ delegations: [{ name: 'targets/releases', paths: ['v'], targets: { prod: target(B) } }] });
        await expect(resolve(repo, { tag: 'prod' })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
      });

      it('ignores a nested target outside an ancestor path even when the child allows it', async () => {
        const repo = await repositoryOf({
          targets: { prod: target(A) },
          delegations: [
            { name: 'targets/releases', paths: ['v'] },
            { name: 'targets/releases/team', parent: 'targets/releases', paths: [''], targets: { prod: target(B) } },
          ],
        });
        await expect(resolve(repo, { tag: 'prod' })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets'] });
      });
    });

    it('rejects with TRUST_NO_SIGNED_TARGET when the tag is not signed at all', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) } });
      await expect(resolve(repo, { tag: 'v2' })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
    });

    it('rejects with TRUST_NO_SIGNED_TARGET when the target has no 32-byte sha256', async () => {
      const repo = await repositoryOf({ targets: { v1: target('ab'.repeat(16)) } });
      await expect(resolve(repo, { tag: 'v1' })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
    });
  });

  describe('with a pinned digest', () => {
    it('allows a digest that targets/releases signed', async () => {
      const repo = await repositoryOf({ delegations: [{ name: 'targets/releases', targets: { v1: target(B) } }] });
      await expect(resolve(repo, { digest: `sha256:${B}` })).resolves.toEqual({ digest: `sha256:${B}`, signers: ['targets/releases'] });
    });

    it('allows a digest that targets signed', async () => {
      const repo = await repositoryOf({ targets: { old: target(A) } });
      await expect(resolve(repo, { digest: `sha256:${A}` })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets'] });
    });

    it('rejects with TRUST_NO_SIGNED_TARGET a digest only another delegation signed', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) }, delegations: [{ name: 'targets/alice', targets: { v1: target(C) } }] });
      await expect(resolve(repo, { digest: `sha256:${C}` })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
    });

    it('accepts a tag and digest that agree', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) } });
      await expect(resolve(repo, { tag: 'v1', digest: `sha256:${A}` })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets'] });
    });

    it('rejects a tag signed for another digest with TRUST_DIGEST_MISMATCH', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) } });
      await expect(resolve(repo, { tag: 'v1', digest: `sha256:${B}` })).rejects.toMatchObject({ code: 'TRUST_DIGEST_MISMATCH' });
    });

    it('rejects a malformed digest with REQUEST_INVALID', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) } });
      await expect(resolve(repo, { digest: 'sha256:XYZ' })).rejects.toMatchObject({ code: 'REQUEST_INVALID' });
    });
  });

  describe('with signers', () => {
    const alice = generateKey('ecdsa');
    const bob = generateKey('ecdsa');
    const signer = (name: string, key: TestKey) => ({ name, publicKeyPem: key.publicKeyPem });

    it('accepts signers that agree on the digest', async () => {
      const repo = await repositoryOf({
        targets: { v1: target(C) },
        delegations: [
          { name: 'targets/alice', keys: [alice], targets: { v1: target(A) } },
          { name: 'targets/bob', keys: [bob], targets: { v1: target(A) } },
        ],
      });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice), signer('targets/bob', bob)] })).resolves.toEqual({
        digest: `sha256:${A}`,
        signers: ['targets/alice', 'targets/bob'],
      });
    });

    it('rejects signers that disagree with TRUST_DIGEST_MISMATCH', async () => {
      const repo = await repositoryOf({
        delegations: [
          { name: 'targets/alice', keys: [alice], targets: { v1: target(A) } },
          { name: 'targets/bob', keys: [bob], targets: { v1: target(B) } },
        ],
      });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice), signer('bob', bob)] })).rejects.toMatchObject({
        code: 'TRUST_DIGEST_MISMATCH',
      });
    });

    it('rejects a signer whose role lacks the tag with TRUST_SIGNER_MISSING', async () => {
      const repo = await repositoryOf({
        delegations: [
          { name: 'targets/alice', keys: [alice], targets: { v1: target(A) } },
          { name: 'targets/bob', keys: [bob], targets: { v2: target(A) } },
        ],
      });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice), signer('bob', bob)] })).rejects.toMatchObject({
        code: 'TRUST_SIGNER_MISSING',
      });
    });

    it('rejects a signer whose key the role does not list with TRUST_SIGNER_MISSING', async () => {
      const repo = await repositoryOf({ delegations: [{ name: 'targets/alice', keys: [alice], targets: { v1: target(A) } }] });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', bob)] })).rejects.toMatchObject({ code: 'TRUST_SIGNER_MISSING' });
    });

    it('rejects a signer whose listed key did not sign the role with TRUST_SIGNER_MISSING', async () => {
      const repo = await repositoryOf({
        delegations: [{ name: 'targets/alice', keys: [alice, bob], targets: { v1: target(A) } }],
        signers: { 'targets/alice': [bob] },
      });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice)] })).rejects.toMatchObject({ code: 'TRUST_SIGNER_MISSING' });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', bob)] })).resolves.toMatchObject({ digest: `sha256:${A}` });
    });

    it('rejects a signer with no delegation with TRUST_SIGNER_MISSING', async () => {
      const repo = await repositoryOf({ targets: { v1: target(A) } });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice)] })).rejects.toMatchObject({ code: 'TRUST_SIGNER_MISSING' });
    });

    it('matches an x509 delegation key against the plain public key', async () => {
      const certKey = generateRootCertKey('alice');
      const repo = await repositoryOf({ delegations: [{ name: 'targets/alice', keys: [certKey], targets: { v1: target(A) } }] });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', certKey)] })).resolves.toMatchObject({ digest: `sha256:${A}` });
    });

    it('ignores a signer target outside the role paths', async () => {
      const repo = await repositoryOf({ delegations: [{ name: 'targets/alice', keys: [alice], paths: ['v2'], targets: { v1: target(A) } }] });
      await expect(resolve(repo, { tag: 'v1', signers: [signer('alice', alice)] })).rejects.toMatchObject({ code: 'TRUST_SIGNER_MISSING' });
    });

    it('accepts a pinned digest every signer signed and refuses one a signer did not', async () => {
      const repo = await repositoryOf({
        delegations: [
          { name: 'targets/alice', keys: [alice], targets: { v1: target(A), v2: target(B) } },
          { name: 'targets/bob', keys: [bob], targets: { v1: target(A) } },
        ],
      });
      const signers = [signer('alice', alice), signer('bob', bob)];
      await expect(resolve(repo, { digest: `sha256:${A}`, signers })).resolves.toEqual({ digest: `sha256:${A}`, signers: ['targets/alice', 'targets/bob'] });
      await expect(resolve(repo, { digest: `sha256:${B}`, signers })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
    });

    it('rejects a garbage public key with CONFIG_INVALID', async () => {
      const repo = await repositoryOf({ delegations: [{ name: 'targets/alice', keys: [alice], targets: { v1: target(A) } }] });
      await expect(resolve(repo, { tag: 'v1', signers: [{ name: 'alice', publicKeyPem: 'not a key' }] })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
      });
    });
  });
});
