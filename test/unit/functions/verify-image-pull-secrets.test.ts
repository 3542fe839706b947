// A deployed verify-image receives the workload's pull-secret credentials in the policy-form
// request from the webhook proxy: they reach the verifiers for that request as a lookup
// matched to the image's registry, and nothing of them is in the answer.
import { describe, expect, it } from 'vitest';
import { createVerifyImageHandler } from '../../../functions/verify-image/handler.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { RegistryCredentials } from '../../../shared/registry/credential-keyring.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement } from '../../../shared/trust/verifier.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const POLICIES = decodePolicyDocuments([
  {
    source: 'policies.yaml',
    text: 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: all}\nspec:\n  repositories:\n    - name: "reg.example.com/*"\n      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}\n',
  },
]);

describe('verify-image with registryCredentials', () => {
  it('hands the verifier a lookup of the credentials for this request, and answers without them', async () => {
    const received: (RegistryCredentials | undefined)[] = [];
    const notary: ImageVerifier<NotaryRequirement> = {
      kind: 'notary',
      verify: (_image, _requirement, _now, _signal, credentials) => {
        received.push(credentials);
        return Promise.resolve({ digest: DIGEST, signers: ['targets'] });
      },
    };
    const handle = createVerifyImageHandler({ notary, clock: { now: () => new Date('2026-11-27T00:00:00Z') }, logger: silentLogger, policies: () => Promise.resolve(POLICIES) });
    const response = await handle({
      image: 'reg.example.com/team/app:v1',
      namespace: 'team',
      registryCredentials: [{ registry: 'reg.example.com', source: 'Secret team/regcred', username: 'robot', password: 'pw-4c1d' }],
    });
    expect(response).toMatchObject({ statusCode: 200, body: { allowed: true } });
    expect(JSON.stringify(response)).not.toContain('pw-4c1d');
    const lookup = received[0];
    expect(lookup?.forRepository('reg.example.com', 'team/app').map((match) => match.credential)).toEqual([{ username: 'robot', password: 'pw-4c1d' }]);
    expect(lookup?.forRepository('other.example.com', 'team/app')).toEqual([]);

    await handle({ image: 'reg.example.com/team/app:v1', namespace: 'team' });
    expect(received[1]).toBeUndefined();
  });
});
