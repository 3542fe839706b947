// The DynamoDB side of the trust store: the SDK client, the store over it, and the check and
// creation of its table. An adapter: it talks to DynamoDB. Kept apart from open-store.ts and
// check-store.ts so that only a process configured with a table loads the AWS SDK (they
// import this module dynamically).
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { createDynamoDbStore } from '../../shared/cache/dynamodb-store.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, KvStore } from '../../shared/ports.js';
import type { StoreCheckReport } from './check-store.js';

// The table layout the DynamoDB store uses (shared/cache/dynamodb-store.ts) and serverless.yml
// provisions: partition key `pk` of type S, expiry in `ttl` (epoch seconds).
export const DYNAMODB_KEY_ATTRIBUTE = 'pk';
export const DYNAMODB_TTL_ATTRIBUTE = 'ttl';

// A client for the configured endpoint and region, with bounded waits: a store that hangs
// must not hold a start-up check (or a verification) for the SDK's unbounded default.
export function dynamoDbClient(config: { readonly endpoint?: string; readonly region?: string }): DynamoDBClient {
  return new DynamoDBClient({
    ...(config.region === undefined ? {} : { region: config.region }),
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
  });
}

// The store over one table, with the client it owns (`destroy` closes its connections).
export function openDynamoDbKv(config: { readonly table: string; readonly endpoint?: string; readonly region?: string }, clock: Clock): { readonly kv: KvStore; destroy(): void } {
  const client = dynamoDbClient(config);
  return { kv: createDynamoDbStore({ client, table: config.table, clock }), destroy: () => client.destroy() };
}

// DescribeTable and DescribeTimeToLive, compared with the layout the store needs.
export async function checkDynamoDbTable(client: DynamoDBClient, table: string): Promise<StoreCheckReport> {
  await assertRegionConfigured(client);
  let description: TableDescription | undefined;
  let ttl: { status?: string | undefined; attribute?: string | undefined };
  try {
    ({ Table: description } = await client.send(new DescribeTableCommand({ TableName: table })));
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    ttl = { status: TimeToLiveDescription?.TimeToLiveStatus, attribute: TimeToLiveDescription?.AttributeName };
  } catch (error) {
    throw describeFailure(table, error);
  }
  const problems = keySchemaProblems(description);
  if (ttl.attribute !== undefined && ttl.attribute !== DYNAMODB_TTL_ATTRIBUTE && (ttl.status === 'ENABLED' || ttl.status === 'ENABLING')) {
    problems.push(`expected TTL on attribute ${DYNAMODB_TTL_ATTRIBUTE}, got TTL on ${ttl.attribute}`);
  }
  if (problems.length > 0) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `DynamoDB table ${table} cannot hold trust state: ${problems.join('; ')}`);
  }
  const warnings =
    ttl.status === 'ENABLED' || ttl.status === 'ENABLING'
      ? []
      : [`TTL on ${DYNAMODB_TTL_ATTRIBUTE} is ${ttl.status ?? 'unknown'}: expired items are ignored on read but never deleted`];
  return {
    kind: 'dynamodb',
    findings: [
      `table ${table}: ${description?.TableStatus ?? 'status unknown'}`,
      `key: ${DYNAMODB_KEY_ATTRIBUTE} (S, HASH)`,
      `ttl: ${ttl.status ?? 'unknown'}${ttl.attribute === undefined ? '' : ` on ${ttl.attribute}`}`,
    ],
    warnings,
  };
}

// The key schema must be exactly `pk` (S) as partition key: a table with a sort key or
// another key name rejects every GetItem and PutItem the store makes.
function keySchemaProblems(description: TableDescription | undefined): string[] {
  const keys = description?.KeySchema ?? [];
  const hash = keys.find((key) => key.KeyType === 'HASH');
  const problems: string[] = [];
  if (keys.length !== 1 || hash?.AttributeName !== DYNAMODB_KEY_ATTRIBUTE) {
    problems.push(`expected key schema [${DYNAMODB_KEY_ATTRIBUTE} HASH], got [${keys.map((key) => `${key.AttributeName ?? '?'} ${key.KeyType ?? '?'}`).join(', ')}]`);
  }
  const type = description?.AttributeDefinitions?.find((definition) => definition.AttributeName === DYNAMODB_KEY_ATTRIBUTE)?.AttributeType;
  if (type !== 'S') problems.push(`expected ${DYNAMODB_KEY_ATTRIBUTE} of type S, got ${type ?? 'none'}`);
  return problems;
}

// Creates the table (key `pk` S, on-demand billing), waits until it is ACTIVE and switches
// TTL on `ttl` on. An existing table is checked instead. An endpoint without the TTL API
// (a local emulator) leaves a warning, not an error.
export async function initDynamoDbTable(client: DynamoDBClient, table: string, sleep: (ms: number) => Promise<void>): Promise<StoreCheckReport> {
  await assertRegionConfigured(client);
  let created = false;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: DYNAMODB_KEY_ATTRIBUTE, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: DYNAMODB_KEY_ATTRIBUTE, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    created = true;
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw describeFailure(table, error);
  }
  for (let attempt = 0; ; attempt += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table })).catch((error: unknown) => {
      throw describeFailure(table, error);
    });
    if (Table?.TableStatus === 'ACTIVE') break;
    if (attempt >= 600) throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `DynamoDB table ${table} did not become ACTIVE: expected ACTIVE, got ${Table?.TableStatus ?? 'no status'}`);
    await sleep(100);
  }
  const warnings: string[] = [];
  if (created) {
    try {
      await client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: DYNAMODB_TTL_ATTRIBUTE, Enabled: true } }));
    } catch (error) {
      warnings.push(`TTL on ${DYNAMODB_TTL_ATTRIBUTE} could not be switched on: ${(error as Error).name}`);
    }
  }
  const report = await checkDynamoDbTable(client, table);
  return { ...report, findings: [created ? `created table ${table}` : `table ${table} exists`, ...report.findings], warnings: [...warnings, ...report.warnings] };
}

// The SDK finds the region in AWS_REGION, AWS_DEFAULT_REGION (passed on by decodeStoreConfig) or
// the shared AWS config file. Without one every request fails with "Region is missing", which
// would otherwise be taken for an outage: the process would start and deny under the
// store-fault rule forever. No region is configuration (CONFIG_INVALID), so it refuses to start.
async function assertRegionConfigured(client: DynamoDBClient): Promise<void> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch {
    region = undefined;
  }
  if (region === undefined || region === '') {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      'the DynamoDB store needs an AWS region: expected AWS_REGION, AWS_DEFAULT_REGION or a region in the AWS config file, got none',
    );
  }
}

// A missing table (or one DynamoDB refuses to describe as asked) is CONFIG_INVALID; anything
// else (no connection, a timeout, throttling) is the store being unavailable.
function describeFailure(table: string, error: unknown): TrustgateError {
  const name = error instanceof Error ? error.name : 'Error';
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (name === 'ResourceNotFoundException') {
    return new TrustgateError(ErrorCode.CONFIG_INVALID, `DynamoDB table ${table} does not exist: expected a table with key ${DYNAMODB_KEY_ATTRIBUTE} (S) and TTL on ${DYNAMODB_TTL_ATTRIBUTE}`, { cause: error });
  }
  if (name === 'ValidationException' || name === 'AccessDeniedException') {
    return new TrustgateError(ErrorCode.CONFIG_INVALID, `DynamoDB table ${table} cannot be used: ${reason}`, { cause: error });
  }
  return new TrustgateError(ErrorCode.STATE_STORE_FAILED, `DynamoDB store unavailable while checking table ${table}: ${reason}`, { cause: error });
}
