// Where the carry-over key is trusted for an image: every policy that would admit the image
// on a signature by the key, in every namespace, read as admission reads it.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { parseImageReference } from '../../../shared/image/reference.js';
import { carryOver, MAX_KEY_TRUST_CHECKS } from '../../../shared/migrate/carry-over.js';
import { ANY_OTHER_NAMESPACE, findKeyTrust, keyIdentityOf } from '../../../shared/migrate/key-trust.js';
import type { RegistryWriter } from '../../../shared/migrate/registry-writer.js';
import type { SigningKey } from '../../../shared/migrate/signing-key.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import type { NotaryRequirement } from '../../../shared/trust/verifier.js';
import { spellP256 } from '../../support/ec-point-spellings.js';
import { cosignKeySecretYaml } from '../../support/key-secrets.js';
import { fixedClock } from '../../support/clocks.js';

const carryOverPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const otherPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const KEY = keyIdentityOf(carryOverPem);
const IMAGE = parseImageReference('reg.example.com/app/api:v1');
const NAME = 'reg.example.com/app/api:v1';

function policies(text: string): PolicySet {
  return decodePolicyDocuments([{ source: 'p.yaml', text }]);
}

function imagePolicy(namespace: string, pattern: string, body: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: images, namespace: ${namespace}}
spec:
  repositories:
    - name: "${pattern}"
      policy:
