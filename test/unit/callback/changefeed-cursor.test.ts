// The changefeed cursor is kept in the store, where a writer of the table without the state
// key can forge it: a forged cursor is read as absent (the feed is read from its start) and
// overwritten, so it can neither fail every poll nor pin the cursor with a version of its own.
import { describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../../functions/sign-callback/handler.js';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { createChangefeedPoller } from '../../../shared/callback/changefeed-poller.js';
import type { Fetch, Logger } from '../../../shared/ports.js';
import { CALLBACK_CLOCK, CALLBACK_REGISTRY_HOST as HOST, signCallbackDeps } from '../../support/sign-callback-deps.js';

const SERVER = 'https://notary.example.com';
const CURSOR_KEY = `callback:${JSON.stringify(['changefeed-cursor', SERVER])}`;

// A poll handler over a memory store behind the state key, whose trust server serves one
// record (change 7) after change ID 0 and none after it. `asked` holds each change_id read.
function setUp() {
  const inner = createMemoryStore({ clock: CALLBACK_CLOCK });
  const store = createAuthenticatedStore(inner, new Uint8Array(32).fill(5));
  const asked: string[] = [];
  const fetch: Fetch = (request) => {
    const after = new URL(request.url).searchParams.get('change_id') ?? '';
    asked.push(after);
    const records = after === '0' ? [{ ID: '7', GUN: `${HOST}/lab/app`, Version: 2, SHA256: '', Category: 'update' }] : null;
    return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode(JSON.stringify({ count: records?.length ?? 0, records })) });
  };
  const errors: string[] = [];
  const logger: Logger = { info: () => undefined, warn: () => undefined, error: (message) => void errors.push(message) };
  const poll = createChangefeedPoller({ server: SERVER, store, fetch, logger });
  const handle = createSignCallbackHandler({ ...signCallbackDeps(), store, poll }, 'token');
  return { inner, asked, errors, poll: () => handle({ body: { poll: true }, headers: {}, trusted: true }) };
}

describe('the changefeed cursor', () => {
  it('moves past the page a poll handled', async () => {
    const { asked, poll } = setUp();

    expect((await poll()).statusCode).toBe(200);
    expect((await poll()).statusCode).toBe(200);

    expect(asked).toEqual(['0', '7']);
  });

  it.each([
    ['an ordinary version', 1],
    ['a version above every change ID', Number.MAX_SAFE_INTEGER],
  ])('forged with %s is read as absent, logged, and overwritten by the next page', async (_name, version) => {
    const { inner, asked, errors, poll } = setUp();
    await inner.put(CURSOR_KEY, { value: new Uint8Array(40), version });

    expect((await poll()).statusCode).toBe(200);
    expect((await poll()).statusCode).toBe(200);

    expect(asked).toEqual(['0', '7']);
    expect(errors).toEqual(['changefeed cursor unreadable: reading the feed from its start']);
  });
});
