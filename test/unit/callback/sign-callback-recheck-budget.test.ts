// What one sign-callback request can make the service verify: the re-checks it asks for (the
// tags recorded at a signed digest, a changed repository's refs) share a budget per request,
// and what is left over is not lost: events are delivered again, a poll's cursor stays before
// the records whose re-checks did not run.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { createChangefeedPoller } from '../../../shared/callback/changefeed-poller.js';
import { MAX_RECHECKS_PER_REQUEST, MAX_RECORDED_REFS, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { silentLogger, type Fetch, type KvStore } from '../../../shared/ports.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../../support/sign-callback-deps.js';

const D = `sha256:${'ab'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';
const push = (id: string, tag: string, repository = 'lab/app') => ({ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D, repository, tag } });
const SIG_TAG = `sha256-${D.slice('sha256:'.length)}.sig`;

// A callback whose cosign verifier finds nothing signed and counts what it is asked: `tags`
// verifications by tag (re-checks of recorded tags), `digests` by digest. `pollOf` builds the
// changefeed poll on the callback's store.
function setUp(pollOf?: (store: KvStore) => NonNullable<SignCallbackDeps['poll']>) {
  const asked = { tags: 0, digests: 0 };
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: (image) => {
      if (image.digest === undefined) asked.tags += 1;
      else asked.digests += 1;
      return Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
    },
  };
  let nowMs = Date.parse('2026-11-27T08:00:00Z');
  const clock = { now: () => new Date(nowMs) };
  const base = signCallbackDeps({ policies: cosignKeyPolicies(KEY), cosign });
  const store = createMemoryStore({ clock });
  const deps: SignCallbackDeps = { ...base, clock, store, pause: () => Promise.resolve(), ...(pollOf === undefined ? {} : { poll: pollOf(store) }) };
  const handle = createSignCallbackHandler(deps, TOKEN);
  return {
    deps,
    asked,
    call: (body: unknown) => handle({ body, headers: { authorization: `Bearer ${TOKEN}` } }),
    advance: (ms: number) => (nowMs += ms),
  };
}

// Records `count` tags (that need not exist) at D in `repository`, each by its own push event.
async function recordTags(call: (body: unknown) => Promise<{ statusCode: number }>, repository: string, count: number): Promise<void> {
  const answer = await call({ events: Array.from({ length: count }, (_, i) => push(`${repository}-fill-${i}`, `t${i}`, repository)) });
  expect(answer.statusCode).toBe(200);
}

describe('sign-callback re-check budget', () => {
  it('re-checks at most the budget for one request of signature pushes, answers 503 for the events left, and processes them when delivered again', async () => {
    const { asked, call, advance } = setUp();
    await recordTags(call, 'lab/app', MAX_RECORDED_REFS);
    asked.tags = 0;
    // Each signature push re-checks the 255 tags recorded at D: three need more than the budget.
    const body = { events: [push('sig-1', SIG_TAG), push('sig-2', SIG_TAG), push('sig-3', SIG_TAG), push('sig-4', SIG_TAG)] };

    const first = await call(body);

    expect(first.statusCode).toBe(503);
    expect(first.body).toMatchObject({ error: { code: ErrorCode.RECHECK_BUDGET_SPENT } });
    expect(asked.tags).toBe(MAX_RECHECKS_PER_REQUEST);

    // Delivered again: the first two are done (their claims kept), the other two fit.
    advance(60_000);
    asked.tags = 0;
    const second = await call(body);
    expect(second.body).toEqual({
      outcomes: [
        { id: 'sig-1', outcome: 'duplicate' },
        { id: 'sig-2', outcome: 'duplicate' },
        { id: 'sig-3', outcome: 'unsigned' },
        { id: 'sig-4', outcome: 'unsigned' },
      ],
    });
    expect(asked.tags).toBe(2 * (MAX_RECORDED_REFS - 1));
  });

  it('answers 503 to pushed changefeed records needing more than the budget', async () => {
    const { asked, call } = setUp();
    for (const repository of ['team-a/app', 'team-b/app', 'team-c/app']) await recordTags(call, repository, 200);
    asked.tags = 0;
    const records = ['team-a/app', 'team-b/app', 'team-c/app'].map((repository, i) => ({ ID: String(i + 1), GUN: `${HOST}/${repository}`, Version: 2, Category: 'update' }));

    const answer = await call({ changefeed: { records } });

    expect(answer.statusCode).toBe(503);
    expect(answer.body).toMatchObject({ error: { code: ErrorCode.RECHECK_BUDGET_SPENT } });
    expect(asked.tags).toBe(MAX_RECHECKS_PER_REQUEST);
  });

  it('moves the changefeed cursor past the records whose re-checks all ran, and re-checks the rest on the next poll', async () => {
    const requested: string[] = [];
    const repositories = ['team-a/app', 'team-b/app', 'team-c/app'];
    const fetch: Fetch = (request) => {
      const after = Number(new URL(request.url).searchParams.get('change_id'));
      requested.push(String(after));
      const records = repositories.map((repository, i) => ({ ID: String(i + 1), GUN: `${HOST}/${repository}`, Version: 2, SHA256: '', Category: 'update' })).filter((record) => Number(record.ID) > after);
      return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode(JSON.stringify({ count: records.length, records: records.length === 0 ? null : records })) });
    };
    const { asked, call } = setUp((store) => createChangefeedPoller({ server: 'https://notary.example.com', fetch, store, logger: silentLogger }));
    for (const repository of repositories) await recordTags(call, repository, 200);
    asked.tags = 0;
    const pollOnce = async (): Promise<string[]> => {
      const answer = await call({ poll: true });
      expect(answer.statusCode).toBe(200);
      return [...new Set((answer.body as { outcomes: Array<{ id: string }> }).outcomes.map((outcome) => outcome.id.slice(HOST.length + 1).split('/')[0] ?? ''))];
    };

    // 600 re-checks: team-a's and team-b's fit the budget, team-c's are cut short.
    expect(await pollOnce()).toEqual(['team-a', 'team-b', 'team-c']);
    expect(asked.tags).toBe(MAX_RECHECKS_PER_REQUEST);
    asked.tags = 0;
    expect(await pollOnce()).toEqual(['team-c']);
    expect(asked.tags).toBe(200);
    expect(await pollOnce()).toEqual([]);
    expect(requested).toEqual(['0', '2', '3']);
  });
});
