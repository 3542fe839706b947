// migrate sign carries an image over only when every requirement of its policies could be
// formed and checked: a governing policy whose signer Secret is missing denies the image at
// admission, so an enforced baseline's laxer Notary check passing is not enough.
import { describe, expect, it } from 'vitest';
import { carryOver } from '../../../shared/migrate/carry-over.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { NotaryRequirement } from '../../../shared/trust/verifier.js';
import type { RegistryWriter } from '../../../shared/migrate/registry-writer.js';
import type { SigningKey } from '../../../shared/migrate/signing-key.js';
import { fixedClock } from '../../support/clocks.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

const policies = decodePolicyDocuments([
  {
    source: 'p.yaml',
    text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: baseline, annotations: {trustgate.dev/enforce: "true"}}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team, namespace: team}
spec:
  repositories:
    - name: "reg.example.com/team/*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com", signerSecrets: [{name: release}]}}
`,
  },
]);

describe('migrate sign under a policy whose signer Secret is missing', () => {
  it('refuses to carry the image over, without asking the trust server', async () => {
    const asked: NotaryRequirement[] = [];
    const registry = {
      getManifest: () => Promise.reject(new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, 'reached the write path: verification passed')),
    } as unknown as RegistryWriter;
    const result = await carryOver(
      {
        notary: {
          kind: 'notary',
          verify: (_image, requirement) => {
            asked.push(requirement);
            return Promise.resolve({ digest: DIGEST, signers: ['targets/ci-bot'] });
          },
        },
        registry,
        clock: fixedClock(new Date('2026-12-01T00:00:00Z')),
        policies,
        key: {} as SigningKey,
        format: 'classic',
        dryRun: true,
      },
      { image: 'reg.example.com/team/app:1', namespace: 'team' },
    );
    expect(result.outcome).toBe('refused');
    expect(result.codes).toContain(ErrorCode.POLICY_SECRET_MISSING);
    expect(asked).toEqual([]);
  });
});
