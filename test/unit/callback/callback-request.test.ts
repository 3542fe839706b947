import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCallbackRequest } from '../../../shared/callback/callback-request.js';
import { ErrorCode } from '../../../shared/errors.js';

// The body a real docker-registry 2.8 posted for one captured event.
function sample(name: string): unknown {
  const captured = JSON.parse(readFileSync(new URL(`../../fixtures/registry/${name}`, import.meta.url), 'utf8')) as { body: unknown };
  return captured.body;
}

describe('decodeCallbackRequest', () => {
  describe('when the registry reports a manifest push', () => {
    it('yields the repository, digest and tag, and ignores the client-supplied host', () => {
      expect(decodeCallbackRequest(sample('notify-manifest-push-schema2.json'))).toStrictEqual({
        kind: 'events',
        events: [
          {
            kind: 'manifest-push',
            id: '89afb83d-f866-49f7-bd7e-89dc295ee48b',
            repository: 'lab/hello',
            digest: 'sha256:12877d22c181ad26668e6450be0523771538d8506537974e05324ab4e322d2bf',
            tag: 'v1',
          },
        ],
      });
    });
  });

  describe('when the registry reports a push at a cosign signature tag', () => {
    const signed = 'ab'.repeat(32);
    const event = (tag: string) => ({
      events: [{ id: 'e1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'cd'.repeat(32)}`, repository: 'lab/app', tag } }],
    });

    it('yields the signing of the image at the digest the tag names, not the event\'s digest', () => {
      expect(decodeCallbackRequest(event(`sha256-${signed}.sig`))).toStrictEqual({
        kind: 'events',
        events: [{ kind: 'signature-push', id: 'e1', repository: 'lab/app', signedDigest: `sha256:${signed}` }],
      });
    });

    it('treats tags that only resemble a signature tag as image pushes', () => {
      for (const tag of [`sha256-${signed}.att`, `sha256-${signed.slice(2)}.sig`, `sha256-${signed.toUpperCase()}.sig`, `sha512-${signed}.sig`]) {
        const request = decodeCallbackRequest(event(tag));
        expect(request.kind === 'events' ? request.events[0]?.kind : undefined, tag).toBe('manifest-push');
      }
    });
  });

  describe('when the registry reports pulls, blob pushes, mounts and deletes', () => {
    for (const name of ['notify-manifest-pull.json', 'notify-blob-push.json', 'notify-blob-mount.json', 'notify-manifest-delete.json', 'notify-tag-delete.json', 'notify-blob-head-pull.json']) {
      it(`ignores every event of ${name}`, () => {
        const request = decodeCallbackRequest(sample(name));
        expect(request.kind).toBe('events');
        if (request.kind === 'events') expect(request.events.every((event) => event.kind === 'ignored')).toBe(true);
      });
    }
  });

  describe('when an envelope has several bad fields', () => {
    it('rejects with REQUEST_INVALID naming every one', () => {
      const bad = { events: [{ id: '', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'md5:x', repository: '../x', tag: '-bad' } }] };
      try {
        decodeCallbackRequest(bad);
        expect.unreachable();
      } catch (error) {
        expect(error).toMatchObject({ code: ErrorCode.REQUEST_INVALID });
        expect((error as { problems: Array<{ path: string }> }).problems.map((p) => p.path).sort()).toStrictEqual(['events[0].id', 'events[0].target.digest', 'events[0].target.repository', 'events[0].target.tag']);
      }
    });

    it('reports target fields when the id is valid', () => {
      const bad = { events: [{ id: 'e1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'md5:x', repository: '../x', tag: '-bad' } }] };
      expect(() => decodeCallbackRequest(bad)).toThrow(
        expect.objectContaining({ problems: [expect.objectContaining({ path: 'events[0].target.repository' }), expect.objectContaining({ path: 'events[0].target.digest' }), expect.objectContaining({ path: 'events[0].target.tag' })] }),
      );
    });
  });

  describe('when changefeed records are pushed', () => {
    it('decodes notary-server records', () => {
      const record = { ID: '7', CreatedAt: '2026-11-27T09:15:49Z', GUN: 'reg:5000/a/b', Version: 2, SHA256: 'ab', Category: 'update' };
      expect(decodeCallbackRequest({ changefeed: { records: [record] } })).toStrictEqual({ kind: 'changefeed', records: [{ id: '7', gun: 'reg:5000/a/b', version: 2, category: 'update' }] });
    });

    it('takes notary-server\'s page with no changes (records null) as empty', () => {
      expect(decodeCallbackRequest({ changefeed: { count: 0, records: null } })).toStrictEqual({ kind: 'changefeed', records: [] });
    });

    it('rejects records that are neither a list nor null with REQUEST_INVALID', () => {
      for (const records of ['7', {}, 7, undefined]) {
        expect(() => decodeCallbackRequest({ changefeed: { records } })).toThrow(expect.objectContaining({ code: ErrorCode.REQUEST_INVALID }));
      }
    });
  });

  describe('when the body is a poll, or holds two kinds at once', () => {
    it('accepts {"poll": true}', () => {
      expect(decodeCallbackRequest({ poll: true })).toStrictEqual({ kind: 'poll' });
    });

    it('rejects two kinds with REQUEST_INVALID', () => {
      expect(() => decodeCallbackRequest({ poll: true, events: [] })).toThrow(expect.objectContaining({ code: ErrorCode.REQUEST_INVALID }));
    });
  });
});
