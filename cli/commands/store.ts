// `trustgate store check [--state-dir DIR] [--dynamodb-table NAME [--dynamodb-endpoint URL]]`
// prints what the configured store is and whether it can hold trust state;
// `trustgate store init --dynamodb-table NAME [--dynamodb-endpoint URL]` creates the table
// (key `pk` S, on-demand billing, TTL on `ttl`) for local use and tests. In AWS the table is
// serverless.yml's. Exit 0 when usable, 2 when missing or wrong (configuration), 1 when the
// store does not answer.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { checkStore, type StoreCheckReport } from '../../infra/store/check-store.js';
import { decodeStoreConfig, openStore } from '../../infra/store/open-store.js';
import { ErrorCode, isTrustgateError } from '../../shared/errors.js';
import type { Clock } from '../../shared/ports.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { resolveStateDir } from '../state-dir.js';

const STORE_OPTIONS = {
  'state-dir': { type: 'string' },
  'dynamodb-table': { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
} as const;

export async function runStore(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: STORE_OPTIONS });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  try {
    switch (sub) {
      case 'check':
        return print(io, await check(values, io.env, io.clock));
      case 'init':
        return print(io, await init(values, io.env));
      default:
        throw new UsageError(sub === undefined ? 'missing store subcommand (check or init)' : `unknown store subcommand ${JSON.stringify(sub)}`);
    }
  } catch (error) {
    if (!isTrustgateError(error)) throw error;
    if (error.code === ErrorCode.STATE_STORE_FAILED) {
      io.stderr(`trustgate: ${error.message}\n`);
      return ExitCode.DENIED;
    }
    throw new ConfigError(error.message);
  }
}

async function check(values: { 'state-dir'?: string | undefined; 'dynamodb-table'?: string | undefined; 'dynamodb-endpoint'?: string | undefined }, env: CliIo['env'], clock: Clock): Promise<StoreCheckReport> {
  const config = decodeStoreConfig(
    { stateDir: values['state-dir'], dynamodbTable: values['dynamodb-table'], dynamodbEndpoint: values['dynamodb-endpoint'] },
    env,
    resolveStateDir(values['state-dir'], env),
  );
  const store = openStore(config, clock);
  try {
    return await checkStore(config, store.kv);
  } finally {
    store.close();
  }
}

async function init(values: { 'dynamodb-table'?: string | undefined; 'dynamodb-endpoint'?: string | undefined }, env: CliIo['env']): Promise<StoreCheckReport> {
  const table = values['dynamodb-table'] ?? env['TRUSTGATE_DYNAMODB_TABLE'];
  if (table === undefined || table === '') throw new UsageError('store init needs --dynamodb-table NAME (the SQLite store creates itself)');
  const endpoint = values['dynamodb-endpoint'] ?? env['TRUSTGATE_DYNAMODB_ENDPOINT'];
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const { dynamoDbClient, initDynamoDbTable } = await import('../../infra/store/dynamodb-table.js');
  const client = dynamoDbClient({ ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) });
  try {
    return await initDynamoDbTable(client, table, (ms) => sleep(ms));
  } finally {
    client.destroy();
  }
}

function print(io: CliIo, report: StoreCheckReport): ExitCode {
  io.stdout(`store: ${report.kind}\n${report.findings.map((line) => `  ${line}\n`).join('')}${report.warnings.map((line) => `  warning: ${line}\n`).join('')}`);
  return ExitCode.ALLOWED;
}
