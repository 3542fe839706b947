import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stringContaining } from '../../support/matchers.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { Policy, PolicySecret } from '../../../shared/policy/model.js';
import { toRequirements, toSecretLookup } from '../../../shared/policy/trust-requirements.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

// The policy of the single repository entry of a ClusterImagePolicy, through the real decoder.
function policyOf(policy: unknown): Policy {
  const document = {
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'c' },
    spec: { repositories: [{ name: '*', policy }] },
  };
  const decoded = decodePolicyDocuments([{ source: 'p.json', text: JSON.stringify(document) }]).clusterPolicies[0]?.repositories[0]?.policy;
  if (decoded === undefined) throw new Error('policy did not decode');
  return decoded;
}

function secret(namespace: string, name: string, data: Record<string, string>): PolicySecret {
  const encoder = new TextEncoder();
  return { name, namespace, data: new Map(Object.entries(data).map(([key, value]) => [key, encoder.encode(value)])) };
}

const SECRETS = toSecretLookup([
  secret('team-a', 'alice', { name: 'alice\n', publicKey: `${PEM}\n` }),
  secret('team-a', 'bob', { name: 'releases', publicKey: PEM }),
  secret('team-a', 'no-key', { name: 'carol' }),
  secret('team-a', 'not-pem', { name: 'dave', publicKey: 'ssh-ed25519 AAAA' }),
  secret('team-b', 'eve', { name: 'eve', publicKey: PEM }),
  secret('team-a', 'k', { key: '-----BEGIN PGP PUBLIC KEY BLOCK-----' }),
  secret('gpg-keys', 'shared-k', { key: '-----BEGIN PGP PUBLIC KEY BLOCK-----' }),
  secret('team-a', 'store', { username: 'robot', password: 's3cret' }),
]);

function errorCodeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustgateError);
    return (error as TrustgateError).code;
  }
  return undefined;
}

