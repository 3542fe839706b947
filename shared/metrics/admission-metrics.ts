// The metrics the webhook publishes, defined once so the recorders and the registry agree.
import type { MetricDefinition } from './prometheus-registry.js';

export const AdmissionMetric = {
  REQUESTS: 'trustgate_admission_requests_total',
  DECISIONS: 'trustgate_admission_decisions_total',
  DURATION: 'trustgate_admission_duration_seconds',
  VERIFICATIONS: 'trustgate_verifications_total',
  WOULD_DENY: 'trustgate_admission_would_deny_total',
} as const;

export const ADMISSION_METRICS: Readonly<Record<string, MetricDefinition>> = {
  [AdmissionMetric.REQUESTS]: { type: 'counter', help: 'AdmissionReviews received on /admit.' },
  [AdmissionMetric.DECISIONS]: {
    type: 'counter',
    help: 'Admission decisions by outcome (allowed, denied, invalid, timeout, unchecked).',
  },
  [AdmissionMetric.DURATION]: { type: 'histogram', help: 'Time from receiving an AdmissionReview to answering it, in seconds.' },
  [AdmissionMetric.VERIFICATIONS]: {
    type: 'counter',
    help: 'Image verifications by result code (OK when allowed, else the first error code).',
  },
  [AdmissionMetric.WOULD_DENY]: {
    type: 'counter',
    help: 'Images whose policies in warn or audit mode failed (what enforce would have denied), by mode.',
  },
};

// Recorded by the Notary verifier (trust server round trips, cache use, store failures) and
// the cosign verifier (its signature cache's use and store failures, under the same labels).
export const TRUST_METRICS: Readonly<Record<string, MetricDefinition>> = {
  trustgate_trust_server_requests_total: { type: 'counter', help: 'Requests to trust servers by outcome (HTTP status or error).' },
  trustgate_cache_requests_total: { type: 'counter', help: 'Verifications answered from the trust cache (Notary trusted state, cosign signatures: hit), after reading the trust server or registry (miss) or stale during an outage.' },
  trustgate_store_errors_total: { type: 'counter', help: 'Trust cache store failures (Notary trusted state, cosign signatures) by operation (read, write).' },
};

// Recorded by serve when it re-reads its policies.
export const PolicyMetric = {
  RELOADS: 'trustgate_policy_reloads_total',
  SNAPSHOT_PUBLISHES: 'trustgate_policy_snapshot_publishes_total',
  INVALID_OBJECTS: 'trustgate_policy_objects_invalid_total',
  WATCH_LISTS: 'trustgate_policy_watch_lists_total',
  WATCH_ERRORS: 'trustgate_policy_watch_errors_total',
  STALE_READS: 'trustgate_policy_stale_reads_total',
  SECRETS_HELD: 'trustgate_policy_secrets_held',
  SECRET_BYTES_HELD: 'trustgate_policy_secret_bytes_held',
  SECRETS_LEFT_OUT: 'trustgate_policy_secrets_left_out',
  SECRET_WATCHES: 'trustgate_policy_secret_watches',
} as const;

export const POLICY_METRICS: Readonly<Record<string, MetricDefinition>> = {
  [PolicyMetric.RELOADS]: { type: 'counter', help: 'Policy re-reads that changed the policies in force (reloaded) or were refused, keeping them (rejected).' },
  [PolicyMetric.SNAPSHOT_PUBLISHES]: { type: 'counter', help: 'Policy snapshot publications by outcome (published, unchanged, conflict, failed).' },
};

// Recorded by serve --policies-from-cluster.
export const CLUSTER_POLICY_METRICS: Readonly<Record<string, MetricDefinition>> = {
  [PolicyMetric.INVALID_OBJECTS]: { type: 'counter', help: 'Policy objects (ImagePolicy, ClusterImagePolicy, Secret) whose version in the cluster does not decode.' },
  [PolicyMetric.WATCH_LISTS]: { type: 'counter', help: 'Full lists of a watched resource by reason (start, expired after 410 Gone, error).' },
  [PolicyMetric.WATCH_ERRORS]: { type: 'counter', help: 'Failed lists or watches of a watched resource, each retried with backoff.' },
  [PolicyMetric.STALE_READS]: { type: 'counter', help: 'Policy reads while the Kubernetes API could not be read: served from the last good set, or refused once it was too old.' },
  [PolicyMetric.SECRETS_HELD]: { type: 'gauge', help: 'Secrets named by the policies in force that serve holds.' },
  [PolicyMetric.SECRET_BYTES_HELD]: { type: 'gauge', help: 'Bytes of the Secrets serve holds (each counted as the JSON the API server sent).' },
  [PolicyMetric.SECRETS_LEFT_OUT]: { type: 'gauge', help: 'Secrets (or Secret names) that policies name but serve does not hold because its bounds were reached; policies needing them deny.' },
  [PolicyMetric.SECRET_WATCHES]: { type: 'gauge', help: 'Secret names watched through the Kubernetes API (one watch each).' },
};
