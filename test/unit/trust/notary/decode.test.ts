import { canonicalize } from '@tufjs/canonical-json';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { MAX_SIGNATURES, decodeRoot, decodeSnapshot, decodeTargets, decodeTimestamp } from '../../../../shared/trust/notary/decode.js';
import { objectAt, removeAt, setAt, type JsonObject as Doc } from '../../../support/json-paths.js';
import { thrownError } from '../../../support/trustgate-errors.js';
import type { TargetsMetadata } from '../../../../shared/trust/notary/model.js';
import { fixtureJson, readFixture, toBytes } from './notary-fixtures.js';

function problemPaths(decode: () => unknown): string[] {
  const error = thrownError(decode);
  expect(error.code).toBe(ErrorCode.TRUST_METADATA_INVALID);
  return error.problems.map((p) => p.path);
}

// A sample with its signed part changed by `change` (signatures left as they were).
function variant(name: string, change: (signed: Doc, whole: Doc) => void): Uint8Array {
  const json: Doc = fixtureJson(name);
  change(objectAt(json, ['signed']), json);
  return toBytes(json);
}

describe('decodeRoot', () => {
  describe('when given the real root served by notary-server', () => {
    it('decodes version, expiry, keys and roles', () => {
      const { signed } = decodeRoot(readFixture('root.json'));
      expect(signed.type).toBe('Root');
      expect(signed.version).toBe(2);
      expect(signed.expires.toISOString()).toBe('2036-11-24T07:32:27.158Z');
      expect(signed.consistentSnapshot).toBe(false);
      expect([...signed.keys.values()].map((k) => k.type).sort()).toEqual(['ecdsa', 'ecdsa-x509', 'ed25519', 'ed25519']);
      expect(signed.roles.root).toEqual({ keyIds: ['0a9936a39f5aa59aa5c9c7d964cc1d9fb926f4f6dfdb89fd1c54eef5b424c34b'], threshold: 1 });
      expect(signed.roles.timestamp.keyIds).toEqual(['fb281cb56e2e0e705cb0d92c8d380dd40cdd3cd419a41e369a76ebaafbc3221f']);
    });

    it('keeps the served bytes and the canonical bytes of signed', () => {
      const raw = readFixture('2.root.json');
      const envelope = decodeRoot(raw);
      expect(envelope.raw).toBe(raw);
      const canonical = new TextDecoder().decode(envelope.canonical);
      expect(canonical).toBe(canonicalize(fixtureJson('2.root.json').signed));
      // notary-server serves signed in canonical form already.
      expect(new TextDecoder().decode(raw)).toContain(canonical);
      expect(envelope.signatures).toHaveLength(1);
      expect(envelope.signatures[0]?.method).toBe('ecdsa');
      expect(envelope.signatures[0]?.sig).toHaveLength(64);
    });
  });

  describe('when the served bytes hold the signed part in canonical form', () => {
    it('shares the canonical bytes with the served ones instead of copying them', () => {
      const raw = readFixture('2.root.json');
      const envelope = decodeRoot(raw);
      expect(envelope.canonical.buffer).toBe(raw.buffer);
      expect(new TextDecoder().decode(envelope.canonical)).toBe(canonicalize(fixtureJson('2.root.json').signed));
    });
  });

  describe('when the served signed part is not in canonical form', () => {
    it('keeps the canonical bytes of signed apart', () => {
      const json = fixtureJson('2.root.json');
      const raw = new TextEncoder().encode(JSON.stringify(json, null, 2));
      const envelope = decodeRoot(raw);
      expect(envelope.canonical.buffer).not.toBe(raw.buffer);
      expect(new TextDecoder().decode(envelope.canonical)).toBe(canonicalize(json.signed));
    });
  });

  describe('when several fields are wrong at once', () => {
    it('reports every bad path in one TRUST_METADATA_INVALID', () => {
      const bytes = variant('root.json', (signed) => {
        signed.version = 'two';
        delete signed.expires;
        setAt(signed, ['roles', 'snapshot', 'threshold'], 0);
        setAt(signed, ['roles', 'targets', 'keyids'], 'befb');
        removeAt(signed, ['roles', 'timestamp']);
        signed.consistent_snapshot = 'no';
      });
      expect(problemPaths(() => decodeRoot(bytes))).toEqual(
        expect.arrayContaining([
          'signed.version',
          'signed.expires',
          'signed.roles.snapshot.threshold',
          'signed.roles.targets.keyids',
          'signed.roles.timestamp',
          'signed.consistent_snapshot',
        ]),
      );
    });
  });

  describe.each([
    ['signed', (_s: Doc, whole: Doc) => delete whole.signed],
    ['signatures', (_s: Doc, whole: Doc) => (whole.signatures = {})],
    ['signatures[0].sig', (_s: Doc, whole: Doc) => setAt(whole, ['signatures', 0, 'sig'], 'not base64!')],
    ['signatures[0].keyid', (_s: Doc, whole: Doc) => setAt(whole, ['signatures', 0, 'keyid'], 7)],
    ['signatures[0].method', (_s: Doc, whole: Doc) => removeAt(whole, ['signatures', 0, 'method'])],
    ['signed.keys', (s: Doc) => (s.keys = [])],
    ['signed.roles', (s: Doc) => delete s.roles],
    ['signed.roles.root.keyids[0]', (s: Doc) => setAt(s, ['roles', 'root', 'keyids'], [1])],
    ['signed.version', (s: Doc) => (s.version = 0)],
    ['signed.version', (s: Doc) => (s.version = 1.5)],
    ['signed.expires', (s: Doc) => (s.expires = 'next year')],
  ])('when %s is missing or of the wrong type', (path, change) => {
    it('reports that path', () => {
      expect(problemPaths(() => decodeRoot(variant('root.json', change)))).toContain(path);
    });
  });

  describe('when a key is listed under an ID that is not its own', () => {
    it('rejects with TRUST_METADATA_INVALID at that key', () => {
      const targetsKeyId = 'befb96584911b3333620e85bf92820132144579a47ffa8ac5145b371212b1abd';
      const rootKeyId = '0a9936a39f5aa59aa5c9c7d964cc1d9fb926f4f6dfdb89fd1c54eef5b424c34b';
      const bytes = variant('root.json', (signed) => {
        // An attacker's key presented under the ID of the trusted root key.
        setAt(signed, ['keys', rootKeyId], objectAt(signed, ['keys', targetsKeyId]));
      });
      expect(problemPaths(() => decodeRoot(bytes))).toContain(`signed.keys["${rootKeyId}"]`);
    });
  });

  describe('when a key is malformed', () => {
    const keyId = 'b4386e87b917f74cbbf05d67f8ad712790ff77d394f2eb9ee00dfd1d86e77593';
    it.each([
      ['an unknown key type', (key: Doc) => (key.keytype = 'dsa'), 'keyval.public'],
      ['a public key that is not a string', (key: Doc) => setAt(key, ['keyval', 'public'], 5), 'keyval.public'],
      ['a non-null private key', (key: Doc) => setAt(key, ['keyval', 'private'], 'c2VjcmV0'), 'keyval.private'],
      ['no keyval', (key: Doc) => delete key.keyval, 'keyval'],
    ])('reports %s', (_name, change, suffix) => {
      const bytes = variant('root.json', (signed) => change(objectAt(signed, ['keys', keyId])));
      expect(problemPaths(() => decodeRoot(bytes))).toContain(`signed.keys["${keyId}"].${suffix}`);
    });
  });

  describe('when the document is not a root', () => {
    it('rejects a timestamp with TRUST_METADATA_INVALID at signed._type', () => {
      expect(problemPaths(() => decodeRoot(readFixture('timestamp.json')))).toContain('signed._type');
    });

    it('rejects a lower-case _type', () => {
      const bytes = variant('root.json', (signed) => (signed._type = 'root'));
      expect(problemPaths(() => decodeRoot(bytes))).toEqual(['signed._type']);
    });
  });

  describe('when signed holds a fractional number', () => {
    it('rejects with TRUST_METADATA_INVALID (canonical JSON cannot encode it)', () => {
      const bytes = variant('root.json', (signed) => (signed.custom = 0.5));
      expect(problemPaths(() => decodeRoot(bytes))).toEqual(['signed']);
    });
  });
});