describe('toRequirements', () => {
  describe('when the policy is empty or omitted', () => {
    it.each([[null], [{}], [{ mutateImage: false }], [{ trust: { enabled: false } }]])('allows %j', (raw) => {
      expect(toRequirements(policyOf(raw), SECRETS, 'team-a')).toEqual([{ kind: 'allow' }]);
    });
  });

  describe('when trust is enabled without signers', () => {
    it('requires Notary trust on the given server', () => {
      expect(toRequirements(policyOf({ trust: { enabled: true, trustServer: 'https://notary.example' } }), SECRETS, 'team-a')).toEqual([
        { kind: 'notary', server: 'https://notary.example', signers: [], rootKeyIds: [] },
      ]);
    });

    it('leaves the server to the registry default when none is given', () => {
      expect(toRequirements(policyOf({ trust: { enabled: true } }), SECRETS, 'team-a')).toEqual([{ kind: 'notary', signers: [], rootKeyIds: [] }]);
    });
  });

  describe('when signer secrets are listed', () => {
    const policy = policyOf({ trust: { enabled: true, signerSecrets: [{ name: 'alice' }, { name: 'bob' }, { name: 'alice' }] } });

    it('reads each signer from the workload namespace, trimmed, once', () => {
      expect(toRequirements(policy, SECRETS, 'team-a')).toEqual([
        {
          kind: 'notary',
          signers: [
            { name: 'alice', publicKeyPem: PEM.trim() },
            { name: 'releases', publicKeyPem: PEM.trim() },
          ],
          rootKeyIds: [],
        },
      ]);
    });

    it('fails with POLICY_SECRET_MISSING in a namespace without those secrets', () => {
      expect(errorCodeOf(() => toRequirements(policy, SECRETS, 'team-b'))).toBe(ErrorCode.POLICY_SECRET_MISSING);
    });
  });

  describe('when a signer secret was left out of what serve holds', () => {
    const policy = policyOf({ trust: { enabled: true, signerSecrets: [{ name: 'alice' }] } });
    const lookup = toSecretLookup([secret('team-a', 'alice', { name: 'alice', publicKey: PEM })], [{ namespace: 'team-b', name: 'alice' }, { name: 'everywhere' }]);

    it('fails with POLICY_SECRET_OVER_LIMIT in that namespace, not as missing', () => {
      expect(errorCodeOf(() => toRequirements(policy, lookup, 'team-b'))).toBe(ErrorCode.POLICY_SECRET_OVER_LIMIT);
      expect(errorCodeOf(() => toRequirements(policyOf({ trust: { enabled: true, signerSecrets: [{ name: 'everywhere' }] } }), lookup, 'team-c'))).toBe(ErrorCode.POLICY_SECRET_OVER_LIMIT);
    });

    it('still reads the held Secret of another namespace, and reports a Secret never named as missing', () => {
      expect(toRequirements(policy, lookup, 'team-a')).toHaveLength(1);
      expect(errorCodeOf(() => toRequirements(policy, lookup, 'team-c'))).toBe(ErrorCode.POLICY_SECRET_MISSING);
    });
  });

  describe('when a signer secret lacks its public key', () => {
    it('fails with POLICY_SECRET_MISSING', () => {
      const policy = policyOf({ trust: { enabled: true, signerSecrets: [{ name: 'no-key' }] } });
      expect(errorCodeOf(() => toRequirements(policy, SECRETS, 'team-a'))).toBe(ErrorCode.POLICY_SECRET_MISSING);
    });
  });

  describe('when a signer secret holds something other than PEM', () => {
    it('fails with POLICY_INVALID', () => {
      const policy = policyOf({ trust: { enabled: true, signerSecrets: [{ name: 'not-pem' }] } });
      expect(errorCodeOf(() => toRequirements(policy, SECRETS, 'team-a'))).toBe(ErrorCode.POLICY_INVALID);
    });
  });

  describe('when trust and simple signing are both configured (Portieris #515)', () => {
    it('returns both requirements instead of always denying', () => {
      const requirements = toRequirements(
        policyOf({ trust: { enabled: true }, simple: { requirements: [{ type: 'signedBy', keySecret: 'k' }] } }),
        SECRETS,
        'team-a',
      );
      expect(requirements.map((requirement) => requirement.kind)).toEqual(['notary', 'simple']);
    });
  });

  describe('when only simple signing is configured', () => {
    it('yields a simple requirement with the keyring from the Secret\'s "key" and the default identity rule', () => {
      const [requirement] = toRequirements(policyOf({ simple: { requirements: [{ type: 'signedBy', keySecret: 'k' }] } }), SECRETS, 'team-a');
      expect(requirement).toMatchObject({ kind: 'simple', rules: [{ type: 'signedBy', signedIdentity: { type: 'matchRepoDigestOrExact' } }] });
      const rule = requirement?.kind === 'simple' ? requirement.rules[0] : undefined;
      expect(new TextDecoder().decode(rule?.keyring?.bytes)).toBe('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    });

    it('reads the key Secret from keySecretNamespace when given', () => {
      const [requirement] = toRequirements(
        policyOf({ simple: { requirements: [{ type: 'signedBy', keySecret: 'shared-k', keySecretNamespace: 'gpg-keys' }] } }),
        SECRETS,
        'team-a',
      );
      expect(requirement?.kind).toBe('simple');
    });

    it('keeps reject and insecureAcceptAnything as rules for the verifier', () => {
      const [requirement] = toRequirements(policyOf({ simple: { requirements: [{ type: 'insecureAcceptAnything' }, { type: 'reject' }] } }), SECRETS, 'team-a');
      expect(requirement).toMatchObject({ kind: 'simple', rules: [{ type: 'insecureAcceptAnything' }, { type: 'reject' }] });
    });

    it('carries the store URL and the store Secret\'s credentials', () => {
      const [requirement] = toRequirements(
        policyOf({ simple: { storeURL: 'https://sigs.example/store', storeSecret: 'store', requirements: [{ type: 'signedBy', keySecret: 'k' }] } }),
        SECRETS,
        'team-a',
      );
      expect(requirement).toMatchObject({ kind: 'simple', storeURL: 'https://sigs.example/store', storeCredentials: { username: 'robot', password: 's3cret' } });
    });

    it.each<[string, unknown, string, string]>([
      ['no requirements', { storeURL: 'https://sigs.example' }, ErrorCode.POLICY_INVALID, 'simple.requirements'],
      ['signedBy without keySecret', { requirements: [{ type: 'signedBy' }] }, ErrorCode.POLICY_INVALID, 'simple.requirements[0].keySecret'],
      ['a key Secret that does not exist', { requirements: [{ type: 'signedBy', keySecret: 'ghost' }] }, ErrorCode.POLICY_SECRET_MISSING, 'simple.requirements[0].keySecret'],
      ['a key Secret without "key"', { requirements: [{ type: 'signedBy', keySecret: 'alice' }] }, ErrorCode.POLICY_SECRET_MISSING, '"key"'],
      [
        'matchExactReference without dockerReference',
        { requirements: [{ type: 'signedBy', keySecret: 'k', signedIdentity: { type: 'matchExactReference' } }] },
        ErrorCode.POLICY_INVALID,
        'simple.requirements[0].signedIdentity.dockerReference',
      ],
      [
        'remapIdentity with a prefix that is not normalised',
        { requirements: [{ type: 'insecureAcceptAnything' }, { type: 'signedBy', keySecret: 'k', signedIdentity: { type: 'remapIdentity', prefix: 'busybox', signedPrefix: 'quay.io' } }] },
        ErrorCode.POLICY_INVALID,
        'simple.requirements[1].signedIdentity.prefix',
      ],
      ['a store URL that is not http(s)', { storeURL: 'file:///etc', requirements: [{ type: 'signedBy', keySecret: 'k' }] }, ErrorCode.POLICY_INVALID, 'simple.storeURL'],
      [
        'store credentials over plain http off loopback',
        { storeURL: 'http://sigs.example', storeSecret: 'store', requirements: [{ type: 'signedBy', keySecret: 'k' }] },
        ErrorCode.POLICY_INVALID,
        'simple.storeURL',
      ],
      ['a store Secret that does not exist', { storeURL: 'https://sigs.example', storeSecret: 'ghost', requirements: [{ type: 'signedBy', keySecret: 'k' }] }, ErrorCode.POLICY_SECRET_MISSING, 'simple.storeSecret'],
    ])('refuses %s, naming the field', (_label, simple, code, field) => {
      let thrown: unknown;
      try {
        toRequirements(policyOf({ simple }), SECRETS, 'team-a');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TrustgateError);
      expect((thrown as TrustgateError).code).toBe(code);
      expect((thrown as TrustgateError).message).toContain(field);
      expect((thrown as TrustgateError).message).not.toContain('s3cret');
    });
  });

  describe('when the ICCRVA vulnerability check is enabled', () => {
    it('yields an unsupported requirement', () => {
      const requirements = toRequirements(policyOf({ vulnerability: { ICCRVA: { enabled: true, account: 'a' } } }), SECRETS, 'team-a');
      expect(requirements).toEqual([{ kind: 'unsupported', reason: stringContaining('ICCRVA') }]);
    });

    it('is ignored when disabled', () => {
      expect(toRequirements(policyOf({ vulnerability: { ICCRVA: { enabled: false } } }), SECRETS, 'team-a')).toEqual([{ kind: 'allow' }]);
    });
  });
});
