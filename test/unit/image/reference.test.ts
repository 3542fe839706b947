import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import {
  formatImageReference,
  isDigest,
  parseImageReference,
  repositoryName,
  toNotaryGun,
  toPinnedReference,
  type ImageReference,
} from '../../../shared/image/reference.js';
import { errorCodeOf } from '../../support/trustgate-errors.js';

const HEX = 'a'.repeat(32) + '0123456789abcdef0123456789abcdef';
const DIGEST = `sha256:${HEX}`;

// Expect a call to throw a TrustgateError carrying IMAGE_REF_INVALID.
function expectInvalid(run: () => unknown): void {
  expect(errorCodeOf(run)).toBe(ErrorCode.IMAGE_REF_INVALID);
}

describe('parseImageReference', () => {
  describe('when the input is a valid reference', () => {
    const cases: ReadonlyArray<[string, ImageReference]> = [
      ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
      ['nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' }],
      ['user/app', { registry: 'docker.io', repository: 'user/app', tag: 'latest' }],
      ['docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
      ['docker.io/library/nginx:stable', { registry: 'docker.io', repository: 'library/nginx', tag: 'stable' }],
      ['index.docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
      ['index.docker.io/user/app:v2', { registry: 'docker.io', repository: 'user/app', tag: 'v2' }],
      ['registry-1.docker.io/library/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
      ['Registry-1.Docker.io/nginx:1.27', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
      ['registry.hub.docker.com/user/app', { registry: 'docker.io', repository: 'user/app', tag: 'latest' }],
      ['registry.docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
      ['quay.io/coreos/etcd', { registry: 'quay.io', repository: 'coreos/etcd', tag: 'latest' }],
      ['127.0.0.1:5000/team/app:v1', { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v1' }],
      ['127.1:5000/team/app', { registry: '127.1:5000', repository: 'team/app', tag: 'latest' }],
      ['0X7F.0.0.1:5000/team/app', { registry: '0x7f.0.0.1:5000', repository: 'team/app', tag: 'latest' }],
      ['2130706433:5000/team/app', { registry: '2130706433:5000', repository: 'team/app', tag: 'latest' }],
      ['2130706433/team/app', { registry: 'docker.io', repository: '2130706433/team/app', tag: 'latest' }],
      ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
      ['localhost:5000/a/b/c', { registry: 'localhost:5000', repository: 'a/b/c', tag: 'latest' }],
      ['[::1]:5000/x', { registry: '[::1]:5000', repository: 'x', tag: 'latest' }],
      ['Registry.Example.COM/team/app', { registry: 'registry.example.com', repository: 'team/app', tag: 'latest' }],
      ['reg.example.com/a/b/c/d:V_1.0-rc', { registry: 'reg.example.com', repository: 'a/b/c/d', tag: 'V_1.0-rc' }],
      ['foo_bar/my__app-x.y', { registry: 'docker.io', repository: 'foo_bar/my__app-x.y', tag: 'latest' }],
      ['a---b/c', { registry: 'docker.io', repository: 'a---b/c', tag: 'latest' }],
      ['localhost:5000', { registry: 'docker.io', repository: 'library/localhost', tag: '5000' }],
      [`nginx@${DIGEST}`, { registry: 'docker.io', repository: 'library/nginx', digest: DIGEST }],
      [`reg:5000/a/b@${DIGEST}`, { registry: 'reg:5000', repository: 'a/b', digest: DIGEST }],
      [`reg.io/a:tag@${DIGEST}`, { registry: 'reg.io', repository: 'a', tag: 'tag', digest: DIGEST }],
      // Names a runtime does not read as an image ID (go-digest refuses them as digests).
      ['sha256:v1', { registry: 'docker.io', repository: 'library/sha256', tag: 'v1' }],
      [`sha256:${HEX.toUpperCase()}`, { registry: 'docker.io', repository: 'library/sha256', tag: HEX.toUpperCase() }],
      [`library/sha256:${HEX}`, { registry: 'docker.io', repository: 'library/sha256', tag: HEX }],
    ];
    for (const [input, expected] of cases) {
      it(`normalises ${input}`, () => {
        expect(parseImageReference(input)).toStrictEqual(expected);
      });
    }

    it('leaves the tag undefined for a digest-only reference', () => {
      expect(parseImageReference(`nginx@${DIGEST}`).tag).toBeUndefined();
    });

    it('accepts a name of exactly 255 characters', () => {
      const repository = `a/${'b'.repeat(255 - 'reg.io/a/'.length)}`;
      expect(parseImageReference(`reg.io/${repository}`).repository).toBe(repository);
    });
  });

  describe('when the input is malformed', () => {
    const cases: ReadonlyArray<[string, string]> = [
      ['empty', ''],
      ['upper-case repository', 'Nginx'],
      ['upper-case path under a registry', 'reg.io/Team/app'],
      ['upper-case first component without a dot', 'Team/app'],
      ['leading space', ' nginx'],
      ['trailing newline', 'nginx\n'],
      ['space inside', 'ng inx'],
      ['dot-dot component', 'reg.io/../etc'],
      ['double dot inside a component', 'a..b'],
      ['empty path component', 'reg.io/a//b'],
      ['leading slash', '/nginx'],
      ['trailing slash', 'nginx/'],
      ['separator at component start', 'reg.io/-app'],
      ['separator at component end', 'reg.io/app_'],
      ['triple underscore', 'a___b'],
      ['registry only', 'reg.io/'],
      ['bad port', 'localhost:abc/app'],
      ['empty port', 'localhost:/app'],
      ['registry label ending with a dash', 'reg-.io/app'],
      ['empty tag', 'nginx:'],
      ['tag starting with a dot', 'nginx:.x'],
      ['tag starting with a dash', 'nginx:-x'],
      ['tag longer than 128', `nginx:${'t'.repeat(129)}`],
      ['tag with a plus', 'nginx:1+2'],
      ['two tags', 'nginx:a:b'],
      ['empty digest', 'nginx@'],
      ['digest too short', `nginx@sha256:${HEX.slice(1)}`],
      ['digest too long', `nginx@sha256:${HEX}0`],
      ['digest with non-hex', `nginx@sha256:${HEX.slice(1)}g`],
      ['digest with upper-case hex', `nginx@sha256:${HEX.toUpperCase()}`],
      ['unknown digest algorithm', `nginx@sha512:${HEX}${HEX}`],
      ['digest without algorithm', `nginx@${HEX}`],
      ['two digests', `nginx@${DIGEST}@${DIGEST}`],
      ['only a tag', ':latest'],
      ['only a digest', `@${DIGEST}`],
      ['bare image ID', HEX],
      ['image ID written as a sha256 digest', `sha256:${HEX}`],
      ['image ID written as a sha384 digest', `sha384:${HEX}${HEX.slice(0, 32)}`],
      ['image ID written as a sha512 digest', `sha512:${HEX}${HEX}`],
      ['image ID written as a blake3 digest', `blake3:${HEX}`],
      ['image ID shortened to 63 hex', `sha256:${HEX.slice(1)}`],
      ['image ID shortened to 12 hex, as crictl prints it', `sha256:${HEX.slice(0, 12)}`],
      ['image ID shortened to one hex digit', 'sha512:0'],
      ['name over 255 characters', `reg.io/${'a'.repeat(249)}`],
      ['docker.io name over 255 after adding library/', 'a'.repeat(240)],
      ['non-ASCII', 'ngïnx'],
      ['a host with a letter that lower-cases to ASCII (Kelvin sign)', '\u212Aeg.example.com/prod/app:v1'],
      ['a non-ASCII host', 'r\u00e9g.example.com/app'],
      ['an IPv6 host written with a dotted IPv4 part', '[::ffff:127.0.0.1]:5000/app'],
      ['URL scheme', 'https://reg.io/app'],
      ['host with a trailing dot', 'reg.example.com./app'],
      ['host with an empty label', 'reg..example.com/app'],
      ['host label starting with a dash', '-reg.example.com/app'],
    ];
    for (const [label, input] of cases) {
      it(`rejects ${label} with IMAGE_REF_INVALID`, () => {
        expectInvalid(() => parseImageReference(input));
      });
    }

    it('names the input in the message on one line', () => {
      try {
        parseImageReference('bad\nRef');
        expect.fail('expected a rejection');
      } catch (error) {
        expect((error as Error).message).toContain('"bad\\nRef"');
        expect((error as Error).message).not.toContain('\n');
      }
    });
  });

  describe('when given arbitrary strings', () => {
    it('either returns or throws IMAGE_REF_INVALID', () => {
      const alphabet = fc.constantFrom(...'abcAZ09._-/:@[]+ \n'.split(''));
      const input = fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 60 }), fc.string({ unit: 'grapheme' }));
      fc.assert(
        fc.property(input, (text) => {
          try {
            parseImageReference(text);
          } catch (error) {
            return error instanceof TrustgateError && error.code === ErrorCode.IMAGE_REF_INVALID;
          }
          return true;
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('when given generated valid references', () => {
    it('round-trips through formatImageReference', () => {
      fc.assert(
        fc.property(validReference(), (text) => {
          const parsed = parseImageReference(text);
          expect(parseImageReference(formatImageReference(parsed))).toStrictEqual(parsed);
        }),
        { numRuns: 1000 },
      );
    });

    it('normalises idempotently', () => {
      fc.assert(
        fc.property(validReference(), (text) => {
          const once = formatImageReference(parseImageReference(text));
          expect(formatImageReference(parseImageReference(once))).toBe(once);
        }),
        { numRuns: 1000 },
      );
    });
  });
});

// Reference strings drawn from the distribution grammar, with and without registries,
// tags and digests.
function validReference(): fc.Arbitrary<string> {
  const alnum = fc.string({ unit: fc.constantFrom(...'abcz019'.split('')), minLength: 1, maxLength: 6 });
  const separator = fc.constantFrom('.', '_', '__', '-', '--');
  const pathComponent = fc
    .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
    .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
  const path = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
  const label = fc.string({ unit: fc.constantFrom(...'abXY09-'.split('')), minLength: 1, maxLength: 6 })
    .filter((text) => !text.startsWith('-') && !text.endsWith('-'));
  const port = fc.integer({ min: 1, max: 65535 }).map((n) => `:${n}`);
  const registry = fc.oneof(
    fc.constant(''),
    fc.constantFrom('docker.io/', 'index.docker.io/', 'localhost/', 'localhost:5000/', '[::1]:5000/'),
    fc.tuple(label, label, fc.option(port)).map(([a, b, p]) => `${a}.${b}${p ?? ''}/`),
    fc.tuple(label, port).map(([a, p]) => `${a}${p}/`),
  );
  const tag = fc
    .tuple(
      fc.constantFrom(...'aZ9_'.split('')),
      fc.string({ unit: fc.constantFrom(...'aZ9_.-'.split('')), maxLength: 10 }),
    )
    .map(([head, rest]) => `:${head}${rest}`);
  const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `@sha256:${hex}`);
  // Without a registry, a first component holding '.' would be read as a host.
  const hostless = (r: string, p: string): boolean => r === '' && p.includes('/') && (p.split('/')[0] ?? '').includes('.');
  return fc
    .tuple(registry, path, fc.option(tag), fc.option(digest))
    .filter(([r, p]) => !hostless(r, p))
    .map(([r, p, t, d]) => `${r}${p}${t ?? ''}${d ?? ''}`);
}

describe('formatImageReference', () => {
  describe('when the reference has a tag', () => {
    it('writes registry, repository and tag', () => {
      expect(formatImageReference(parseImageReference('nginx'))).toBe('docker.io/library/nginx:latest');
    });
  });

  describe('when the reference has only a digest', () => {
    it('writes the digest after @', () => {
      expect(formatImageReference(parseImageReference(`reg:5000/a/b@${DIGEST}`))).toBe(`reg:5000/a/b@${DIGEST}`);
    });
  });

  describe('when the reference has a tag and a digest', () => {
    it('keeps both', () => {
      expect(formatImageReference(parseImageReference(`reg/a:tag@${DIGEST}`))).toBe(
        `docker.io/reg/a:tag@${DIGEST}`,
      );
    });
  });
});

describe('repositoryName and toNotaryGun', () => {
  describe('when the image is on Docker Hub', () => {
    it('returns the fully qualified repository', () => {
      const ref = parseImageReference('alpine:3');
      expect(repositoryName(ref)).toBe('docker.io/library/alpine');
      expect(toNotaryGun(ref)).toBe('docker.io/library/alpine');
    });
  });

  describe("when the image names another of Docker Hub's hosts", () => {
    it.each(['registry-1.docker.io/library/alpine:3', 'index.docker.io/alpine', 'registry.hub.docker.com/library/alpine'])(
      'names %j by the Docker Hub GUN Docker Content Trust signs under',
      (image) => {
        expect(toNotaryGun(parseImageReference(image))).toBe('docker.io/library/alpine');
      },
    );
  });

  describe('when the registry has a port', () => {
    it('keeps host:port in the GUN', () => {
      expect(toNotaryGun(parseImageReference('127.0.0.1:5000/team/app:v1'))).toBe('127.0.0.1:5000/team/app');
    });

    it('keeps a numeric IPv4 spelling of the host as written, the name signers signed', () => {
      expect(toNotaryGun(parseImageReference('127.1:5000/team/app:v1'))).toBe('127.1:5000/team/app');
    });
  });
});

describe('toPinnedReference', () => {
  describe('when given a valid digest', () => {
    it('drops the tag and pins the digest', () => {
      const ref = parseImageReference('127.0.0.1:5000/team/app:v1');
      expect(toPinnedReference(ref, DIGEST)).toBe(`127.0.0.1:5000/team/app@${DIGEST}`);
    });

    it('replaces a digest already in the reference', () => {
      const other = `sha256:${'0'.repeat(64)}`;
      expect(toPinnedReference(parseImageReference(`nginx:1@${other}`), DIGEST)).toBe(`docker.io/library/nginx@${DIGEST}`);
    });
  });

  describe('when the digest is malformed', () => {
    it('rejects with IMAGE_REF_INVALID', () => {
      expectInvalid(() => toPinnedReference(parseImageReference('nginx'), `sha256:${HEX.toUpperCase()}`));
    });
  });
});

describe('isDigest', () => {
  describe('when the value is sha256 with 64 lower-case hex digits', () => {
    it('returns true', () => {
      expect(isDigest(DIGEST)).toBe(true);
    });
  });

  describe('when the value is anything else', () => {
    for (const value of ['', HEX, `sha256:${HEX.toUpperCase()}`, `sha256:${HEX}\n`, `sha512:${HEX}`, `sha256:${HEX.slice(2)}`]) {
      it(`returns false for ${JSON.stringify(value)}`, () => {
        expect(isDigest(value)).toBe(false);
      });
    }
  });
});

describe('parseImageReference memo', () => {
  describe('when the same string is parsed twice', () => {
    it('returns the same frozen reference', () => {
      const first = parseImageReference('registry.example.com/memo/app:v1');
      expect(parseImageReference('registry.example.com/memo/app:v1')).toBe(first);
      expect(Object.isFrozen(first)).toBe(true);
    });
  });

  describe('when an invalid string is parsed twice', () => {
    it('rejects with IMAGE_REF_INVALID both times', () => {
      expectInvalid(() => parseImageReference('registry.example.com/Memo/App'));
      expectInvalid(() => parseImageReference('registry.example.com/Memo/App'));
    });
  });

  describe('when strings spell the same image differently', () => {
    it('keeps them apart but parses both to equal references', () => {
      const short = parseImageReference('memo-nginx');
      const long = parseImageReference('docker.io/library/memo-nginx:latest');
      expect(short).toEqual(long);
      expect(formatImageReference(short)).toBe('docker.io/library/memo-nginx:latest');
    });
  });
});
