// `trustgate policy apply PATH --cluster-id ID [--state-dir DIR | --dynamodb-table NAME
// [--dynamodb-endpoint URL]]`: publishes a policy file or folder as the cluster's policy
// snapshot, for deployed functions of a cluster without the proxy. The set is validated as
// `policy lint` validates it and an invalid set publishes nothing; what changed is printed,
// one document per line. Exit 0 published or unchanged, 1 refused (invalid set, another
// writer first, store down), 2 usage or configuration.
import { parseArgs } from 'node:util';
import { decodeStoreConfig, openStore } from '../../infra/store/open-store.js';
import { ErrorCode, isTrustgateError } from '../../shared/errors.js';
import { assertClusterId } from '../../shared/policy/policy-snapshot.js';
import { publishPolicySnapshot } from '../../shared/policy/snapshot-store.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { loadPolicySet } from '../policy-set.js';
import { resolveStateDir } from '../state-dir.js';

const OPTIONS = {
  'cluster-id': { type: 'string' },
  'state-dir': { type: 'string' },
  'dynamodb-table': { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
} as const;

export async function runPolicyApply(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
  const [path, ...extra] = positionals;
  if (path === undefined) throw new UsageError('missing PATH');
  if (extra.length > 0) throw new UsageError('expected exactly one PATH');
  const clusterId = values['cluster-id'];
  if (clusterId === undefined) throw new UsageError('policy apply needs --cluster-id ID');
  try {
    assertClusterId(clusterId);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // Invalid policies: ConfigError listing every problem, before the store is opened.
  const set = await loadPolicySet(path).catch((error: unknown) => {
    if (error instanceof ConfigError) {
      io.stdout(error.problems.map((line) => `${line}\n`).join(''));
      io.stderr(`trustgate: ${error.message}: nothing published\n`);
      return undefined;
    }
    throw error;
  });
  if (set === undefined) return ExitCode.DENIED;
  let store;
  try {
    const config = decodeStoreConfig(
      { stateDir: values['state-dir'], dynamodbTable: values['dynamodb-table'], dynamodbEndpoint: values['dynamodb-endpoint'] },
      io.env,
      resolveStateDir(values['state-dir'], io.env),
    );
    if (config.kind === 'memory') throw new ConfigError('policy apply needs a persistent store: --state-dir or --dynamodb-table');
    store = openStore(config, io.clock);
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
  try {
    const result = await publishPolicySnapshot(store.kv, clusterId, set, io.clock.now().getTime());
    if (result.outcome === 'unchanged') {
      io.stdout(`unchanged: cluster ${clusterId} policy snapshot version ${result.version} already holds these policies\n`);
      return ExitCode.ALLOWED;
    }
    const { added, removed, changed } = result.changes;
    const lines = [...added.map((id) => `added: ${id}`), ...removed.map((id) => `removed: ${id}`), ...changed.map((id) => `changed: ${id}`)];
    io.stdout(lines.map((line) => `${line}\n`).join(''));
    io.stdout(`published: cluster ${clusterId} policy snapshot version ${result.version} (sha256 ${result.sha256}; ${added.length} added, ${removed.length} removed, ${changed.length} changed)\n`);
    return ExitCode.ALLOWED;
  } catch (error) {
    if (!isTrustgateError(error)) throw error;
    if (error.code === ErrorCode.CONFIG_INVALID) throw new ConfigError(error.message);
    io.stderr(`trustgate: [${error.code}] ${error.message}\n`);
    return ExitCode.DENIED;
  } finally {
    store.close();
  }
}
