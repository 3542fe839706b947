// A signature push found unsigned is checked again at the end of its request (its tag may not
// be linked yet): when the request fails before that, its claim is given back with the rest,
// so the registry's redelivery checks it again instead of answering it `duplicate`.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const IMAGE = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';

describe('sign-callback late signature pushes', () => {
  it('gives back the claim of a signature push found unsigned when a later event of its request fails, so the redelivery records it signed', async () => {
    let linked = false;
    let registryUp = false;
    const cosign: ImageVerifier<CosignRequirement> = {
      kind: 'cosign',
      verify: (image) =>
        image.digest === IMAGE && linked ? Promise.resolve({ digest: IMAGE, signers: ['cosign:key/release-key'] }) : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none')),
    };
    const base = signCallbackDeps({
      policies: cosignKeyPolicies(KEY),
      cosign,
      // The registry fails reading the second event's manifest: that event throws.
      referrerSubject: () => (registryUp ? Promise.resolve(undefined) : Promise.reject(new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, 'blip'))),
    });
    let nowMs = Date.parse('2026-11-27T08:00:00Z');
    const deps: SignCallbackDeps = { ...base, clock: { now: () => new Date(nowMs) }, pause: () => Promise.resolve() };
    const handle = createSignCallbackHandler(deps, TOKEN);
    const body = {
      events: [
        { id: 'sig', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: OTHER, repository: 'lab/app', tag: `sha256-${IMAGE.slice(7)}.sig` } },
        { id: 'by-digest', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: OTHER, repository: 'lab/app' } },
      ],
    };
    const first = await handle({ body, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(first.statusCode).toBe(503);

    // By the redelivery, a minute later, the registry has linked the signature tag and answers again.
    nowMs += 60_000;
    linked = true;
    registryUp = true;
    const second = await handle({ body, headers: { authorization: `Bearer ${TOKEN}` } });

    expect(second.body).toEqual({ outcomes: [{ id: 'sig', outcome: 'signed' }, { id: 'by-digest', outcome: 'unsigned' }] });
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed' });
  });
});
