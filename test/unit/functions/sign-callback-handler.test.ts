import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import type { SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { noopMetrics, silentLogger } from '../../../shared/ports.js';

const deps: SignCallbackDeps = {
  verify: {
    notary: { kind: 'notary', verify: () => Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, 'unsigned')) },
    clock: { now: () => new Date('2026-11-27T08:00:00Z') },
    logger: silentLogger,
  },
  store: createMemoryStore(),
  clock: { now: () => new Date('2026-11-27T08:00:00Z') },
  logger: silentLogger,
  metrics: noopMetrics,
  registryHost: '127.0.0.1:5000',
  namespace: 'default',
};

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
      const handle = createSignCallbackHandler({ ...deps, store: createMemoryStore({ now: () => deps.clock.now().getTime() }) }, 'secret');
      const push = { events: [{ id: 'e1', action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'c'.repeat(64)}`, repository: 'lab/x', tag: 'v1' } }] };
      const headers = { authorization: 'Bearer secret' };
      expect((await handle({ body: push, headers })).body).toStrictEqual({ outcomes: [{ id: 'e1', outcome: 'unsigned' }] });
      expect((await handle({ body: push, headers })).body).toStrictEqual({ outcomes: [{ id: 'e1', outcome: 'duplicate' }] });
    });
  });
});
