// Reads Notary's changefeed (GET /v2/_trust/changefeed?change_id=N&records=M) from the trust
// server, authenticated like metadata reads, keeping its cursor in the store, and hands the
// new records to sign-callback. `startChangefeedLoop` runs it on an interval for a
// long-running process (`trustgate serve`); deployed functions get a scheduled {"poll": true}.
import { isAuthenticationFailure } from '../cache/authenticated-store.js';
import { isDamagedEntry } from '../cache/damaged-entry.js';
import { ErrorCode, toTrustgateError, TrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { Fetch, KvStore, Logger } from '../ports.js';
import type { TokenAuth } from '../registry/token-auth.js';
import { getWithTokenAuth } from '../trust/notary/http-source.js';
import { normaliseTrustServerUrl } from '../trust/notary/trust-servers.js';
import { decodeChangeRecords, type ChangeRecord } from './callback-request.js';

export interface ChangefeedPollerOptions {
  readonly server: string;
  readonly fetch: Fetch;
  readonly store: KvStore;
  // Told when the stored cursor is unreadable (and read from the start instead).
  readonly logger: Logger;
  // The changefeed server is the operator's configuration, so its token flow may use the
  // configured credentials (under the same realm rules as metadata reads).
  readonly tokens?: TokenAuth;
  // Records per request (default 100).
  readonly pageSize?: number;
  readonly timeoutMs?: number;
}

const MAX_FEED_BYTES = 1024 * 1024;

function cursorKey(server: string): string {
  return `callback:${JSON.stringify(['changefeed-cursor', server])}`;
}

// One page of the changefeed. `commit` moves the stored cursor past it: called once every
// re-check the page asked for has run, so a page whose re-checks were cut short (the process
// stopping) is read again by the next poll, here after a restart or on another replica.
// `commit(through)` moves it only past the record with that ID (records come in ascending ID
// order), for a page whose first records alone had all their re-checks run: the next poll
// reads the records after it.
export interface ChangefeedPage {
  readonly records: readonly ChangeRecord[];
  commit(through?: string): Promise<void>;
}

// Returns a function reading the records after the stored cursor. The cursor only moves
// forward (conditional write on the change ID), so two pollers racing cannot move it back; at
// worst both hand the same records on, and re-checks are idempotent.
// Security: a cursor forged or damaged by a writer of the table without the state key is
// read as absent (logged): the feed is read from its start again, which costs re-checks but
// skips none. Failing instead would fail every poll for good, and no revocation would be
// re-checked again. Such a cursor is then overwritten unconditionally: a conditional write
// would lose to a forged entry's version (any number it likes), and the cursor would never
// move again.
export function createChangefeedPoller(options: ChangefeedPollerOptions): () => Promise<ChangefeedPage> {
  const server = normaliseTrustServerUrl(options.server);
  const pageSize = options.pageSize ?? 100;
  const tokens = options.tokens?.forServer(server, 'operator');
  return async () => {
    const { cursor, unreadable } = await readCursor(options, server);
    const url = `${server}/v2/_trust/changefeed?change_id=${cursor}&records=${pageSize}`;
    const response = await getWithTokenAuth(url, `${server}/v2/_trust/changefeed`, { fetch: options.fetch, ...(tokens ? { tokens } : {}), timeoutMs: options.timeoutMs ?? 10_000 }, MAX_FEED_BYTES);
    if (response.status !== 200) {
      throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `changefeed of ${server} failed: expected status 200, got ${response.status}`);
    }
    let json: unknown;
    try {
      json = parseJsonBytes(response.body, ErrorCode.TRUST_METADATA_INVALID, 'changefeed');
    } catch {
      // The parser's message quotes the server's text; ours does not.
      throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `changefeed of ${server} is not valid JSON`);
    }
    const problems: string[] = [];
    const records = decodeChangeRecords(isPlainObject(json) ? json['records'] : undefined, 'records', (path, message) => void problems.push(`${path}: ${message}`));
    if (problems.length > 0) throw new TrustgateError(ErrorCode.TRUST_METADATA_INVALID, `changefeed of ${server} is malformed: ${problems.join('; ')}`);
    const last = records.reduce((max, record) => Math.max(max, Number(record.id)), cursor);
    return {
      records,
      commit: async (through) => {
        const upTo = through === undefined ? last : Math.min(last, Number(through));
        if (unreadable) await options.store.put(cursorKey(server), { value: new Uint8Array(0), version: upTo });
        else if (upTo > cursor) await options.store.put(cursorKey(server), { value: new Uint8Array(0), version: upTo }, { onlyIfNewer: true });
      },
    };
  };
}

// The stored cursor (0 when absent), or 0 and `unreadable` when the entry is forged (its MAC
// fails) or damaged (an item of the wrong shape); a store that does not answer still throws.
async function readCursor(options: ChangefeedPollerOptions, server: string): Promise<{ cursor: number; unreadable: boolean }> {
  try {
    return { cursor: (await options.store.get(cursorKey(server)))?.version ?? 0, unreadable: false };
  } catch (error) {
    if (!isAuthenticationFailure(error) && !isDamagedEntry(error)) throw error;
    options.logger.error('changefeed cursor unreadable: reading the feed from its start', { server, error: toTrustgateError(error).message });
    return { cursor: 0, unreadable: true };
  }
}

// Polls every `intervalMs` until stopped; a failed poll is logged and retried next time.
export function startChangefeedLoop(poll: () => Promise<unknown>, intervalMs: number, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    poll()
      .catch((error: unknown) => logger.warn('changefeed poll failed', { error: (error as Error).message }))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
