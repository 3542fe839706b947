import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStoreStartupCheck, type StoreCheckReport } from '../../../infra/store/check-store.js';
import { checkDynamoDbTable, DYNAMODB_KEY_ATTRIBUTE, DYNAMODB_TTL_ATTRIBUTE, initDynamoDbTable } from '../../../infra/store/dynamodb-table.js';
import { createDynamoDbStore } from '../../../shared/cache/dynamodb-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/ports.js';
import { startDynalite, type DynaliteServer } from '../../support/dynalite-server.js';
import { findClosedPort } from '../../support/local-http-server.js';
import { fixedClock } from '../../support/clocks.js';

const PROJECT_ROOT = join(import.meta.dirname, '../../..');

let dynamo: DynaliteServer;
let client: DynamoDBClient;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynamo.client();
});

afterAll(async () => {
  await dynamo.stop();
});

const noWait = (): Promise<void> => Promise.resolve();

describe('checkDynamoDbTable', () => {
  describe('when the table does not exist', () => {
    it('rejects with CONFIG_INVALID', async () => {
      await expect(checkDynamoDbTable(client, 'no-such-table')).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    });
  });

  describe('when the table has another key', () => {
    it.each([
      ['another partition key name', [{ AttributeName: 'id', KeyType: 'HASH' as const }], [{ AttributeName: 'id', AttributeType: 'S' as const }]],
      ['a number partition key', [{ AttributeName: 'pk', KeyType: 'HASH' as const }], [{ AttributeName: 'pk', AttributeType: 'N' as const }]],
      [
        'a sort key',
        [
          { AttributeName: 'pk', KeyType: 'HASH' as const },
          { AttributeName: 'sk', KeyType: 'RANGE' as const },
        ],
        [
          { AttributeName: 'pk', AttributeType: 'S' as const },
          { AttributeName: 'sk', AttributeType: 'S' as const },
        ],
      ],
    ])('rejects %s with CONFIG_INVALID', async (label, KeySchema, AttributeDefinitions) => {
      const table = `wrong-${label.replace(/ /g, '-')}`;
      await client.send(new CreateTableCommand({ TableName: table, KeySchema, AttributeDefinitions, BillingMode: 'PAY_PER_REQUEST' }));
      await expect(checkDynamoDbTable(client, table)).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    });
  });

  describe('when the table was created by initDynamoDbTable', () => {
    it('finds it usable, with a warning where the endpoint has no TTL API', async () => {
      const created = await initDynamoDbTable(client, 'made-by-init', noWait);
      expect(created.findings).toContain('created table made-by-init');
      const report = await checkDynamoDbTable(client, 'made-by-init');
      expect(report.findings).toContain('key: pk (S, HASH)');
      expect(report.warnings).toHaveLength(1);
      expect((await initDynamoDbTable(client, 'made-by-init', noWait)).findings).toContain('table made-by-init exists');
    });
  });

  describe('when the endpoint does not answer', () => {
    it('rejects with STATE_STORE_FAILED, not CONFIG_INVALID', async () => {
      const closed = new DynamoDBClient({ endpoint: `http://127.0.0.1:${await findClosedPort()}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
      try {
        await expect(checkDynamoDbTable(closed, 'any-table')).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
      } finally {
        closed.destroy();
      }
    });
  });
});

describe('the DynamoDB table layout', () => {
  it('is the one the store writes and serverless.yml provisions: key pk (S), TTL on ttl', async () => {
    await initDynamoDbTable(client, 'layout', noWait);
    const store = createDynamoDbStore({ client, table: 'layout', clock: fixedClock(new Date(1_000)) });
    await store.put('entry', { value: new Uint8Array([1]), version: 1, expiresAt: 10_000 });
    const { Item } = await client.send(new GetItemCommand({ TableName: 'layout', Key: { [DYNAMODB_KEY_ATTRIBUTE]: { S: 'entry' } }, ConsistentRead: true }));
    expect(Item?.[DYNAMODB_TTL_ATTRIBUTE]).toEqual({ N: '10' });
    const serverless = readFileSync(join(PROJECT_ROOT, 'serverless.yml'), 'utf8');
    expect(serverless).toMatch(new RegExp(`KeySchema:\\s*- AttributeName: ${DYNAMODB_KEY_ATTRIBUTE}\\s*KeyType: HASH`));
    expect(serverless).toMatch(new RegExp(`AttributeDefinitions:\\s*- AttributeName: ${DYNAMODB_KEY_ATTRIBUTE}\\s*AttributeType: S`));
    expect(serverless).toMatch(new RegExp(`TimeToLiveSpecification:\\s*AttributeName: ${DYNAMODB_TTL_ATTRIBUTE}\\s*Enabled: true`));
  });
});

describe('createStoreStartupCheck', () => {
  const report: StoreCheckReport = { kind: 'dynamodb', findings: [], warnings: [] };

  it('keeps a configuration error and never checks again', async () => {
    let calls = 0;
    const check = createStoreStartupCheck(() => {
      calls += 1;
      return Promise.reject(new TrustgateError(ErrorCode.CONFIG_INVALID, 'no table'));
    }, silentLogger);
    await expect(check()).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    await expect(check()).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    expect(calls).toBe(1);
  });

  it('lets verifications through during an outage and checks again until the store answers', async () => {
    let calls = 0;
    const check = createStoreStartupCheck(() => {
      calls += 1;
      return calls === 1 ? Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'down')) : Promise.resolve(report);
    }, silentLogger);
    await expect(check()).resolves.toBeUndefined();
    await expect(check()).resolves.toBeUndefined();
    await expect(check()).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});
