// What one callback request can make sign-callback spend, and what cheap pushes can make it
// forget: signature pushes found unsigned are checked again together, within one second of
// pauses and a bounded number of images per request; a repository's recorded refs make room
// by leaving out unsigned ones, so a flood of pushes cannot push a signed ref out of the
// changefeed's re-checks; a damaged stored value is skipped, not a stall of the changefeed.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCallbackRequest } from '../../../shared/callback/callback-request.js';
import { handleSignCallback, MAX_LATE_SIGNATURES, readSignStatus, MAX_RECORDED_REFS, SIGNATURE_RECHECK_PAUSES_MS, signStatusKey, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const SIGNED = `sha256:${'ab'.repeat(32)}`;
const UNSIGNED = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const POLICIES = cosignKeyPolicies(KEY);

const hex = (n: number): string => n.toString(16).padStart(64, '0');
const push = (id: string, digest: string, tag: string) => ({ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'lab/app', tag } });

// Deps whose cosign verifier finds SIGNED signed (until `revoked`) and nothing else; every
// verification and pause is recorded, and each pause moves the callback's clock on.
function boundedDeps(): { deps: SignCallbackDeps; asked: string[]; pauses: number[]; revoke: () => void } {
  const asked: string[] = [];
  const pauses: number[] = [];
  let revoked = false;
  let nowMs = Date.parse('2026-11-27T08:00:00Z');
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: (image) => {
      asked.push(`${image.repository}@${image.digest ?? image.tag ?? ''}`);
      const digest = image.digest ?? (image.tag === 'v1' ? SIGNED : UNSIGNED);
      return digest === SIGNED && !revoked ? Promise.resolve({ digest, signers: ['cosign:key/release-key'] }) : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
    },
  };
  const base = signCallbackDeps({ policies: POLICIES, cosign });
  const deps: SignCallbackDeps = {
    ...base,
    clock: { now: () => new Date(nowMs) },
    pause: (ms) => {
      pauses.push(ms);
      nowMs += ms;
      return Promise.resolve();
    },
  };
  // Revoked a minute later.
  const revoke = (): void => {
    revoked = true;
    nowMs += 60_000;
  };
  return { deps, asked, pauses, revoke };
}

describe('sign-callback bounds', () => {
  it('checks the unsigned signature pushes of one request again together: one second of pauses, a bounded number of images', async () => {
    const { deps, asked, pauses } = boundedDeps();
    const events = Array.from({ length: 40 }, (_, i) => push(`sig-${i}`, UNSIGNED, `sha256-${hex(i + 1)}.sig`));

    const result = await handleSignCallback(deps, decodeCallbackRequest({ events }));

    expect(result.outcomes.every((outcome) => outcome.outcome === 'unsigned')).toBe(true);
    expect(pauses).toEqual([...SIGNATURE_RECHECK_PAUSES_MS]);
    expect(asked).toHaveLength(40 + MAX_LATE_SIGNATURES * SIGNATURE_RECHECK_PAUSES_MS.length);
  });

  it('checks a signed image named by many events of one request again once per pause', async () => {
    const { deps, asked, pauses } = boundedDeps();
    const events = Array.from({ length: 10 }, (_, i) => push(`same-${i}`, UNSIGNED, `sha256-${hex(7)}.sig`));

    await handleSignCallback(deps, decodeCallbackRequest({ events }));

    expect(pauses).toEqual([...SIGNATURE_RECHECK_PAUSES_MS]);
    expect(asked).toHaveLength(10 + SIGNATURE_RECHECK_PAUSES_MS.length);
  });

  it('keeps a signed ref among the refs it re-checks however many unsigned pushes follow, so a revoked signature is noticed', async () => {
    const { deps, revoke } = boundedDeps();
    await handleSignCallback(deps, decodeCallbackRequest({ events: [push('signed-v1', SIGNED, 'v1')] }));
    // More pushes of tags that name no signed image than the repository keeps refs for.
    const flood = Array.from({ length: MAX_RECORDED_REFS + 10 }, (_, i) => push(`junk-${i}`, UNSIGNED, `junk${i}`));
    await handleSignCallback(deps, decodeCallbackRequest({ events: flood }));

    revoke();
    const result = await handleSignCallback(deps, decodeCallbackRequest({ changefeed: { records: [{ ID: '1', GUN: `${HOST}/lab/app`, Version: 2, Category: 'update' }] } }));

    expect(result.outcomes.map((outcome) => outcome.id)).toContain(`${HOST}/lab/app:v1`);
    expect(result.outcomes).toHaveLength(MAX_RECORDED_REFS);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, 'v1')).toMatchObject({ status: 'unsigned', digest: SIGNED });
  });

  describe('a damaged recorded value (forged without the state key, or not decodable)', () => {
    // The store as the entry points open it: authenticated under the state key, over a store
    // that anyone with write access to it (but not the key) can change.
    function withDamage(): { deps: SignCallbackDeps; revoke: () => void; damage: (key: string, bytes: string) => Promise<void> } {
      const { deps, revoke } = boundedDeps();
      const inner = createMemoryStore({ clock: deps.clock });
      const store = createAuthenticatedStore(inner, new Uint8Array(32).fill(7));
      const damage = async (key: string, bytes: string): Promise<void> => {
        await inner.put(key, { value: new TextEncoder().encode(bytes), version: 1, expiresAt: deps.clock.now().getTime() + 86_400_000 });
      };
      return { deps: { ...deps, store }, revoke, damage };
    }
    const gun = `${HOST}/lab/app`;
    const changefeed = decodeCallbackRequest({ changefeed: { records: [{ ID: '1', GUN: gun, Version: 2, Category: 'update' }] } });

    it('is skipped by the changefeed\'s re-checks, which re-check the rest and complete the page', async () => {
      const { deps, revoke, damage } = withDamage();
      await handleSignCallback(deps, decodeCallbackRequest({ events: [push('signed-v1', SIGNED, 'v1'), push('other-v2', UNSIGNED, 'v2')] }));
      await damage(signStatusKey(gun, 'v2'), '{"status":"signed"}');

      revoke();
      const result = await handleSignCallback(deps, changefeed);

      expect(result.outcomes.map((outcome) => outcome.id)).toEqual([`${gun}:v1`]);
      expect(await readSignStatus(deps.store, gun, 'v1')).toMatchObject({ status: 'unsigned', digest: SIGNED });
    });

    it('does not fail the registry\'s events: a signature push re-checks past it and records its image', async () => {
      const { deps, damage } = withDamage();
      await handleSignCallback(deps, decodeCallbackRequest({ events: [push('other-v2', UNSIGNED, 'v2')] }));
      await damage(signStatusKey(gun, 'v2'), 'not even json');

      const result = await handleSignCallback(deps, decodeCallbackRequest({ events: [push('sig-1', UNSIGNED, `sha256-${SIGNED.slice('sha256:'.length)}.sig`)] }));

      expect(result.outcomes).toEqual([{ id: 'sig-1', outcome: 'signed' }]);
      expect(await readSignStatus(deps.store, gun, SIGNED)).toMatchObject({ status: 'signed' });
    });
  });
});
