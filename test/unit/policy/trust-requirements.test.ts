import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stringContaining } from '../../support/matchers.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { Policy, PolicySecret } from '../../../shared/policy/model.js';
import { toRequirements, toSecretLookup, type Requirement } from '../../../shared/policy/trust-requirements.js';

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
      expect(requirements.map((requirement) => requirement.kind)).toEqual(['notary', 'unsupported']);
    });
  });

  describe('when only simple signing is configured', () => {
    it.each<[string, unknown, Requirement['kind']]>([
      ['signedBy', { requirements: [{ type: 'signedBy', keySecret: 'k' }] }, 'unsupported'],
      ['reject', { requirements: [{ type: 'insecureAcceptAnything' }, { type: 'reject' }] }, 'unsupported'],
      ['no requirements', { storeURL: 'https://sigs.example' }, 'unsupported'],
      ['only insecureAcceptAnything', { requirements: [{ type: 'insecureAcceptAnything' }] }, 'allow'],
    ])('with %s it yields %s, never a silent allow of a signature check', (_label, simple, kind) => {
      const requirements = toRequirements(policyOf({ simple }), SECRETS, 'team-a');
      expect(requirements).toHaveLength(1);
      expect(requirements[0]?.kind).toBe(kind);
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