describe('decoding any document', () => {
  describe('when it carries more signatures than the bound', () => {
    it('rejects with TRUST_METADATA_TOO_LARGE', () => {
      const json: Doc = fixtureJson('timestamp.json');
      const [first] = json['signatures'] as unknown[];
      json['signatures'] = Array.from({ length: MAX_SIGNATURES + 1 }, () => first);
      expect(thrownError(() => decodeTimestamp(toBytes(json))).code).toBe(ErrorCode.TRUST_METADATA_TOO_LARGE);
    });
  });

  describe('when it carries as many signatures as the bound', () => {
    it('decodes them all', () => {
      const json: Doc = fixtureJson('timestamp.json');
      const [first] = json['signatures'] as unknown[];
      json['signatures'] = Array.from({ length: MAX_SIGNATURES }, () => first);
      expect(decodeTimestamp(toBytes(json)).signatures).toHaveLength(MAX_SIGNATURES);
    });
  });
});

describe('decodeTimestamp', () => {
  describe('when given the real timestamp', () => {
    it('decodes the snapshot file meta', () => {
      const { signed } = decodeTimestamp(readFixture('timestamp.json'));
      expect(signed.version).toBe(5);
      expect(signed.snapshot.length).toBe(1083);
      expect(Buffer.from(signed.snapshot.hashes.get('sha256') ?? []).toString('hex')).toBe(
        '88e31e7b8ada16667a13bbd08062d5f0c7fad1aebb3fd12ef5ed816ef49bba9f',
      );
      expect(signed.snapshot.hashes.get('sha512')).toHaveLength(64);
    });
  });

  describe('when the snapshot meta is missing or malformed', () => {
    it.each([
      ['signed.meta.snapshot', (s: Doc) => removeAt(s, ['meta', 'snapshot'])],
      ['signed.meta.snapshot.length', (s: Doc) => setAt(s, ['meta', 'snapshot', 'length'], -1)],
      ['signed.meta.snapshot.length', (s: Doc) => setAt(s, ['meta', 'snapshot', 'length'], '1083')],
      ['signed.meta.snapshot.hashes', (s: Doc) => removeAt(s, ['meta', 'snapshot', 'hashes'])],
      ['signed.meta.snapshot.hashes.sha256', (s: Doc) => setAt(s, ['meta', 'snapshot', 'hashes', 'sha256'], 'zz')],
      ['signed.meta', (s: Doc) => (s.meta = [])],
      // null is an empty map, as Go reads it, and the snapshot entry is then missing.
      ['signed.meta.snapshot', (s: Doc) => (s.meta = null)],
    ])('reports %s', (path, change) => {
      expect(problemPaths(() => decodeTimestamp(variant('timestamp.json', change)))).toContain(path);
    });
  });

  describe('when expires is not a valid RFC 3339 date-time', () => {
    it.each(['2026-02-30T00:00:00Z', '2026-11-27 08:00:00Z', '2026-11-27T24:00:00Z', '2026-11-27T08:00:00', '', '2026-11-27T08:00:00+25:00'])(
      'rejects %j',
      (expires) => {
        expect(problemPaths(() => decodeTimestamp(variant('timestamp.json', (s) => (s.expires = expires))))).toEqual(['signed.expires']);
      },
    );
  });

  describe('when expires carries an offset or nanoseconds', () => {
    it('converts it to the same instant in UTC', () => {
      const withOffset = decodeTimestamp(variant('timestamp.json', (s) => (s.expires = '2026-12-11T09:32:27.554820414+02:00')));
      expect(withOffset.signed.expires.toISOString()).toBe('2026-12-11T07:32:27.554Z');
    });
  });

  describe('when the document is a snapshot', () => {
    it('rejects with TRUST_METADATA_INVALID at signed._type', () => {
      expect(problemPaths(() => decodeTimestamp(readFixture('snapshot.json')))).toContain('signed._type');
    });
  });
});

