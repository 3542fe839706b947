import { ECDH, constants, createPublicKey, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { decodeRoot, decodeSnapshot, decodeTargets, decodeTimestamp } from '../../../../shared/trust/notary/decode.js';
import { computeKeyId, decodePublicKey, publicKeyFromPem } from '../../../../shared/trust/notary/keys.js';
import type { AnyMetadata, Envelope, PublicKey, RoleKeys } from '../../../../shared/trust/notary/model.js';
import { isSignedBySpki, verifyThreshold } from '../../../../shared/trust/notary/signatures.js';
import { buildRepository, generateKey, generateRootCertKey, keyJson, signMetadata, type TestKey } from '../../../support/notary-builder.js';
import { errorCodeOf } from '../../../support/trustgate-errors.js';
import { fixtureJson, readFixture, toBytes } from './notary-fixtures.js';

const sampleRoot = decodeRoot(readFixture('root.json')).signed;
const sampleTargets = decodeTargets(readFixture('targets.json'));

function keyMap(...keys: TestKey[]): Map<string, PublicKey> {
  return new Map(keys.map((key) => [key.id, decodePublicKey(key.type, key.publicBase64)]));
}

// A Targets document signed as given, decoded, for verifying against chosen keys.
function signedTargets(signers: TestKey[], extraSignatures: { keyid: string; method: string; sig: string }[] = []): Envelope<AnyMetadata> {
  const body = { _type: 'Targets', delegations: { keys: {}, roles: [] }, expires: '2030-01-01T00:00:00Z', targets: {}, version: 1 };
  return decodeTargets(signMetadata(body, signers, { extraSignatures }));
}

// The signature a key makes over a document's canonical bytes, base64, with any method label.
function signatureOver(envelope: Envelope<AnyMetadata>, key: TestKey, method: string): { keyid: string; method: string; sig: string } {
  return { keyid: key.id, method, sig: Buffer.from(key.sign(envelope.canonical)).toString('base64') };
}

// The same private key presented as a plain 'ecdsa' key (DER SPKI), under its own key ID.
function asPlainEcdsa(certKey: TestKey): TestKey {
  const publicBase64 = Buffer.from(publicKeyFromPem(certKey.publicKeyPem).spki).toString('base64');
  return { ...certKey, type: 'ecdsa', publicBase64, id: computeKeyId('ecdsa', publicBase64) };
}

describe('verifyThreshold', () => {
  describe('when given the six real roles', () => {
    it('verifies root with the root keys', () => {
      for (const name of ['root.json', '2.root.json']) {
        const root = decodeRoot(readFixture(name));
        expect(verifyThreshold(root, root.signed.keys, root.signed.roles.root, 'root')).toEqual(sampleRoot.roles.root.keyIds);
      }
    });

    it('verifies timestamp, snapshot and targets with the keys root lists for them', () => {
      const timestamp = decodeTimestamp(readFixture('timestamp.json'));
      const snapshot = decodeSnapshot(readFixture('snapshot.json'));
      expect(verifyThreshold(timestamp, sampleRoot.keys, sampleRoot.roles.timestamp, 'timestamp')).toEqual(sampleRoot.roles.timestamp.keyIds);
      expect(verifyThreshold(snapshot, sampleRoot.keys, sampleRoot.roles.snapshot, 'snapshot')).toEqual(sampleRoot.roles.snapshot.keyIds);
      expect(verifyThreshold(sampleTargets, sampleRoot.keys, sampleRoot.roles.targets, 'targets')).toEqual(sampleRoot.roles.targets.keyIds);
    });

    it('verifies targets/releases (ecdsa-x509 key) and targets/alice (ecdsa key) with the delegation keys', () => {
      for (const role of sampleTargets.signed.delegations.roles) {
        const envelope = decodeTargets(readFixture(`${role.name}.json`));
        expect(verifyThreshold(envelope, sampleTargets.signed.delegations.keys, role, role.name)).toEqual(role.keyIds);
      }
    });
  });

  describe('when the signed content was changed after signing', () => {
    it('rejects with TRUST_SIGNATURE_INVALID', () => {
      const json = fixtureJson('timestamp.json');
      json.signed.version = 6;
      const tampered = decodeTimestamp(toBytes(json));
      expect(errorCodeOf(() => verifyThreshold(tampered, sampleRoot.keys, sampleRoot.roles.timestamp, 'timestamp'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe('when the signature is by a key the role does not list', () => {
    it('rejects with TRUST_THRESHOLD_NOT_MET for a key root lists for another role', () => {
      const timestamp = decodeTimestamp(readFixture('timestamp.json'));
      expect(errorCodeOf(() => verifyThreshold(timestamp, sampleRoot.keys, sampleRoot.roles.snapshot, 'snapshot'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });

    it('rejects with TRUST_THRESHOLD_NOT_MET for a key root does not know', () => {
      const stranger = generateKey('ecdsa');
      const envelope = signedTargets([stranger]);
      expect(errorCodeOf(() => verifyThreshold(envelope, sampleRoot.keys, sampleRoot.roles.targets, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });

    it('rejects with TRUST_THRESHOLD_NOT_MET for a listed key ID absent from the key map', () => {
      const key = generateKey('ed25519');
      const envelope = signedTargets([key]);
      expect(errorCodeOf(() => verifyThreshold(envelope, new Map(), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });
  });

  describe('when there are no signatures', () => {
    it('rejects with TRUST_THRESHOLD_NOT_MET', () => {
      const key = generateKey('ed25519');
      expect(errorCodeOf(() => verifyThreshold(signedTargets([]), keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });
  });

  describe('when the same key signs twice in a threshold-2 role', () => {
    it('rejects with TRUST_THRESHOLD_NOT_MET', () => {
      const key = generateKey('ecdsa');
      const other = generateKey('ecdsa');
      const envelope = signedTargets([key, key]);
      expect(envelope.signatures).toHaveLength(2);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key, other), { keyIds: [key.id, other.id], threshold: 2 }, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });

    it('rejects with TRUST_THRESHOLD_NOT_MET when the role lists the key ID twice', () => {
      const key = generateKey('ed25519');
      const envelope = signedTargets([key, key]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id, key.id], threshold: 2 }, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });
  });

  describe('when one P-256 key is listed in two spellings (uncompressed and compressed point) in a threshold-2 role', () => {
    // decodePublicKey refuses the compressed spelling; the threshold rule must not rely on it.
    it('counts it once and rejects with TRUST_THRESHOLD_NOT_MET', () => {
      const key = generateKey('ecdsa');
      const plain = decodePublicKey(key.type, key.publicBase64);
      const spki = Buffer.from(key.publicBase64, 'base64');
      const compressed = Buffer.concat([
        Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
        ECDH.convertKey(spki.subarray(spki.length - 65), 'prime256v1', undefined, undefined, 'compressed') as Buffer,
      ]);
      const twinKey = createPublicKey({ key: compressed, format: 'der', type: 'spki' });
      const twinBase64 = compressed.toString('base64');
      const twin: PublicKey = { id: computeKeyId('ecdsa', twinBase64), type: 'ecdsa', publicBase64: twinBase64, key: twinKey, spki: new Uint8Array(twinKey.export({ type: 'spki', format: 'der' })) };
      const envelope = signedTargets([key, { ...key, id: twin.id }]);
      const keys = new Map([[plain.id, plain], [twin.id, twin]]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keys, { keyIds: [plain.id, twin.id], threshold: 2 }, 'targets'))).toBe(ErrorCode.TRUST_THRESHOLD_NOT_MET);
    });
  });

  describe('when one public key is listed under two key IDs (ecdsa and ecdsa-x509) in a threshold-2 role', () => {
    it('counts it once and rejects with TRUST_THRESHOLD_NOT_MET', () => {
      const certKey = generateRootCertKey('example.com/app');
      const plainKey = asPlainEcdsa(certKey);
      expect(plainKey.id).not.toBe(certKey.id);
      const repo = buildRepository('example.com/app', { keys: { targets: [plainKey, certKey] }, thresholds: { targets: 2 } });
      const root = decodeRoot(repo.root).signed;
      const targets = decodeTargets(repo.targets);
      expect(targets.signatures).toHaveLength(2);
      expect(errorCodeOf(() => verifyThreshold(targets, root.keys, root.roles.targets, 'targets'))).toBe(ErrorCode.TRUST_THRESHOLD_NOT_MET);
    });
  });

  describe('when two distinct keys sign a threshold-2 role', () => {
    it('returns both key IDs', () => {
      const repo = buildRepository('example.com/app', { keys: { targets: [generateKey('ecdsa'), generateKey('ed25519')] }, thresholds: { targets: 2 } });
      const root = decodeRoot(repo.root).signed;
      expect(verifyThreshold(decodeTargets(repo.targets), root.keys, root.roles.targets, 'targets')).toEqual(root.roles.targets.keyIds);
    });
  });

  describe('when one of two signatures is invalid and the threshold is 2', () => {
    it('rejects with TRUST_SIGNATURE_INVALID', () => {
      const good = generateKey('ecdsa');
      const bad = generateKey('ecdsa');
      const base = signedTargets([good]);
      const forged = { keyid: bad.id, method: 'ecdsa', sig: Buffer.from(bad.sign(toBytes('something else'))).toString('base64') };
      const envelope = signedTargets([good], [forged]);
      expect(base.signatures).toHaveLength(1);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(good, bad), { keyIds: [good.id, bad.id], threshold: 2 }, 'targets'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe('when the signature method does not fit the key type', () => {
    it.each([
      ['an ecdsa key signs with method eddsa', 'ecdsa' as const, 'eddsa'],
      ['an ed25519 key signs with method ecdsa', 'ed25519' as const, 'ecdsa'],
      ['an rsa key signs with method ecdsa', 'rsa' as const, 'ecdsa'],
      ['an ecdsa key signs with method rsapss', 'ecdsa' as const, 'rsapss'],
      ['a key signs with an unknown method', 'ed25519' as const, 'hmac-sha256'],
    ])('rejects with TRUST_SIGNATURE_INVALID when %s', (_name, type, method) => {
      const key = generateKey(type);
      const unsigned = signedTargets([]);
      const envelope = signedTargets([], [signatureOver(unsigned, key, method)]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe('when a valid RSA PKCS#1 v1.5 signature is labelled ecdsa', () => {
    it('rejects with TRUST_SIGNATURE_INVALID (the method picks the algorithm only for its own key types)', () => {
      const key = generateKey('rsa');
      const unsigned = signedTargets([]);
      const sig = sign('sha256', unsigned.canonical, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
      const envelope = signedTargets([], [{ keyid: key.id, method: 'ecdsa', sig }]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe('when an ECDSA signature is DER-encoded instead of raw r||s', () => {
    it('rejects with TRUST_SIGNATURE_INVALID, as Notary does', () => {
      const key = generateKey('ecdsa');
      const unsigned = signedTargets([]);
      const der = sign('sha256', unsigned.canonical, key.privateKey).toString('base64');
      const envelope = signedTargets([], [{ keyid: key.id, method: 'ecdsa', sig: der }]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe('when signature bytes are malformed', () => {
    it.each(['ed25519', 'ecdsa', 'rsa'] as const)('rejects a short %s signature with TRUST_SIGNATURE_INVALID without a crypto error', (type) => {
      const key = generateKey(type);
      const envelope = signedTargets([], [{ keyid: key.id, method: key.method, sig: 'AAEC' }]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_SIGNATURE_INVALID,
      );
    });
  });

  describe.each(['ed25519', 'ecdsa', 'rsa'] as const)('when a %s key signs', (type) => {
    it('verifies', () => {
      const key = generateKey(type);
      expect(verifyThreshold(signedTargets([key]), keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets')).toEqual([key.id]);
    });
  });

  describe('when an rsa key signs with rsapkcs1v15', () => {
    it('verifies', () => {
      const key = generateKey('rsa');
      const unsigned = signedTargets([]);
      const sig = sign('sha256', unsigned.canonical, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
      const envelope = signedTargets([], [{ keyid: key.id, method: 'rsapkcs1v15', sig }]);
      expect(verifyThreshold(envelope, keyMap(key), { keyIds: [key.id], threshold: 1 }, 'targets')).toEqual([key.id]);
    });
  });

  describe('when an rsa-x509 key signs', () => {
    it('verifies', () => {
      const key = generateRootCertKey('example.com/app', { algorithm: 'rsa' });
      expect(verifyThreshold(signedTargets([key]), keyMap(key), { keyIds: [key.id], threshold: 1 }, 'root')).toEqual([key.id]);
    });
  });

  describe('when the role threshold is below 1', () => {
    it('rejects with TRUST_METADATA_INVALID', () => {
      const key = generateKey('ed25519');
      const role: RoleKeys = { keyIds: [key.id], threshold: 0 };
      expect(errorCodeOf(() => verifyThreshold(signedTargets([key]), keyMap(key), role, 'targets'))).toBe(ErrorCode.TRUST_METADATA_INVALID);
    });
  });

  describe('when the key map holds a key under a foreign ID', () => {
    it('does not count its signature', () => {
      const key = generateKey('ed25519');
      const impostor = generateKey('ed25519');
      const keys = new Map([[key.id, decodePublicKey(impostor.type, impostor.publicBase64)]]);
      const envelope = signedTargets([], [{ ...signatureOver(signedTargets([]), impostor, 'eddsa'), keyid: key.id }]);
      expect(errorCodeOf(() => verifyThreshold(envelope, keys, { keyIds: [key.id], threshold: 1 }, 'targets'))).toBe(
        ErrorCode.TRUST_THRESHOLD_NOT_MET,
      );
    });
  });
});

describe('isSignedBySpki', () => {
  const releasesRole = sampleTargets.signed.delegations.roles.find((r) => r.name === 'targets/releases');
  const releasesKey = sampleTargets.signed.delegations.keys.get(releasesRole?.keyIds[0] ?? '');
  const releases = decodeTargets(readFixture('targets/releases.json'));
  const alice = decodeTargets(readFixture('targets/alice.json'));

  describe('when the document is signed by the key with that SPKI', () => {
    it('is true for the real targets/releases and its certificate key', () => {
      expect(releasesKey?.type).toBe('ecdsa-x509');
      expect(isSignedBySpki(releases, sampleTargets.signed.delegations.keys, releasesKey?.spki ?? new Uint8Array())).toBe(true);
    });

    it('is true when the SPKI comes from a PEM certificate of that key', () => {
      const pem = releasesKey?.certificate?.toString() ?? '';
      expect(isSignedBySpki(releases, sampleTargets.signed.delegations.keys, publicKeyFromPem(pem).spki)).toBe(true);
    });

    it('is true for a signer pinned by its PEM public key', () => {
      const signer = generateKey('ecdsa');
      expect(isSignedBySpki(signedTargets([signer]), keyMap(signer), publicKeyFromPem(signer.publicKeyPem).spki)).toBe(true);
    });
  });

  describe('when the document is signed by another key', () => {
    it('is false', () => {
      expect(isSignedBySpki(alice, sampleTargets.signed.delegations.keys, releasesKey?.spki ?? new Uint8Array())).toBe(false);
    });
  });

  describe('when the signature by that key does not verify', () => {
    it('is false', () => {
      const json = fixtureJson('targets/releases.json');
      json.signed.version = 2;
      const tampered = decodeTargets(toBytes(json));
      expect(isSignedBySpki(tampered, sampleTargets.signed.delegations.keys, releasesKey?.spki ?? new Uint8Array())).toBe(false);
    });
  });

  describe('when the signing key is not in the key map', () => {
    it('is false', () => {
      const signer = generateKey('ed25519');
      expect(isSignedBySpki(signedTargets([signer]), new Map(), publicKeyFromPem(signer.publicKeyPem).spki)).toBe(false);
    });
  });
});

describe('notary-builder', () => {
  describe('when it builds a repository', () => {
    it('produces keys whose IDs and JSON the decoders accept', () => {
      const key = generateKey('ed25519');
      expect(decodePublicKey(keyJson(key).keytype, keyJson(key).keyval.public).id).toBe(key.id);
    });

    it('signs every role so that it verifies against the keys root lists', () => {
      const repo = buildRepository('example.com/app', {
        targets: { v1: toBytes('manifest') },
        delegations: [
          { name: 'targets/releases', targets: { v1: { sha256Hex: 'ab'.repeat(32), length: 10 } } },
          { name: 'targets/releases/team', parent: 'targets/releases', paths: ['v'] },
        ],
      });
      const root = decodeRoot(repo.root);
      const { roles, keys } = root.signed;
      expect(verifyThreshold(root, keys, roles.root, 'root')).toHaveLength(1);
      expect(verifyThreshold(decodeTimestamp(repo.timestamp), keys, roles.timestamp, 'timestamp')).toHaveLength(1);
      expect(verifyThreshold(decodeSnapshot(repo.snapshot), keys, roles.snapshot, 'snapshot')).toHaveLength(1);
      const targets = decodeTargets(repo.targets);
      expect(verifyThreshold(targets, keys, roles.targets, 'targets')).toHaveLength(1);
      const releasesRole = targets.signed.delegations.roles[0];
      expect(releasesRole?.name).toBe('targets/releases');
      const releases = decodeTargets(repo.delegations.get('targets/releases') ?? new Uint8Array());
      expect(verifyThreshold(releases, targets.signed.delegations.keys, releasesRole ?? { keyIds: [], threshold: 1 }, 'targets/releases')).toHaveLength(1);
      const teamRole = releases.signed.delegations.roles[0];
      expect(teamRole).toMatchObject({ name: 'targets/releases/team', paths: ['v'] });
      const team = decodeTargets(repo.metadata.get('targets/releases/team') ?? new Uint8Array());
      expect(verifyThreshold(team, releases.signed.delegations.keys, teamRole ?? { keyIds: [], threshold: 1 }, 'targets/releases/team')).toHaveLength(1);
      expect([...decodeSnapshot(repo.snapshot).signed.meta.keys()].sort()).toEqual(['root', 'targets', 'targets/releases', 'targets/releases/team']);
    });
  });
});
