// A KvStore in one DynamoDB table, for deployed functions (many containers, no shared disk).
// An adapter: it talks to DynamoDB through the AWS SDK.
//
// Table layout (provisioned by the deployment):
//   pk   S  partition key: the store key (escaped only when DynamoDB could not hold it as is)
//   v    B  the value
//   ver  N  the entry's version; conditional puts compare against it
//   exp  N  expiry in epoch milliseconds, checked on every read (absent = no expiry)
//   ttl  N  the same expiry in epoch SECONDS: the table's TTL attribute, so DynamoDB deletes
//           expired items itself (lazily, up to days later, hence the read-side check)
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ErrorCode, TrustgateError } from '../errors.js';
import type { Clock, KvItem, KvPutOptions, KvStore } from '../ports.js';
import { markDamagedEntry } from './damaged-entry.js';
import { encodeStoreKey } from './store-key.js';

export interface DynamoDbStoreOptions {
  readonly client: DynamoDBClient;
  readonly table: string;
  // The component's clock: expiry is judged against it on every read and conditional write.
  readonly clock: Clock;
}

// Written only when the item is absent, older, or expired but not yet swept by TTL. DynamoDB
// evaluates the condition and writes atomically, whichever container races us.
const NEWER_CONDITION = 'attribute_not_exists(pk) OR ver < :ver OR exp <= :now';

export function createDynamoDbStore(options: DynamoDbStoreOptions): KvStore {
  const { client, table } = options;
  const now = (): number => options.clock.now().getTime();
  const keyOf = (key: string): Record<string, AttributeValue> => ({ pk: { S: encodeStoreKey(key) } });

  return {
    async get(key) {
      let item: Record<string, AttributeValue> | undefined;
      try {
        // Strongly consistent: a read right after another container's write sees it.
        ({ Item: item } = await client.send(new GetItemCommand({ TableName: table, Key: keyOf(key), ConsistentRead: true })));
      } catch (error) {
        throw storeFailure('read', key, error);
      }
      if (item === undefined) return undefined;
      const decoded = decodeItem(item, key);
      return decoded.expiresAt !== undefined && decoded.expiresAt <= now() ? undefined : decoded;
    },
    async put(key, item: KvItem, putOptions?: KvPutOptions) {
      const conditional = putOptions?.onlyIfNewer === true;
      try {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: encodeItem(key, item),
            ...(conditional
              ? {
                  ConditionExpression: NEWER_CONDITION,
                  ExpressionAttributeValues: { ':ver': { N: String(item.version) }, ':now': { N: String(now()) } },
                }
              : {}),
          }),
        );
        return true;
      } catch (error) {
        if (conditional && isConditionFailure(error)) return false;
        throw storeFailure('write', key, error);
      }
    },
    async delete(key) {
      try {
        await client.send(new DeleteItemCommand({ TableName: table, Key: keyOf(key) }));
      } catch (error) {
        throw storeFailure('delete', key, error);
      }
    },
  };
}

function encodeItem(key: string, item: KvItem): Record<string, AttributeValue> {
  return {
    pk: { S: encodeStoreKey(key) },
    v: { B: Uint8Array.from(item.value) },
    ver: { N: String(item.version) },
    ...(item.expiresAt === undefined
      ? {}
      : { exp: { N: String(item.expiresAt) }, ttl: { N: String(Math.ceil(item.expiresAt / 1000)) } }),
  };
}

// A DynamoDB item is outside input: decoded strictly, once. An item of the wrong shape is
// an error, not an absence, so a damaged table is noticed instead of silently ignored. The
// error is marked as one damaged entry (isDamagedEntry), so a caller that can skip one entry
// tells it apart from a store that does not answer.
function decodeItem(item: Record<string, AttributeValue>, key: string): KvItem {
  const value = item['v']?.B;
  const version = Number(item['ver']?.N);
  const expRaw = item['exp']?.N;
  const expiresAt = expRaw === undefined ? undefined : Number(expRaw);
  if (value === undefined || !Number.isFinite(version) || (expiresAt !== undefined && !Number.isFinite(expiresAt))) {
    throw markDamagedEntry(new TrustgateError(ErrorCode.STATE_STORE_FAILED, `dynamodb item for ${JSON.stringify(key.slice(0, 200))} is malformed: expected v (B), ver (N) and an optional exp (N)`));
  }
  return { value: Uint8Array.from(value), version, ...(expiresAt === undefined ? {} : { expiresAt }) };
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

// A STATE_STORE_FAILED error naming the operation, the key (cut short) and the SDK's error name.
function storeFailure(operation: string, key: string, cause: unknown): TrustgateError {
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  const shownKey = key.length > 200 ? `${key.slice(0, 200)}...` : key;
  return new TrustgateError(ErrorCode.STATE_STORE_FAILED, `dynamodb store could not ${operation} ${JSON.stringify(shownKey)}: ${reason}`, { cause });
}
