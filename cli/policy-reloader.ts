// The policies a running `serve` enforces, re-read while it runs: on SIGHUP and every
// `--policies-interval` seconds, so an edited ConfigMap takes effect without a restart once
// the kubelet has swapped it into the mounted folder.
//
// Fail-safe: a reload that cannot be read or does not decode cleanly, or fails in any other
// way, changes nothing. The
// policies in force stay in force, the failure is logged with every problem and counted,
// and the next reload tries again. Swapping in a partial set, or none, could admit what
// the missing documents deny. An unchanged folder keeps the same PolicySet object, so the
// memos keyed on it stay warm.
import { isTrustgateError } from '../shared/errors.js';
import { decodePolicyDocuments } from '../shared/policy/decode-documents.js';
import type { PolicySet } from '../shared/policy/model.js';
import type { PolicyFile } from '../shared/policy/parse-policy-stream.js';
import { readPolicyFiles } from '../shared/policy/policy-files.js';
import { PolicyMetric } from '../shared/metrics/admission-metrics.js';
import type { Logger, Metrics } from '../shared/ports.js';
import { formatProblem } from './policy-set.js';

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'rejected';

export interface PolicyReloader {
  // The policy set in force.
  current(): PolicySet;
  // Reads the path again; a reload already running is joined, not repeated. Never rejects.
  reload(trigger: string): Promise<ReloadOutcome>;
}

export interface PolicyReloaderDeps {
  readonly path: string;
  // The files as read at start, and the set decoded from them.
  readonly files: readonly PolicyFile[];
  readonly set: PolicySet;
  // Default: the policy files on disk, decoded as at start.
  readonly read?: (path: string) => Promise<PolicyFile[]>;
  readonly decode?: (files: readonly PolicyFile[]) => PolicySet;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function createPolicyReloader(deps: PolicyReloaderDeps): PolicyReloader {
  const read = deps.read ?? readPolicyFiles;
  const decode = deps.decode ?? decodePolicyDocuments;
  let set = deps.set;
  let fingerprint = fingerprintOf(deps.files);
  let running: Promise<ReloadOutcome> | undefined;

  const attempt = async (trigger: string): Promise<ReloadOutcome> => {
    let next: PolicySet;
    let nextFingerprint: string;
    try {
      const files = await read(deps.path);
      nextFingerprint = fingerprintOf(files);
      if (nextFingerprint === fingerprint) return 'unchanged';
      next = decode(files);
    } catch (error) {
      const problems = isTrustgateError(error) && error.problems.length > 0 ? error.problems.map(formatProblem) : [error instanceof Error ? error.message : String(error)];
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
