import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbStore } from '../../../shared/cache/dynamodb-store.js';
import { ErrorCode } from '../../../shared/errors.js';
import { findClosedPort } from '../../support/local-http-server.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../../support/dynalite-server.js';
import { fixedClock } from '../../support/clocks.js';

const T0 = 1_700_000_000_000;
let dynamo: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynamo.client();
});

afterAll(async () => {
  await dynamo.stop();
});

async function freshTable(): Promise<string> {
  tables += 1;
  const table = `dynamodb-store-${tables}`;
  await createTrustgateTable(client, table);
  return table;
}

describe('createDynamoDbStore', () => {
  describe('when an item with an expiry is put', () => {
    it('writes pk, v, ver, exp in milliseconds and the TTL attribute in epoch seconds', async () => {
      const table = await freshTable();
      await createDynamoDbStore({ client, table, clock: fixedClock(new Date(T0)) }).put('notary/x', { value: Uint8Array.from([1, 2]), version: 4, expiresAt: T0 + 1_500 });
      const { Item } = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'notary/x' } }, ConsistentRead: true }));
      expect(Item?.['ver']?.N).toBe('4');
      expect(Item?.['exp']?.N).toBe(String(T0 + 1_500));
      expect(Item?.['ttl']?.N).toBe(String(Math.ceil((T0 + 1_500) / 1000)));
      expect(Array.from(Item?.['v']?.B ?? [])).toStrictEqual([1, 2]);
    });
  });

  describe('when an item was written with another shape', () => {
    it('rejects with STATE_STORE_FAILED instead of reading it as absent', async () => {
      const table = await freshTable();
      await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'k' }, v: { S: 'text' }, ver: { N: '1' } } }));
      await expect(createDynamoDbStore({ client, table, clock: fixedClock(new Date(T0)) }).get('k')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });

  describe('when the table does not exist', () => {
    it('rejects reads and writes with STATE_STORE_FAILED', async () => {
      const store = createDynamoDbStore({ client, table: 'no-such-table', clock: fixedClock(new Date(T0)) });
      await expect(store.get('k')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      await expect(store.put('k', { value: Uint8Array.from([1]), version: 1 }, { onlyIfNewer: true })).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });

  describe('when DynamoDB cannot be reached', () => {
    it('rejects with STATE_STORE_FAILED', async () => {
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const down = new DynamoDBClient({
        endpoint: `http://127.0.0.1:${await findClosedPort()}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      await expect(createDynamoDbStore({ client: down, table: 't', clock: fixedClock(new Date(T0)) }).get('k')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      down.destroy();
    });
  });
});