describe('decodeSnapshot', () => {
  describe('when given the real snapshot', () => {
    it('decodes the meta of root, targets and both delegations', () => {
      const { signed } = decodeSnapshot(readFixture('snapshot.json'));
      expect([...signed.meta.keys()].sort()).toEqual(['root', 'targets', 'targets/alice', 'targets/releases']);
      expect(signed.meta.get('root')?.length).toBe(2232);
    });
  });

  describe('when an entry is malformed', () => {
    it('reports the entry path', () => {
      const bytes = variant('snapshot.json', (s) => setAt(s, ['meta', 'targets/alice'], 'x'));
      expect(problemPaths(() => decodeSnapshot(bytes))).toEqual(['signed.meta["targets/alice"]']);
    });
  });
});

describe('decodeTargets', () => {
  describe('when given the real top-level targets', () => {
    it('decodes targets and delegations', () => {
      const { signed } = decodeTargets(readFixture('targets.json'));
      expect(signed.type).toBe('Targets');
      expect(signed.targets.get('v1')?.length).toBe(23);
      expect(signed.delegations.roles).toEqual([
        { name: 'targets/releases', keyIds: ['aa3aeddf34296e220d6f5a6ff8c92159ae6f5bae85d41f694af08a6881cfe025'], threshold: 1, paths: [''] },
        { name: 'targets/alice', keyIds: ['2c945ef6e99168475c7463bbb1e794887aed0833d60200f3dbe84189b4da058d'], threshold: 1, paths: [''] },
      ]);
      expect(signed.delegations.keys.get('aa3aeddf34296e220d6f5a6ff8c92159ae6f5bae85d41f694af08a6881cfe025')?.type).toBe('ecdsa-x509');
    });
  });

  describe('when given the real delegations', () => {
    it('decodes targets/releases, including a target with only a sha256 hash', () => {
      const { signed } = decodeTargets(readFixture('targets/releases.json'));
      expect([...signed.targets.keys()]).toEqual(['v1', 'v2']);
      expect([...(signed.targets.get('v2')?.hashes.keys() ?? [])]).toEqual(['sha256']);
      expect(signed.delegations.roles).toEqual([]);
    });

    it('decodes targets/alice', () => {
      const { signed } = decodeTargets(readFixture('targets/alice.json'));
      expect([...signed.targets.keys()].sort()).toEqual(['alice-only', 'v1']);
    });
  });

  describe('when a delegation role is malformed', () => {
    it.each([
      ['a name outside targets/', (r: Doc) => (r.name = 'releases'), 'name'],
      ['a name with ..', (r: Doc) => (r.name = 'targets/../root'), 'name'],
      ['a name with an empty segment', (r: Doc) => (r.name = 'targets//x'), 'name'],
      ['a name with a trailing slash', (r: Doc) => (r.name = 'targets/x/'), 'name'],
      ['a bare targets name', (r: Doc) => (r.name = 'targets'), 'name'],
      ['an upper-case name', (r: Doc) => (r.name = 'targets/Releases'), 'name'],
      ['a threshold of 0', (r: Doc) => (r.threshold = 0), 'threshold'],
      ['paths that are not strings', (r: Doc) => (r.paths = [1]), 'paths[0]'],
      ['paths that are not an array', (r: Doc) => (r.paths = ''), 'paths'],
      ['no keyids', (r: Doc) => delete r.keyids, 'keyids'],
    ])('reports %s', (_name, change, suffix) => {
      const bytes = variant('targets.json', (s) => change(objectAt(s, ['delegations', 'roles', 0])));
      expect(problemPaths(() => decodeTargets(bytes))).toContain(`signed.delegations.roles[0].${suffix}`);
    });

    it('reports a delegation listed twice', () => {
      const bytes = variant('targets.json', (s) => setAt(s, ['delegations', 'roles', 1, 'name'], 'targets/releases'));
      expect(problemPaths(() => decodeTargets(bytes))).toEqual(['signed.delegations.roles[1].name']);
    });
  });

  describe('when a delegation uses path_hash_prefixes instead of paths', () => {
    it('decodes it with no paths, so it matches no target', () => {
      const bytes = variant('targets.json', (s) => {
        removeAt(s, ['delegations', 'roles', 0, 'paths']);
        setAt(s, ['delegations', 'roles', 0, 'path_hash_prefixes'], ['ab']);
      });
      expect(decodeTargets(bytes).signed.delegations.roles[0]?.paths).toEqual([]);
    });
  });

  describe('when a target entry is malformed', () => {
    it('reports its path', () => {
      const bytes = variant('targets.json', (s) => setAt(s, ['targets', 'v1', 'length'], null));
      expect(problemPaths(() => decodeTargets(bytes))).toEqual(['signed.targets["v1"].length']);
    });
  });

  describe('when the document is a root', () => {
    it('rejects with TRUST_METADATA_INVALID at signed._type', () => {
      expect(problemPaths(() => decodeTargets(readFixture('root.json')))).toContain('signed._type');
    });
  });
});

