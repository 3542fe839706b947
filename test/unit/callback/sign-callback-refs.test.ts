// A repository's recorded refs are what the changefeed re-checks when a signature may have
// been revoked: a ref is never dropped by a race, and the list lives as long as the statuses
// the changefeed keeps re-checking.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { KvStore } from '../../../shared/ports.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const SIGNED = `sha256:${'ab'.repeat(32)}`;
const UNSIGNED = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';
const DAY = 86_400_000;
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

  it('keeps the list while the changefeed keeps re-checking it, so a revocation long after the last push is applied', async () => {
    const { deps, call, revoke, advance } = setUp();
    await call({ events: [push('signed-v1', SIGNED, 'v1')] });
    // Changes of the repository re-check v1 (still signed) on day 60 and day 120.
    advance(60 * DAY);
    expect(ids((await call(changefeed('1'))).body)).toEqual([`${gun}:v1`]);
    advance(60 * DAY);
    expect(ids((await call(changefeed('2'))).body)).toEqual([`${gun}:v1`]);

    // Day 200: the signature is revoked.
    advance(80 * DAY);
    revoke();
    expect(ids((await call(changefeed('3'))).body)).toEqual([`${gun}:v1`]);
    expect(await readSignStatus(deps.store, gun, 'v1')).toMatchObject({ status: 'unsigned', digest: SIGNED });
  });

  it('keeps the list while pushes name refs it holds already, so a revocation long after the first push is applied', async () => {
    const { deps, call, revoke, advance } = setUp();
    await call({ events: [push('signed-v1', SIGNED, 'v1')] });
    advance(60 * DAY);
    await call({ events: [push('signed-v1-day-60', SIGNED, 'v1')] });
    advance(40 * DAY);
    expect(await deps.store.get(REFS_KEY)).toBeDefined();
    advance(50 * DAY);
    await call({ events: [push('signed-v1-day-150', SIGNED, 'v1')] });

    // Day 200: the signature is revoked.
    advance(50 * DAY);
    revoke();
    expect(ids((await call(changefeed('1'))).body)).toEqual([`${gun}:v1`]);
    expect(await readSignStatus(deps.store, gun, 'v1')).toMatchObject({ status: 'unsigned', digest: SIGNED });
  });

  it('writes the list again only once it has less than a status\'s lifetime left, not for every event', async () => {
    let writes = 0;
    const counting = (store: KvStore): KvStore => ({
      ...store,
      put: (name, item, options) => {
        if (name === REFS_KEY) writes += 1;
        return store.put(name, item, options);
      },
    });
    const { call, advance } = setUp(counting);
    await call({ events: [push('v1-a', SIGNED, 'v1')] });
    for (let day = 1; day <= 5; day += 1) {
      advance(DAY);
      await call({ events: [push(`v1-${day}`, SIGNED, 'v1')] });
      await call(changefeed(String(day)));
    }
    expect(writes).toBe(1);

    advance(90 * DAY);
    await call({ events: [push('v1-later', SIGNED, 'v1')] });
    await call(changefeed('6'));
    expect(writes).toBe(2);
  });
});