${body}
`;
}

const NOTARY_AND_KEY = `        trust: {enabled: true, trustServer: "https://notary.example.com"}
        sigstore: {authorities: [{key: {secretName: carry}}]}
        verification: {mode: any}`;

// The key material re-wrapped: another line length, the same key.
function rewrapped(pem: string): string {
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');
  return `-----BEGIN PUBLIC KEY-----\n${(body.match(/.{1,40}/g) ?? []).join('\n')}\n-----END PUBLIC KEY-----\n`;
}

describe('finding the policies that trust the carry-over key', () => {
  it('recognises the key by its material, under any Secret name and PEM wrapping', () => {
    const set = policies(
      [
        imagePolicy('prod', 'reg.example.com/*', NOTARY_AND_KEY.replace('carry', 'anything-else')),
        cosignKeySecretYaml('anything-else', 'prod', rewrapped(carryOverPem)),
        imagePolicy('qa', 'reg.example.com/*', NOTARY_AND_KEY),
        cosignKeySecretYaml('carry', 'qa', otherPem),
      ].join('\n---\n'),
    );

    const scope = findKeyTrust(set, IMAGE, NAME, KEY, 'dev');

    expect(scope.trusting.map((trust) => trust.namespace)).toEqual(['prod']);
    expect(scope.trusting[0]?.notary).toHaveLength(1);
  });

  it('reads a ClusterImagePolicy in every namespace holding Secrets, and in the others through one stand-in', () => {
    const set = policies(
      [
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cluster}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy:
        sigstore: {authorities: [{key: {secretName: carry}}]}`,
        cosignKeySecretYaml('carry', 'batch', carryOverPem),
        cosignKeySecretYaml('carry', 'web', otherPem),
      ].join('\n---\n'),
    );

    const scope = findKeyTrust(set, IMAGE, NAME, KEY, 'dev');

    expect(scope.trusting.map((trust) => [trust.namespace, trust.origin?.kind, trust.origin?.name, trust.notary.length])).toEqual([['batch', 'ClusterImagePolicy', 'cluster', 0]]);
    expect(ANY_OTHER_NAMESPACE).not.toMatch(/^[a-z0-9-]+$/);
  });

  it('counts every entry whose pattern meets the repository, not only the one the written spelling meets, to be checked on the digest', () => {
    const set = policies(
      [
        imagePolicy('prod', 'reg.example.com/*', NOTARY_AND_KEY),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: app, namespace: prod}
spec:
  repositories:
    - name: "reg.example.com/app/*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}`,
        cosignKeySecretYaml('carry', 'prod', carryOverPem),
      ].join('\n---\n'),
    );

    expect(findKeyTrust(set, IMAGE, NAME, KEY, 'prod').trusting.map((trust) => [trust.origin?.pattern, trust.spelling])).toEqual([['reg.example.com/*', 'digest']]);
    expect(findKeyTrust(set, parseImageReference('reg.example.com/web/ui:v1'), 'reg.example.com/web/ui:v1', KEY, 'prod').trusting.map((trust) => trust.spelling)).toEqual(['written']);
  });

  it('finds an entry for another tag or for the digest-pinned repository trusting the key, which the written tag does not meet', () => {
    const set = policies(
      [
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: prod-images, namespace: prod}
spec:
  repositories:
    - name: "reg.example.com/app/api:v*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}
    - name: "reg.example.com/app/api:debug"
      policy: {sigstore: {authorities: [{key: {secretName: carry}}]}}
    - name: "reg.example.com/app/api@sha256:${'a'.repeat(64)}"
      policy: {sigstore: {authorities: [{key: {secretName: carry}}]}}
    - name: "reg.example.com/web/*"
      policy: {sigstore: {authorities: [{key: {secretName: carry}}]}}`,
        cosignKeySecretYaml('carry', 'prod', carryOverPem),
      ].join('\n---\n'),
    );
    const patterns = (digest?: string): unknown[] => findKeyTrust(set, IMAGE, NAME, KEY, 'prod', digest).trusting.map((trust) => [trust.origin?.pattern, trust.spelling, trust.notary.length]);

    expect(patterns()).toEqual([['reg.example.com/app/api:debug', 'digest', 0]]);
    expect(patterns(`sha256:${'b'.repeat(64)}`)).toEqual([['reg.example.com/app/api:debug', 'digest', 0]]);
    expect(patterns(`sha256:${'a'.repeat(64)}`)).toEqual([
      ['reg.example.com/app/api:debug', 'digest', 0],
      [`reg.example.com/app/api@sha256:${'a'.repeat(64)}`, 'digest', 0],
    ]);
  });

  it('recognises the key by its numbers, whatever spelling of its point the PEM holds', () => {
    const key = createPublicKey(carryOverPem);

    expect(keyIdentityOf(spellP256(key, 'compressed'))).toBe(KEY);
    expect(keyIdentityOf(spellP256(key, 'hybrid'))).toBe(KEY);
    expect(keyIdentityOf(otherPem)).not.toBe(KEY);
  });

  it('reports a policy whose key Secret was not held as unknown', () => {
    const set: PolicySet = { ...policies(imagePolicy('prod', 'reg.example.com/*', NOTARY_AND_KEY)), unheldSecrets: [{ namespace: 'prod', name: 'carry' }] };

    const scope = findKeyTrust(set, IMAGE, NAME, KEY, 'dev');

    expect(scope.unknown.map((error) => error.code)).toEqual([ErrorCode.POLICY_SECRET_OVER_LIMIT]);
  });
});

describe('migrate sign where many policies trust the key', () => {
  it('refuses the image past the bound on Notary checks, without asking the trust server', async () => {
    const documents: string[] = [];
    for (let index = 0; index <= MAX_KEY_TRUST_CHECKS; index += 1) {
      const namespace = `team-${index}`;
      documents.push(
        imagePolicy(namespace, 'reg.example.com/*', NOTARY_AND_KEY.replace('trust: {enabled: true, trustServer: "https://notary.example.com"}', 'trust: {enabled: true, trustServer: "https://notary.example.com", signerSecrets: [{name: signer}]}')),
        `apiVersion: v1
kind: Secret
metadata: {name: signer, namespace: ${namespace}}
stringData:
  name: ci
  publicKey: "-----BEGIN PUBLIC KEY----- ${index}"`,
        cosignKeySecretYaml('carry', namespace, carryOverPem),
      );
    }
    documents.push(imagePolicy('dev', 'reg.example.com/*', '        trust: {enabled: true, trustServer: "https://notary.example.com"}'));
    const asked: NotaryRequirement[] = [];
    const result = await carryOver(
      {
        notary: {
          kind: 'notary',
          verify: (_image, requirement) => {
            asked.push(requirement);
            return Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'asked'));
          },
        },
        registry: {} as RegistryWriter,
        clock: fixedClock(new Date('2026-12-01T00:00:00Z')),
        policies: policies(documents.join('\n---\n')),
        key: { publicKeyPem: carryOverPem } as SigningKey,
        format: 'classic',
        dryRun: true,
      },
      { image: NAME, namespace: 'dev' },
    );

    expect(result).toMatchObject({ outcome: 'refused', codes: [ErrorCode.CARRY_OVER_WIDENS_TRUST] });
    expect(asked).toEqual([]);
  });
});
