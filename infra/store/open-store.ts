// Decides from configuration which KvStore backend to open and composes it with what every
// deployment needs: HMAC authentication of entries. An adapter:
// it reads env values handed to it, opens files and builds SDK clients.
import { join } from 'node:path';
import { createAuthenticatedStore, decodeStateKey } from '../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../shared/cache/memory-store.js';
import { openSqliteStore, SQLITE_FILE_NAME } from '../../shared/cache/sqlite-store.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, KvItem, KvPutOptions, KvStore } from '../../shared/ports.js';
import { loadOrCreateStateKey } from './state-key.js';

export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly stateDir: string; readonly stateKey?: Uint8Array }
  | { readonly kind: 'dynamodb'; readonly table: string; readonly endpoint?: string; readonly region?: string; readonly stateKey: Uint8Array }
  | { readonly kind: 'memory' };

// Flag values (CLI) take precedence over their environment equivalents.
export interface StoreSettings {
  readonly stateDir?: string | undefined;
  readonly dynamodbTable?: string | undefined;
  readonly dynamodbEndpoint?: string | undefined;
}

export interface OpenedStore {
  readonly kv: KvStore;
  // False for the memory backend: nothing survives the process, so trust on first use
  // would re-trust whatever root the server serves on every cold start.
  readonly persistent: boolean;
  readonly kind: StoreConfig['kind'];
  close(): void;
}

type Env = Readonly<Record<string, string | undefined>>;


// DynamoDB when a table is named (TRUSTGATE_STATE_KEY required: containers share no disk
// to keep a generated key on), else SQLite in the state directory when there is one
// (`defaultStateDir` is the CLI's ~/.trustgate), else memory.
export function decodeStoreConfig(settings: StoreSettings, env: Env, defaultStateDir?: string): StoreConfig {
  const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);
  const table = nonEmpty(settings.dynamodbTable) ?? nonEmpty(env['TRUSTGATE_DYNAMODB_TABLE']);
  const rawKey = nonEmpty(env['TRUSTGATE_STATE_KEY']);
  const stateKey = rawKey === undefined ? undefined : decodeStateKey(rawKey);
  if (table !== undefined) {
    if (stateKey === undefined) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'the DynamoDB store needs TRUSTGATE_STATE_KEY: expected a secret of at least 32 bytes (hex or base64), got none');
    }
    const endpoint = nonEmpty(settings.dynamodbEndpoint) ?? nonEmpty(env['TRUSTGATE_DYNAMODB_ENDPOINT']);
    const region = nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']);
    return { kind: 'dynamodb', table, stateKey, ...(endpoint === undefined ? {} : { endpoint }), ...(region === undefined ? {} : { region }) };
  }
  const stateDir = nonEmpty(settings.stateDir) ?? nonEmpty(env['TRUSTGATE_STATE_DIR']) ?? defaultStateDir;
  if (stateDir !== undefined) return { kind: 'sqlite', stateDir, ...(stateKey === undefined ? {} : { stateKey }) };
  return { kind: 'memory' };
}

// Opens the configured backend with authenticated entries. There is deliberately no cache
// of raw entries in front: it would hide other processes' writes, and a stale trusted root
// is an anchor, not just a missed refetch. The in-process cache is the memo of verified
// repositories (shared/trust/notary/verified-repository-memo.ts).
export function openStore(config: StoreConfig, clock: Clock): OpenedStore {
  const wrap = (inner: KvStore, secret: Uint8Array): KvStore => createAuthenticatedStore(inner, secret);
  switch (config.kind) {
    case 'sqlite': {
      const secret = config.stateKey ?? loadOrCreateStateKey(config.stateDir);
      const sqlite = openSqliteStore(join(config.stateDir, SQLITE_FILE_NAME), { clock });
      return { kv: wrap(sqlite, secret), persistent: true, kind: 'sqlite', close: () => sqlite.close() };
    }
    case 'dynamodb': {
      const dynamo = openDynamoDbKvLazily(config, clock);
      return { kv: wrap(dynamo.kv, config.stateKey), persistent: true, kind: 'dynamodb', close: () => dynamo.close() };
    }
    case 'memory':
      // Nothing outside this process can write it, so there is nothing to authenticate.
      return { kv: createMemoryStore({ clock }), persistent: false, kind: 'memory', close: () => undefined };
  }
}

// The DynamoDB store, its module (and with it the AWS SDK) imported on the store's first use:
// a process without a table never loads the SDK, a function's cold start does not wait for it
// (its first verification does, through the store start-up check), and openStore stays
// synchronous. A failed import fails each call with the import's error
// (STATE_STORE_FAILED, so each verification decides under the store-fault rule), never an
// unhandled rejection.
function openDynamoDbKvLazily(config: Extract<StoreConfig, { kind: 'dynamodb' }>, clock: Clock): { readonly kv: KvStore; close(): void } {
  let opened: Promise<{ readonly kv: KvStore; destroy(): void }> | undefined;
  let closed = false;
  const open = (): Promise<{ readonly kv: KvStore; destroy(): void }> =>
    closed && opened === undefined
      ? Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'the DynamoDB store is closed'))
      : (opened ??= import('./dynamodb-table.js').then(
      (module) => module.openDynamoDbKv(config, clock),
      (error: unknown) => {
        throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `the DynamoDB store could not be loaded: ${(error as Error).message}`, { cause: error });
      },
    ));
  const kv: KvStore = {
    get: async (key: string): Promise<KvItem | undefined> => (await open()).kv.get(key),
    put: async (key: string, item: KvItem, options?: KvPutOptions): Promise<boolean> => (await open()).kv.put(key, item, options),
    delete: async (key: string): Promise<void> => (await open()).kv.delete(key),
  };
  return {
    kv,
    close: () => {
      if (closed) return;
      closed = true;
      opened?.then((store) => store.destroy(), () => undefined);
    },
  };
}
