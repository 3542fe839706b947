// A repository's recorded refs are what the changefeed re-checks when a signature may have
// been revoked: a ref is never dropped by a race, and the list lives as long as the statuses
// the changefeed keeps re-checking.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { KvStore } from '../../../shared/ports.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const SIGNED = `sha256:${'ab'.repeat(32)}`;
const UNSIGNED = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';
const gun = `${HOST}/lab/app`;
const REFS_KEY = `callback:${JSON.stringify(['refs', gun])}`;
const push = (id: string, digest: string, tag: string) => ({ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'lab/app', tag } });
const changefeed = (id: string) => ({ changefeed: { records: [{ ID: id, GUN: gun, Version: 2, Category: 'update' }] } });
const ids = (body: unknown): string[] => (body as { outcomes: Array<{ id: string }> }).outcomes.map((outcome) => outcome.id);

// A callback on a memory store (wrapped by `wrap`), on a clock `advance` moves, whose cosign
// verifier finds tag v1 (at SIGNED) signed until `revoke`, and every other tag unsigned.
function setUp(wrap: (store: KvStore) => KvStore = (store) => store) {
  let nowMs = Date.parse('2026-11-27T08:00:00Z');
  let revoked = false;
  const clock = { now: () => new Date(nowMs) };
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: (image) => {
      const digest = image.digest ?? (image.tag === 'v1' ? SIGNED : UNSIGNED);
      if (digest === SIGNED && !revoked) return Promise.resolve({ digest, signers: ['cosign:key/release-key'] });
      return Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
    },
  };
  const inner = createMemoryStore({ clock });
  const deps: SignCallbackDeps = { ...signCallbackDeps({ policies: cosignKeyPolicies(KEY), cosign }), clock, store: wrap(inner) };
  const handle = createSignCallbackHandler(deps, TOKEN);
  return {
    deps,
    inner,
    call: (body: unknown) => handle({ body, headers: { authorization: `Bearer ${TOKEN}` } }),
    revoke: () => (revoked = true),
    advance: (ms: number) => (nowMs += ms),
  };
}

describe('sign-callback recorded refs', () => {
  it('fails the event (503) rather than lose its ref when the list keeps changing under it, and processes the redelivery', async () => {
    let contended = true;
    // Every compare-and-set of the list loses, as if other deliveries kept changing it.
    const losing = (store: KvStore): KvStore => ({
      ...store,
      put: (name, item, options) => (contended && name === REFS_KEY && options?.onlyIfNewer === true ? Promise.resolve(false) : store.put(name, item, options)),
    });
    const { call } = setUp(losing);

    const first = await call({ events: [push('signed-v1', SIGNED, 'v1')] });
    expect(first.statusCode).toBe(503);
    expect(first.body).toMatchObject({ error: { code: ErrorCode.STATE_STORE_FAILED } });

    contended = false;
    const again = await call({ events: [push('signed-v1', SIGNED, 'v1')] });
    expect(again.body).toEqual({ outcomes: [{ id: 'signed-v1', outcome: 'signed' }] });
    expect(ids((await call(changefeed('1'))).body)).toEqual([`${gun}:v1`]);
  });
});
