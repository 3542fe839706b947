import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createAuthenticatedStore } from '../../../shared/cache/authenticated-store.js';
import { createDynamoDbStore } from '../../../shared/cache/dynamodb-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { openSqliteStore, type SqliteStore } from '../../../shared/cache/sqlite-store.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../../support/dynalite-server.js';
import { describeKvStoreContract } from './kv-store-contract.js';
import { clockFrom } from '../../support/clocks.js';

let root = '';
let dynamo: DynaliteServer | undefined;
let counter = 0;
const opened: SqliteStore[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'trustgate-kv-'));
  dynamo = await startDynalite();
});

afterAll(async () => {
  for (const store of opened) store.close();
  await dynamo?.stop();
  await rm(root, { recursive: true, force: true });
});

describeKvStoreContract('memory', (now) => createMemoryStore({ clock: clockFrom(now) }));

// Each SQLite store gets a database file of its own in a folder that does not exist yet.
describeKvStoreContract('sqlite', (now) => {
  counter += 1;
  const store = openSqliteStore(join(root, `sqlite-${counter}`, 'trustgate.db'), { clock: clockFrom(now) });
  opened.push(store);
  return store;
});

// Each DynamoDB store gets a fresh table on the dynalite server.
describeKvStoreContract('dynamodb (dynalite)', async (now) => {
  if (dynamo === undefined) throw new Error('dynalite is not running');
  counter += 1;
  const table = `trustgate-${counter}`;
  const client = dynamo.client();
  await createTrustgateTable(client, table);
  return createDynamoDbStore({ client, table, clock: clockFrom(now) });
});

// What deployments actually open: an LRU over HMAC-authenticated entries over a backend.
describeKvStoreContract('authenticated over sqlite', (now) => {
  counter += 1;
  const store = openSqliteStore(join(root, `composed-${counter}`, 'trustgate.db'), { clock: clockFrom(now) });
  opened.push(store);
  return createAuthenticatedStore(store, randomBytes(32));
});
