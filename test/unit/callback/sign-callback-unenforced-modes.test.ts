// sign-callback under a policy in audit mode: verify-image answers allowed (the failure is
// only reported in wouldDeny) and, for a reference by digest, its digest is the reference's
// own; neither makes an unsigned image recorded as signed.
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { decodeCallbackRequest } from '../../../shared/callback/callback-request.js';
import { handleSignCallback, readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { noopMetrics, silentLogger } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';

const clock = fixedClock(new Date('2026-11-27T08:00:00Z'));
const UNSIGNED = `sha256:${'ef'.repeat(32)}`;
const HOST = '127.0.0.1:5000';

const policySet = decodePolicyDocuments([
  {
    source: 'p.yaml',
    text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: notary-audit, annotations: {trustgate.dev/mode: audit}}
spec:
  repositories:
    - name: "${HOST}/*"
      policy: {trust: {enabled: true}}
`,
  },
]);

function deps(): SignCallbackDeps {
  return {
    verify: {
      notary: { kind: 'notary', verify: () => Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, 'unsigned')) },
      clock,
      logger: silentLogger,
      policies: () => Promise.resolve(policySet),
    },
    store: createMemoryStore({ clock }),
    clock,
    logger: silentLogger,
    metrics: noopMetrics,
    registryHost: HOST,
    namespace: 'default',
  };
}

describe('sign-callback under an audit-mode policy', () => {
  it('records an unsigned image pushed by digest as unsigned', async () => {
    const d = deps();
    const request = decodeCallbackRequest({ events: [{ id: 'e1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: UNSIGNED, repository: 'lab/app' } }] });
    await handleSignCallback(d, request);
    expect(await readSignStatus(d.store, `${HOST}/lab/app`, UNSIGNED)).toMatchObject({ status: 'unsigned' });
  });

  it('does not record an unsigned image signed when a forged .sig tag for it is pushed', async () => {
    const d = deps();
    const request = decodeCallbackRequest({
      events: [{ id: 'e2', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'01'.repeat(32)}`, repository: 'lab/app', tag: `${UNSIGNED.replace(':', '-')}.sig` } }],
    });
    const result = await handleSignCallback(d, request);
    expect(result.outcomes[0]?.outcome).toBe('unsigned');
    expect(await readSignStatus(d.store, `${HOST}/lab/app`, UNSIGNED)).toMatchObject({ status: 'unsigned' });
  });
});
