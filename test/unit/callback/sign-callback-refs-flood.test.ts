// When every recorded ref is signed, a new signed ref takes the place of a ref whose digest
// another ref also holds: under a cosign policy any tag pointing at a signed digest is
// recorded signed, and a registry user can push 256 such tags (no signing key needed), which
// must not push `prod` (signed, at another digest) out of the list: its revocation must still
// be re-checked.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { MAX_RECORDED_REFS, readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const PUBLIC = `sha256:${'ab'.repeat(32)}`; // signed, anyone may re-tag it
const PROD = `sha256:${'ef'.repeat(32)}`; // signed until revoked
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';
const gun = `${HOST}/lab/app`;
const push = (id: string, digest: string, tag: string) => ({ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'lab/app', tag } });
const changefeed = (id: string) => ({ changefeed: { records: [{ ID: id, GUN: gun, Version: 2, Category: 'update' }] } });

describe('the recorded refs of a repository flooded with signed re-tags', () => {
  it('keep a signed ref at another digest, so its revocation is still re-checked', async () => {
    let nowMs = Date.parse('2026-11-27T08:00:00Z');
    const clock = { now: () => new Date(nowMs) };
    let revoked = false;
    const cosign: ImageVerifier<CosignRequirement> = {
      kind: 'cosign',
      verify: (image) => {
        const digest = image.digest ?? (image.tag === 'prod' ? PROD : PUBLIC);
        if (digest === PUBLIC || (digest === PROD && !revoked)) return Promise.resolve({ digest, signers: ['cosign:key/release-key'] });
        return Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
      },
    };
    const store = createMemoryStore({ clock });
    const deps: SignCallbackDeps = { ...signCallbackDeps({ policies: cosignKeyPolicies(KEY), cosign }), clock, store };
    const handle = createSignCallbackHandler(deps, TOKEN);
    const call = (body: unknown) => handle({ body, headers: { authorization: `Bearer ${TOKEN}` } });

    await call({ events: [push('prod', PROD, 'prod')] });
    expect(await readSignStatus(store, gun, 'prod')).toMatchObject({ status: 'signed' });
    for (let i = 0; i < MAX_RECORDED_REFS; i += 1) await call({ events: [push(`copy-${i}`, PUBLIC, `copy-${i}`)] });

    // A day later the prod signature is revoked.
    nowMs += 24 * 60 * 60 * 1000;
    revoked = true;
    expect((await call(changefeed('1'))).statusCode).toBe(200);
    expect(await readSignStatus(store, gun, 'prod')).toMatchObject({ status: 'unsigned' });
  });
});
