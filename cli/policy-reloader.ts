// The policies a running `serve` enforces, re-read while it runs: on SIGHUP and every
// `--policies-interval` seconds, so an edited ConfigMap (which the kubelet swaps into the
// mounted folder within about a minute) takes effect without a restart.
//
// Fail-safe: a reload that cannot be read or does not decode cleanly changes nothing. The
// policies in force stay in force, the failure is logged with every problem and counted,
// and the next reload tries again. Swapping in a partial set, or none, could admit what
// the missing documents deny. An unchanged folder keeps the same PolicySet object, so the
// memos keyed on it stay warm.
import { ErrorCode, isTrustgateError } from '../shared/errors.js';
import type { PolicySet } from '../shared/policy/model.js';
import type { PolicyFile } from '../shared/policy/parse-policy-stream.js';
import { PolicyMetric } from '../shared/metrics/admission-metrics.js';
import type { Logger, Metrics } from '../shared/ports.js';
import { formatProblem } from './policy-set.js';

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'rejected';

export interface PolicyReloader {
  // The policy set in force.
  current(): PolicySet;
  // Reads the path again; a reload already running is joined, not repeated.
  reload(trigger: string): Promise<ReloadOutcome>;
}

export interface PolicyReloaderDeps {
  readonly path: string;
  // The files as read at start, and the set decoded from them.
  readonly files: readonly PolicyFile[];
  readonly set: PolicySet;
  readonly read: (path: string) => Promise<PolicyFile[]>;
  readonly decode: (files: readonly PolicyFile[]) => PolicySet;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function createPolicyReloader(deps: PolicyReloaderDeps): PolicyReloader {
  let set = deps.set;
  let fingerprint = fingerprintOf(deps.files);
  let running: Promise<ReloadOutcome> | undefined;

  const attempt = async (trigger: string): Promise<ReloadOutcome> => {
    let next: PolicySet;
    let nextFingerprint: string;
    try {
      const files = await deps.read(deps.path);
      nextFingerprint = fingerprintOf(files);
      if (nextFingerprint === fingerprint) return 'unchanged';
      next = deps.decode(files);
    } catch (error) {
      if (!isTrustgateError(error) || error.code === ErrorCode.INTERNAL) throw error;
      const problems = error.problems.length > 0 ? error.problems.map(formatProblem) : [error.message];
      deps.logger.error('policies not reloaded: the policies in force stay in force', { path: deps.path, trigger, problems });
      deps.metrics.increment(PolicyMetric.RELOADS, { outcome: 'rejected' });
      return 'rejected';
    }
    set = next;
    fingerprint = nextFingerprint;
    deps.logger.info('policies reloaded', {
      path: deps.path,
      trigger,
      imagePolicies: next.imagePolicies.length,
      clusterImagePolicies: next.clusterPolicies.length,
    });
    deps.metrics.increment(PolicyMetric.RELOADS, { outcome: 'reloaded' });
    return 'reloaded';
  };

  return {
    current: () => set,
    reload(trigger) {
      running ??= attempt(trigger).finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

// What the files hold, names included: equal fingerprints mean nothing to decode again.
function fingerprintOf(files: readonly PolicyFile[]): string {
  return JSON.stringify(files.map((file) => [file.source, file.text]));
}
