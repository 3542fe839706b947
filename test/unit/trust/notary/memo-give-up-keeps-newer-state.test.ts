// The Notary verifier after its memo gives an entry up (here for ADMISSION_TIMEOUT, the
// budget of the admission whose signal the building update joined) while the store holds an
// older state (the newer one's write failed): the full path starts from the newer state this
// process verified itself, so an image it saw revoked stays denied, instead of the older
// stored state being re-verified, memoised and served for the rest of its window.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import type { KvStore } from '../../../../shared/ports.js';
import { silentLogger } from '../../../../shared/ports.js';
import { createNotaryVerifier } from '../../../../shared/trust/notary/notary-verifier.js';
import type { MetadataSource } from '../../../../shared/trust/notary/source.js';
import { createTrustedStateStore } from '../../../../shared/trust/notary/trusted-state-store.js';
import { createVerifiedRepositoryMemo } from '../../../../shared/trust/notary/verified-repository-memo.js';
import type { NotaryRequirement } from '../../../../shared/trust/verifier.js';
import { fixedClock } from '../../../support/clocks.js';
import { createMemoryMetadataSource } from '../../../support/memory-metadata-source.js';
import { DEFAULT_NOW, buildRepository, generateKey } from '../../../support/notary-builder.js';

const GUN = 'registry.example.com/team/app';
const SERVER = 'https://notary.example.com';
const REQ: NotaryRequirement = { kind: 'notary', server: SERVER, signers: [], rootKeyIds: [] };
const at = (ms: number): Date => new Date(DEFAULT_NOW.getTime() + ms);

describe('the Notary memo giving an entry up while the store holds an older state', () => {
  it('keeps denying an image this process saw revoked', async () => {
    const alice = generateKey('ecdsa');
    const x = randomBytes(100);
    const other = randomBytes(100);
    const s1 = buildRepository(GUN, { targets: { v1: x }, delegations: [{ name: 'targets/alice', keys: [alice], targets: { v9: other } }] });
    // S2: v1 revoked (removed from targets), new versions, same keys.
    const s2 = buildRepository(GUN, {
      keys: s1.keys,
      versions: { targets: 2, snapshot: 2, timestamp: 2 },
      targets: { v0: other },
      delegations: [{ name: 'targets/alice', keys: [alice], targets: { v9: other } }],
    });
    const mem = createMemoryMetadataSource();
    mem.publish(s1.metadata);
    const server = {
      down: false,
      fetchMetadata: (...args: Parameters<MetadataSource['fetchMetadata']>) =>
        server.down ? Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'connection refused')) : mem.fetchMetadata(...args),
    };
    const inner = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
    let failWrites = false;
    const kv: KvStore = {
      get: (k) => inner.get(k),
      put: (k, item, o) => (failWrites ? Promise.reject(new Error('store write failed')) : inner.put(k, item, o)),
      delete: (k) => inner.delete(k),
    };
    const state = createTrustedStateStore(kv);
    const memo = createVerifiedRepositoryMemo();
    const base = { fetch: () => Promise.reject(new Error('no network')), state, logger: silentLogger, openSource: () => server, memo, maxStaleMs: 60_000 };
    const admission = createNotaryVerifier({ ...base, freshnessMs: 30_000 });
    const refreshing = createNotaryVerifier({ ...base, freshnessMs: 0 }); // e.g. what a sign event runs

    const v1 = parseImageReference(`${GUN}:v1`);
    const digest = `sha256:${createHash('sha256').update(x).digest('hex')}`;
    // t0: S1 verified, stored, memoised.
    expect((await admission.verify(v1, REQ, at(0))).digest).toBe(digest);

    // t0+5s: S2 (v1 revoked) published; an update under an admission's signal confirms it
    // (memo = S2) while verifying another image, v0; its store write fails (logged, answer unchanged).
    mem.publish(s2.metadata);
    failWrites = true;
    const budget = new AbortController();
    await refreshing.verify(parseImageReference(`${GUN}:v0`), REQ, at(5_000), budget.signal);
    // That admission then runs out of time (other images): decide-admission aborts its budget.
    budget.abort(new TrustgateError(ErrorCode.ADMISSION_TIMEOUT, 'time budget exhausted'));

    // t0+6s: this process answers v1 from S2: revoked.
    await expect(admission.verify(v1, REQ, at(6_000))).rejects.toMatchObject({ code: ErrorCode.TRUST_NO_SIGNED_TARGET });

    // t0+7s: the trust server is unreachable (an attacker blocks it); a request pinned to
    // alice needs targets/alice, which S2's loader cannot load (ADMISSION_TIMEOUT: the
    // aborted budget it was bound to), so the memo gives S2 up; the stored S1 (age 7s) is
    // older than S2 and must not take its place.
    server.down = true;
    const pinned: NotaryRequirement = { ...REQ, signers: [{ name: 'alice', publicKeyPem: alice.publicKeyPem }] };
    await expect(admission.verify(parseImageReference(`${GUN}:v9`), pinned, at(7_000))).rejects.toBeDefined();

    // t0+8s .. t0+29s: v1, which this process saw revoked at t0+6s, stays denied (with the
    // server down, the explanation of its absence may need a delegation S2 did not load).
    for (const later of [8_000, 29_000]) {
      const outcome = await admission.verify(v1, REQ, at(later)).then((answer) => `allowed ${answer.digest}`, (error: unknown) => (error as TrustgateError).code);
      expect([ErrorCode.TRUST_NO_SIGNED_TARGET, ErrorCode.TRUST_SERVER_UNAVAILABLE]).toContain(outcome);
    }
  });
});
