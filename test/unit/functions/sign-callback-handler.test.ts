import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { silentLogger, type KvStore } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';
import { createNotaryVerifier } from '../../../shared/trust/notary/notary-verifier.js';
import { createTrustedStateStore } from '../../../shared/trust/notary/trusted-state-store.js';
import { createMemoryMetadataSource } from '../../support/memory-metadata-source.js';
import { DEFAULT_NOW, buildRepository } from '../../support/notary-builder.js';
import { registryClusterPolicy } from '../../support/policy-fixtures.js';
import { CALLBACK_CLOCK, signCallbackDeps } from '../../support/sign-callback-deps.js';

// The handler, its verifier and its store share one clock (CALLBACK_CLOCK), as the entry
// points build them.
const deps = signCallbackDeps();

const ignoredEvent = { events: [{ id: 'p1', action: 'pull', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' } }] };

describe('createSignCallbackHandler', () => {
  describe('when the bearer token matches', () => {
    it('answers 200 whatever the header name case', async () => {
      const handle = createSignCallbackHandler(deps, 'secret');
      expect((await handle({ body: ignoredEvent, headers: { authorization: 'bearer secret' } })).statusCode).toBe(200);
    });
  });

  describe('when the token is wrong, missing or not configured', () => {
    const cases: ReadonlyArray<[string, string | undefined, Record<string, string>]> = [
      ['wrong', 'secret', { authorization: 'Bearer secreT' }],
      ['a prefix', 'secret', { authorization: 'Bearer secre' }],
      ['missing', 'secret', {}],
      ['basic', 'secret', { authorization: 'Basic c2VjcmV0' }],
      ['not configured', undefined, { authorization: 'Bearer ' }],
      ['configured empty', '', { authorization: 'Bearer x' }],
    ];
    for (const [label, expected, headers] of cases) {
      it(`answers 401 when ${label}`, async () => {
        expect((await createSignCallbackHandler(deps, expected)({ body: ignoredEvent, headers })).statusCode).toBe(401);
      });
    }
  });

  describe('when the platform authenticated the invocation', () => {
    it('runs a poll without a token', async () => {
      expect(await createSignCallbackHandler(deps, undefined)({ body: { poll: true }, headers: {}, trusted: true })).toStrictEqual({ statusCode: 200, body: { outcomes: [] } });
    });
  });

  describe('when a push arrives twice with the same event id', () => {
    it('processes it once', async () => {
      const handle = createSignCallbackHandler({ ...deps, store: createMemoryStore({ clock: CALLBACK_CLOCK }) }, 'secret');
      const push = { events: [{ id: 'e1', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'c'.repeat(64)}`, repository: 'lab/x', tag: 'v1' } }] };
      const headers = { authorization: 'Bearer secret' };
      expect((await handle({ body: push, headers })).body).toStrictEqual({ outcomes: [{ id: 'e1', outcome: 'unsigned' }] });
      expect((await handle({ body: push, headers })).body).toStrictEqual({ outcomes: [{ id: 'e1', outcome: 'duplicate' }] });
    });
  });
});

describe('createSignCallbackHandler when the trust store cannot read the trusted root', () => {
  // The callback's own records (event claims, statuses) are written; only the Notary state
  // cannot be read: a push must not be judged by trusting the server's root on first use.
  it('records the push as unsigned and fetches nothing from the trust server', async () => {
    const gun = 'reg.example.com/team/app';
    const manifest = randomBytes(64);
    const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    const source = createMemoryMetadataSource();
    source.publish(buildRepository(gun, { targets: { v1: manifest } }).metadata);
    const records = createMemoryStore({ clock: fixedClock(DEFAULT_NOW) });
    const notaryDown: KvStore = {
      get: (key) => (key.startsWith('notary:') ? Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'connection refused')) : records.get(key)),
      put: (key, item, options) => records.put(key, item, options),
      delete: (key) => records.delete(key),
    };
    const clock = { now: () => DEFAULT_NOW };
    const notary = createNotaryVerifier({
      fetch: () => Promise.reject(new Error('no network in unit tests')),
      state: createTrustedStateStore(notaryDown),
      logger: silentLogger,
      openSource: () => source,
      freshnessMs: 0,
    });
    const set = decodePolicyDocuments([{ source: 'policies.yaml', text: registryClusterPolicy() }]);
    const handle = createSignCallbackHandler(
      { ...deps, verify: { notary, clock, logger: silentLogger, policies: () => Promise.resolve(set) }, store: notaryDown, clock, registryHost: 'reg.example.com' },
      'secret',
    );
    const push = { events: [{ id: 'e2', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest, repository: 'team/app', tag: 'v1' } }] };
    expect((await handle({ body: push, headers: { authorization: 'Bearer secret' } })).body).toStrictEqual({ outcomes: [{ id: 'e2', outcome: 'unsigned' }] });
    expect(source.fetches).toHaveLength(0);
  });
});
