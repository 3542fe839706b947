import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveSignedDigest } from '../../../../shared/trust/notary/resolve.js';
import { updateRepository } from '../../../../shared/trust/notary/update.js';
import { createMemoryMetadataSource } from '../../../support/memory-metadata-source.js';

// Bytes captured from a real notary-server 0.7.0 (owner + targets/releases + targets/alice).
const fixtures = new URL('../../../fixtures/notary/', import.meta.url);
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(fileURLToPath(new URL(name, fixtures))));
const GUN = '127.0.0.1:5000/team/app';
const NOW = new Date('2026-11-28T00:00:00Z');

function realSource() {
  const source = createMemoryMetadataSource();
  source.publish(
    new Map([
      ['root', read('root.json')],
      ['timestamp', read('timestamp.json')],
      ['snapshot', read('snapshot.json')],
      ['targets', read('targets.json')],
      ['targets/releases', read('targets/releases.json')],
      ['targets/alice', read('targets/alice.json')],
    ]),
  );
  return source;
}

describe('updateRepository', () => {
  describe('over metadata served by a real notary-server', () => {
    it('verifies every role and resolves a tag through targets/releases', async () => {
      const repo = await updateRepository({ gun: GUN, source: realSource(), trusted: undefined, pinnedRootKeyIds: [], now: NOW });
      expect(await repo.childRoles('targets')).toEqual(['targets/releases', 'targets/alice']);
      const resolution = await resolveSignedDigest(repo, { tag: 'v1', signers: [] });
      expect(resolution.signers).toEqual(['targets/releases']);
      expect(resolution.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    });

    it('refuses a tag only targets/alice signed with TRUST_NO_SIGNED_TARGET', async () => {
      const repo = await updateRepository({ gun: GUN, source: realSource(), trusted: undefined, pinnedRootKeyIds: [], now: NOW });
      await expect(resolveSignedDigest(repo, { tag: 'alice-only', signers: [] })).rejects.toMatchObject({ code: 'TRUST_NO_SIGNED_TARGET' });
    });

    it('refuses it for another GUN with TRUST_ROOT_CERT_INVALID', async () => {
      const update = updateRepository({ gun: '127.0.0.1:5000/team/other', source: realSource(), trusted: undefined, pinnedRootKeyIds: [], now: NOW });
      await expect(update).rejects.toMatchObject({ code: 'TRUST_ROOT_CERT_INVALID' });
    });
  });
});