describe('decoding null where Go writes an empty slice or map', () => {
  const releases = ['delegations', 'roles', 0];
  describe.each([
    ['delegations.roles', (s: Doc) => setAt(s, ['delegations', 'roles'], null), (t: TargetsMetadata) => expect(t.delegations.roles).toEqual([])],
    ['delegations.keys', (s: Doc) => setAt(s, ['delegations', 'keys'], null), (t: TargetsMetadata) => expect(t.delegations.keys.size).toBe(0)],
    [
      'delegations',
      (s: Doc) => (s.delegations = null),
      (t: TargetsMetadata) => expect({ roles: t.delegations.roles, keys: t.delegations.keys.size }).toEqual({ roles: [], keys: 0 }),
    ],
    ['a role\'s keyids', (s: Doc) => setAt(s, [...releases, 'keyids'], null), (t: TargetsMetadata) => expect(t.delegations.roles[0]?.keyIds).toEqual([])],
    ['a role\'s paths', (s: Doc) => setAt(s, [...releases, 'paths'], null), (t: TargetsMetadata) => expect(t.delegations.roles[0]?.paths).toEqual([])],
    [
      'a role\'s path_hash_prefixes',
      (s: Doc) => {
        removeAt(s, [...releases, 'paths']);
        setAt(s, [...releases, 'path_hash_prefixes'], null);
      },
      (t: TargetsMetadata) => expect(t.delegations.roles[0]?.paths).toEqual([]),
    ],
    ['targets', (s: Doc) => (s.targets = null), (t: TargetsMetadata) => expect(t.targets.size).toBe(0)],
    ['a target\'s hashes', (s: Doc) => setAt(s, ['targets', 'v1', 'hashes'], null), (t: TargetsMetadata) => expect(t.targets.get('v1')?.hashes.size).toBe(0)],
  ])('when targets holds null for %s', (_field, change, check) => {
    it('decodes it as empty, and what was signed as it was served (null included)', () => {
      const json = fixtureJson('targets.json');
      change(json.signed);
      const envelope = decodeTargets(toBytes(json));
      check(envelope.signed);
      expect(new TextDecoder().decode(envelope.canonical)).toBe(canonicalize(json.signed));
      expect(new TextDecoder().decode(envelope.canonical)).toContain(':null');
    });
  });

  describe('when a root role holds null keyids', () => {
    it('decodes the role with no keys', () => {
      const { signed } = decodeRoot(variant('root.json', (s) => setAt(s, ['roles', 'snapshot', 'keyids'], null)));
      expect(signed.roles.snapshot).toEqual({ keyIds: [], threshold: 1 });
    });
  });

  describe('when a root holds null keys', () => {
    it('decodes it with no keys', () => {
      expect(decodeRoot(variant('root.json', (s) => (s.keys = null))).signed.keys.size).toBe(0);
    });
  });

  describe('when a root holds null roles', () => {
    it('reports every top-level role as missing', () => {
      expect(problemPaths(() => decodeRoot(variant('root.json', (s) => (s.roles = null))))).toEqual(
        expect.arrayContaining(['signed.roles.root', 'signed.roles.targets', 'signed.roles.snapshot', 'signed.roles.timestamp']),
      );
    });
  });

  describe('when a snapshot holds null meta', () => {
    it('decodes it with no entries', () => {
      expect(decodeSnapshot(variant('snapshot.json', (s) => (s.meta = null))).signed.meta.size).toBe(0);
    });
  });

  describe('when a document holds null signatures', () => {
    it('decodes it with none', () => {
      const json = fixtureJson('timestamp.json');
      (json as Doc).signatures = null;
      expect(decodeTimestamp(toBytes(json)).signatures).toEqual([]);
    });
  });

  describe('when null stands for an element of a list', () => {
    it.each([
      ['a delegation role', (s: Doc) => setAt(s, ['delegations', 'roles', 0], null), 'signed.delegations.roles[0]'],
      ['a key ID', (s: Doc) => setAt(s, [...releases, 'keyids', 0], null), 'signed.delegations.roles[0].keyids[0]'],
      ['a path', (s: Doc) => setAt(s, [...releases, 'paths', 0], null), 'signed.delegations.roles[0].paths[0]'],
      ['a signature', (_s: Doc, whole: Doc) => setAt(whole, ['signatures', 0], null), 'signatures[0]'],
    ])('still reports %s', (_name, change, path) => {
      expect(problemPaths(() => decodeTargets(variant('targets.json', change)))).toContain(path);
    });
  });
});

