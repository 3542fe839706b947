// `serve --publish-cluster-id ID`: the policy set in force, published to the store as the
// cluster's policy snapshot (shared/policy/snapshot-store.ts) for the deployed functions.
// The source is whatever serve decides with (the file reloader today); the publisher
// notices a new set by identity (every source builds a new PolicySet object on a change and
// keeps the same one otherwise) within `intervalMs`, and publishes at start.
//
// A failed publish (store down, another writer first) is logged and counted and retried
// on the next tick; the functions keep their last good snapshot meanwhile. One writer per
// cluster id: with `mayPublish` (the Lease of infra/kubernetes-api/lease-lock.ts) only its holder
// publishes, and it forgets what it published whenever it does not hold it, so a replica
// that takes over publishes its set at once. Without it (policies from files: no cluster to
// hold a Lease in), the conditional head write only keeps two writers' snapshots from
// interleaving.
import { isTrustgateError } from '../shared/errors.js';
import type { PolicySet } from '../shared/policy/model.js';
import { publishPolicySnapshot } from '../shared/policy/snapshot-store.js';
import type { Clock, KvStore, Logger, Metrics } from '../shared/ports.js';
import { PolicyMetric } from '../shared/metrics/admission-metrics.js';

export interface PolicyPublisherDeps {
  readonly current: () => PolicySet;
  readonly kv: KvStore;
  readonly clusterId: string;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  // Whether this process is the cluster id's writer now; absent: always.
  readonly mayPublish?: () => boolean;
}

export interface PolicyPublisher {
  // Publishes the current set unless it is the one last published; never rejects.
  publish(): Promise<void>;
  // Stops publishing; resolves once a publish already under way has ended, so a caller that
  // then gives up the Lease knows no write of this process lands after it.
  stop(): Promise<void>;
}

export const DEFAULT_PUBLISH_INTERVAL_MS = 2_000;

export function startPolicyPublisher(deps: PolicyPublisherDeps): PolicyPublisher {
  let published: PolicySet | undefined;
  let running: Promise<void> | undefined;

  const attempt = async (): Promise<void> => {
    try {
      // The current set can be unavailable (cluster policies too old): nothing is published
      // then, and the last snapshot stays.
      if (deps.mayPublish !== undefined && !deps.mayPublish()) {
        published = undefined;
        return;
      }
      const set = deps.current();
      if (set === published) return;
      const result = await publishPolicySnapshot(deps.kv, deps.clusterId, set, deps.clock.now().getTime());
      published = set;
      deps.metrics.increment(PolicyMetric.SNAPSHOT_PUBLISHES, { outcome: result.outcome });
      if (result.outcome === 'published') {
        deps.logger.info('policy snapshot published', { clusterId: deps.clusterId, version: result.version, sha256: result.sha256, ...result.changes });
      }
    } catch (error) {
      const code = isTrustgateError(error) ? error.code : 'INTERNAL';
      deps.metrics.increment(PolicyMetric.SNAPSHOT_PUBLISHES, { outcome: code === 'POLICY_SNAPSHOT_CONFLICT' ? 'conflict' : 'failed' });
      deps.logger.error('policy snapshot not published: will retry', { clusterId: deps.clusterId, code, message: error instanceof Error ? error.message : String(error) });
    }
  };

  const publish = (): Promise<void> => {
    running ??= attempt().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void publish(), deps.intervalMs);
  timer.unref();
  void publish();
  let stopped = false;
  return {
    publish: () => (stopped ? Promise.resolve() : publish()),
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
