// sign-callback and cosign v3 bundles: a manifest pushed by digest whose subject (read from the
// registry) is an image is the signing of that image, as a push at its `.sig` tag is; the
// referrers tag `sha256-<hex>` is decoded the same way. The image's record is refreshed.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { handleSignCallback, readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { cosignKeySecretYaml } from '../../support/key-secrets.js';
import { CALLBACK_REGISTRY_HOST as HOST, ociManifestPush, signCallbackDeps } from '../../support/sign-callback-deps.js';

const IMAGE = `sha256:${'ab'.repeat(32)}`;
const ARTIFACT = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();

// The policies: cosign key signatures for everything on HOST.
const POLICIES = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign}
spec:
  repositories:
    - name: "${HOST}/*"
      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}
---
${cosignKeySecretYaml('release-key', 'default', KEY)}
`;

function depsWith(subjects: Readonly<Record<string, string>>, asked: string[]): SignCallbackDeps {
  // A cosign verifier that finds the image signed at IMAGE (and only there).
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: (image) => {
      asked.push(`${image.repository}@${image.digest ?? image.tag ?? ''}`);
      return image.digest === IMAGE ? Promise.resolve({ digest: IMAGE, signers: ['cosign:key/release-key'] }) : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
    },
  };
  return signCallbackDeps({ policies: POLICIES, cosign, referrerSubject: (repository, digest) => Promise.resolve(subjects[`${repository}@${digest}`]) });
}

const pushByDigest = (digest: string, tag?: string) => ociManifestPush(`e-${digest}-${tag ?? ''}`, digest, tag);

describe('sign-callback with cosign v3 bundles', () => {
  it('treats a pushed referrer whose subject is an image as the signing of that image', async () => {
    const asked: string[] = [];
    const deps = depsWith({ [`lab/app@${ARTIFACT}`]: IMAGE }, asked);
    const result = await handleSignCallback(deps, pushByDigest(ARTIFACT));
    expect(result.outcomes).toEqual([{ id: `e-${ARTIFACT}-`, outcome: 'signed' }]);
    expect(asked).toEqual([`lab/app@${IMAGE}`]);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed', digest: IMAGE, tag: null });
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, ARTIFACT)).toBeUndefined();
  });

  it('treats a manifest pushed by digest without a subject as an image push', async () => {
    const asked: string[] = [];
    const deps = depsWith({}, asked);
    await handleSignCallback(deps, pushByDigest(ARTIFACT));
    expect(asked).toEqual([`lab/app@${ARTIFACT}`]);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, ARTIFACT)).toMatchObject({ status: 'unsigned' });
  });

  it('decodes a push at the referrers tag as the signing of the image it names', async () => {
    const asked: string[] = [];
    const deps = depsWith({}, asked);
    const result = await handleSignCallback(deps, pushByDigest(ARTIFACT, IMAGE.replace(':', '-')));
    expect(result.outcomes[0]?.outcome).toBe('signed');
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed' });
  });
});
