// A real DynamoDB-compatible server (dynalite, in memory) on a free loopback port, and the
// table trustgate's DynamoDB store expects, created the way a deployment provisions it.
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

export interface DynaliteServer {
  readonly endpoint: string;
  // Region and credentials a client needs to talk to it (dynalite checks neither).
  readonly clientEnv: Readonly<Record<string, string>>;
  client(): DynamoDBClient;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const REGION = 'us-east-1';

export async function startDynalite(): Promise<DynaliteServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  return {
    endpoint,
    clientEnv: { AWS_REGION: REGION, AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
    client() {
      const client = new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The trustgate table: partition key `pk` (S), on-demand capacity, resolved once it is
// ACTIVE (dynalite, like DynamoDB, creates tables asynchronously). The TTL attribute `ttl`
// is switched on with UpdateTimeToLive in a real deployment; dynalite has no TTL API.
export async function createTrustgateTable(client: DynamoDBClient, table: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`table ${table} did not become ACTIVE`);
}
