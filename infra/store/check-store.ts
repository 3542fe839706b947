// Checks, when a process starts, that the store it was configured with can hold trust state
// (the DynamoDB table checks themselves are in dynamodb-table.ts, loaded only for a table).
// An adapter: it talks to DynamoDB and touches the disk.
//
// Why at start: a store that is missing or wrong (a typo in the table name, a table of
// another shape) fails every read and every write, so without this check nothing would ever
// be persisted and the operator would not be told. Such a store is a configuration error
// (CONFIG_INVALID). A store that does not answer right now is not: it is an outage, reported
// as STATE_STORE_FAILED, and each verification then decides under the store-fault rule.
import { accessSync, constants } from 'node:fs';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { KvStore, Logger } from '../../shared/ports.js';
import type { StoreConfig } from './open-store.js';

export interface StoreCheckReport {
  readonly kind: StoreConfig['kind'];
  // What was checked, one line each ("table trust-state: ACTIVE").
  readonly findings: readonly string[];
  // Usable, but not as intended (TTL switched off).
  readonly warnings: readonly string[];
}

// The key of the entry a SQLite check writes and deletes again.
const PROBE_KEY = 'trustgate:store-check';

// Rejects with CONFIG_INVALID when the store is missing or of the wrong shape, with
// STATE_STORE_FAILED when it cannot be reached; resolves with what was found otherwise.
// `kv` is the opened store, used for the SQLite write probe.
export async function checkStore(config: StoreConfig, kv: KvStore): Promise<StoreCheckReport> {
  switch (config.kind) {
    case 'memory':
      return { kind: 'memory', findings: ['memory store: nothing persists beyond this process; trust on first use is disabled'], warnings: [] };
    case 'sqlite':
      return checkSqlite(config.stateDir, kv);
    case 'dynamodb': {
      // Loaded only here: a process without a table never loads the AWS SDK.
      const { checkDynamoDbTable, dynamoDbClient } = await import('./dynamodb-table.js');
      const client = dynamoDbClient(config);
      try {
        return await checkDynamoDbTable(client, config.table);
      } finally {
        client.destroy();
      }
    }
  }
}

async function checkSqlite(stateDir: string, kv: KvStore): Promise<StoreCheckReport> {
  try {
    accessSync(stateDir, constants.W_OK);
    await kv.put(PROBE_KEY, { value: new Uint8Array(0), version: 0 });
    await kv.delete(PROBE_KEY);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `the state directory ${stateDir} is not writable: ${reason}`, { cause: error });
  }
  return { kind: 'sqlite', findings: [`state directory ${stateDir}: writable`], warnings: [] };
}

// The check a deployed function runs once per container, before its first verification:
// a missing or wrong store (CONFIG_INVALID) is logged once and kept, so every request of
// this container answers CONFIG_INVALID; an outage is logged and checked again next time
// (each verification meanwhile decides under the store-fault rule); success is kept.
export function createStoreStartupCheck(check: () => Promise<StoreCheckReport>, logger: Logger): () => Promise<void> {
  let outcome: Promise<void> | undefined;
  return () => {
    outcome ??= check().then(
      (report) => {
        for (const warning of report.warnings) logger.warn('trust store usable with a warning', { store: report.kind, warning });
      },
      (error: unknown) => {
        if (error instanceof TrustgateError && error.code === ErrorCode.CONFIG_INVALID) {
          logger.error('trust store misconfigured', { code: error.code, error: error.message });
          throw error;
        }
        logger.warn('trust store unavailable at start', { error: (error as Error).message });
        outcome = undefined;
      },
    );
    return outcome;
  };
}
