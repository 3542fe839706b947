// sign-callback under a policy in audit mode: verify-image answers allowed (the failure is
// only reported in wouldDeny) and, for a reference by digest, its digest is the reference's
// own; neither makes an unsigned image recorded as signed.
import { describe, expect, it } from 'vitest';
import { handleSignCallback, readSignStatus } from '../../../shared/callback/sign-callback.js';
import { CALLBACK_REGISTRY_HOST as HOST, ociManifestPush, signCallbackDeps } from '../../support/sign-callback-deps.js';

const UNSIGNED = `sha256:${'ef'.repeat(32)}`;

// Notary trust for everything on HOST, in audit mode.
const POLICIES = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: notary-audit, annotations: {trustgate.dev/mode: audit}}
spec:
  repositories:
    - name: "${HOST}/*"
      policy: {trust: {enabled: true}}
`;

describe('sign-callback under an audit-mode policy', () => {
  it('records an unsigned image pushed by digest as unsigned', async () => {
    const d = signCallbackDeps({ policies: POLICIES });
    await handleSignCallback(d, ociManifestPush('e1', UNSIGNED));
    expect(await readSignStatus(d.store, `${HOST}/lab/app`, UNSIGNED)).toMatchObject({ status: 'unsigned' });
  });

  it('does not record an unsigned image signed when a forged .sig tag for it is pushed', async () => {
    const d = signCallbackDeps({ policies: POLICIES });
    const result = await handleSignCallback(d, ociManifestPush('e2', `sha256:${'01'.repeat(32)}`, `${UNSIGNED.replace(':', '-')}.sig`));
    expect(result.outcomes[0]?.outcome).toBe('unsigned');
    expect(await readSignStatus(d.store, `${HOST}/lab/app`, UNSIGNED)).toMatchObject({ status: 'unsigned' });
  });
});