describe('decoding hostile bytes', () => {
  describe('when tags and roles are named like properties of Object.prototype', () => {
    const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

    it('decodes each as a target of its own, next to the others', () => {
      const text = new TextDecoder().decode(readFixture('targets/releases.json'));
      const entry = '{"length":1,"hashes":{"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}';
      const extra = NAMES.map((name) => `"${name}":${entry},`).join('');
      const { signed } = decodeTargets(toBytes(text.replace('"targets":{', `"targets":{${extra}`)));
      for (const name of NAMES) expect(signed.targets.get(name)?.length).toBe(1);
      expect(signed.targets.size).toBe(NAMES.length + decodeTargets(readFixture('targets/releases.json')).signed.targets.size);
      expect(({} as Record<string, unknown>)['length']).toBeUndefined();
    });

    it('finds no snapshot entry the document does not hold', () => {
      const { signed } = decodeSnapshot(readFixture('snapshot.json'));
      for (const name of NAMES) expect(signed.meta.get(name)).toBeUndefined();
    });
  });

  describe('when the bytes are not JSON or not UTF-8', () => {
    it.each([toBytes('{"signed":'), Uint8Array.from([0xff, 0xfe, 0x7b, 0x7d]), toBytes('[]'), toBytes('null')])(
      'rejects with TRUST_METADATA_INVALID',
      (bytes) => {
        expect(thrownError(() => decodeSnapshot(bytes)).code).toBe(ErrorCode.TRUST_METADATA_INVALID);
      },
    );
  });

  describe('for any JSON value', () => {
    const decoders = [decodeRoot, decodeTimestamp, decodeSnapshot, decodeTargets];
    const outcome = (bytes: Uint8Array): string => {
      try {
        decoders.forEach((decode) => decode(bytes));
        return 'decoded';
      } catch (error) {
        return error instanceof TrustgateError ? error.code : 'bug';
      }
    };

    it('either decodes or throws TRUST_METADATA_INVALID', () => {
      fc.assert(fc.property(fc.jsonValue(), (value) => outcome(toBytes(value)) === ErrorCode.TRUST_METADATA_INVALID));
    });

    it('either decodes or throws TRUST_METADATA_INVALID when one field of a real document is replaced', () => {
      const sample = fixtureJson('targets.json');
      const fields = ['_type', 'version', 'expires', 'targets', 'delegations'];
      fc.assert(
        fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
          const bytes = toBytes({ ...sample, signed: { ...sample.signed, [field]: value } });
          try {
            decodeTargets(bytes);
            return true;
          } catch (error) {
            return error instanceof TrustgateError && error.code === ErrorCode.TRUST_METADATA_INVALID;
          }
        }),
      );
    });
  });
});
