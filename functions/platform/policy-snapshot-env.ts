// The deployed functions' policies from the cluster's policy snapshot in the store, when
// TRUSTGATE_POLICY_CLUSTER_ID names a cluster (published by `serve --publish-cluster-id` or
// `trustgate policy apply`). TRUSTGATE_POLICY_REFRESH (seconds, default 10, 0..3600) bounds how
// long a snapshot is used before the store is asked for a newer one. Exclusive with
// TRUSTGATE_POLICIES; needs a persistent store (the snapshot is written there by another
// process).
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { PolicySet } from '../../shared/policy/model.js';
import { assertClusterId } from '../../shared/policy/cluster-id.js';
import { noopMetrics, type Clock, type KvStore, type Logger } from '../../shared/ports.js';

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_POLICY_REFRESH_S = 10;
const MAX_POLICY_REFRESH_S = 3600;

// `openKv` is called once, on first use; its store must authenticate entries (openStore's do).
export function snapshotPoliciesFromEnv(env: Env, openKv: () => { readonly kv: KvStore; readonly persistent: boolean }, clock: Clock, logger: Logger): (() => Promise<PolicySet>) | undefined {
  const clusterId = env['TRUSTGATE_POLICY_CLUSTER_ID'];
  if (clusterId === undefined || clusterId === '') return undefined;
  assertClusterId(clusterId);
  if (env['TRUSTGATE_POLICIES'] !== undefined && env['TRUSTGATE_POLICIES'] !== '') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'TRUSTGATE_POLICIES and TRUSTGATE_POLICY_CLUSTER_ID are exclusive: expected one source of policies, got both');
  }
  const refreshMs = decodeRefreshSeconds(env['TRUSTGATE_POLICY_REFRESH']) * 1000;
  const opened = openKv();
  if (!opened.persistent) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'TRUSTGATE_POLICY_CLUSTER_ID needs the store the snapshot is published to: expected TRUSTGATE_DYNAMODB_TABLE or TRUSTGATE_STATE_DIR, got neither');
  }
  // The snapshot reader (and the policy decoders under it) is loaded on the first read, so
  // a cold container pays for it only when it decides.
  let source: Promise<() => Promise<PolicySet>> | undefined;
  return () => {
    source ??= import('../../shared/policy/snapshot-store.js').then(({ createSnapshotPolicySource }) =>
      createSnapshotPolicySource({ kv: opened.kv, clusterId, clock, refreshMs, logger, metrics: noopMetrics }),
    );
    return source.then((read) => read());
  };
}

function decodeRefreshSeconds(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_POLICY_REFRESH_S;
  if (!/^\d{1,4}$/.test(text) || Number(text) > MAX_POLICY_REFRESH_S) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_POLICY_REFRESH must be whole seconds 0..${MAX_POLICY_REFRESH_S}, got ${JSON.stringify(text.slice(0, 20))}`);
  }
  return Number(text);
}
