// `serve --policies-from-cluster`: the policies in force are what the API server holds.
// ImagePolicies, ClusterImagePolicies and Secrets are listed and watched with
// @kubernetes/client-node's ListWatch informer (list, then watch from the list's
// resourceVersion; a watch that ends is resumed from the last resourceVersion seen; a 410
// Gone, as an ERROR event or as the answer, starts a fresh list). This module adds what a
// controller needs on top:
//   - a failed list or watch (the informer stops) is retried with capped exponential backoff
//     and jitter, resuming from the last resourceVersion;
//   - every watch asks the server to end it after WATCH_TIMEOUT_S (with bookmarks, so the
//     resourceVersion stays fresh) and is aborted locally WATCH_GRACE_MS later, so a
//     connection that died without a FIN is noticed within that time;
//   - objects are decoded one at a time (shared/policy/cluster-policy-objects.ts); a change
//     that matters builds a new PolicySet CHANGE_DELAY_MS later (coalescing bursts such as a
//     re-list), swapped in whole, as the file reloader does;
//   - an invalid object is reported once per version: log line, metric, and a Warning Event
//     on the object.
//
// While the API server cannot be reached, the last good set keeps deciding (counted per
// read) for at most `maxStaleMs`; after that, reads fail with POLICY_SOURCE_UNAVAILABLE (every
// admission is denied) and readiness says why. Deciding on forever would let whoever can cut
// this process off from the API server freeze the policies: a revoked signer or a tightened
// policy would never take effect (the freeze attack TUF's timestamps defend against).
import { hostname } from 'node:os';
import type { CoreV1Api, KubernetesListObject, KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { PolicyMetric } from '../../shared/metrics/admission-metrics.js';
import { createClusterPolicyObjects, describeObject, type ObjectOutcome, type PolicyObjectKind } from '../../shared/policy/cluster-policy-objects.js';
import type { PolicySet } from '../../shared/policy/model.js';
import type { Clock, Logger, Metrics } from '../../shared/ports.js';
import type { LoadedKubeConfig } from './kube-config.js';

// Longest a watch request lives before the server ends it (and it is resumed).
export const WATCH_TIMEOUT_S = 60;
const WATCH_GRACE_MS = 15_000;
// How long after a change the new set is built.
export const CHANGE_DELAY_MS = 100;
// Retry backoff after a failed list or watch: 250 ms doubling to 5 s, with jitter.
const BACKOFF_FIRST_MS = 250;
export const BACKOFF_MAX_MS = 5_000;
// Longest message of an Event (the API server's own limit is 1 KiB on the note).
const EVENT_MESSAGE_MAX = 1_000;
// Secrets of these types never hold policy keys and can be large and many (Helm keeps every
// release in one): the API server filters them out before they reach this process.
const SECRET_FIELD_SELECTOR = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

const GROUP = 'portieris.cloud.ibm.com';
const VERSION = 'v1';

interface Resource {
  readonly kind: PolicyObjectKind;
  readonly path: string;
  readonly fieldSelector?: string;
}

const RESOURCES: readonly Resource[] = [
  { kind: 'ClusterImagePolicy', path: `/apis/${GROUP}/${VERSION}/clusterimagepolicies` },
  { kind: 'ImagePolicy', path: `/apis/${GROUP}/${VERSION}/imagepolicies` },
  { kind: 'Secret', path: '/api/v1/secrets', fieldSelector: SECRET_FIELD_SELECTOR },
];

export interface ClusterPolicySourceDeps {
  readonly kube: LoadedKubeConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  // How long the last good set may decide while the API server cannot be reached.
  readonly maxStaleMs: number;
}

export interface ClusterPolicySource {
  // Resolves once every resource has been listed and the first set built.
  readonly synced: Promise<void>;
  // The set in force; POLICY_SOURCE_UNAVAILABLE once it is older than allowed.
  policies(): PolicySet;
  // For /readyz: not ready before the first set, or once reads are refused.
  readiness(): { ready: boolean; reason?: string };
  stop(): Promise<void>;
}

interface Health {
  failingSince: Date | undefined;
  lastError: string | undefined;
  failures: number;
  listed: boolean;
  // Why the next list happens: 'start', or 'expired' after a 410, or 'error'.
  nextListReason: 'start' | 'expired' | 'error';
}

export function startClusterPolicySource(deps: ClusterPolicySourceDeps): ClusterPolicySource {
  const { client, config } = deps.kube;
  const objects = createClusterPolicyObjects();
  const core = config.makeApiClient(client.CoreV1Api);
  const custom = config.makeApiClient(client.CustomObjectsApi);
  const health = new Map<PolicyObjectKind, Health>(RESOURCES.map((resource) => [resource.kind, { failingSince: undefined, lastError: undefined, failures: 0, listed: false, nextListReason: 'start' }]));
  // Object uid -> the resourceVersion last reported invalid: one report per version.
  const reported = new Map<string, string>();
  let set: PolicySet | undefined;
  let rebuildTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const retryTimers = new Set<NodeJS.Timeout>();
  // Every open watch, aborted on stop (ListWatch.stop aborts only the one it knows of).
  const watches: OpenWatches = { open: new Set(), closed: false };
  let resolveSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));

  const healthOf = (kind: PolicyObjectKind): Health => health.get(kind) as Health;

  const markHealthy = (kind: PolicyObjectKind): void => {
    const state = healthOf(kind);
    if (state.failingSince !== undefined) deps.logger.info('policy watch recovered', { resource: kind, failingSince: state.failingSince.toISOString() });
    state.failingSince = undefined;
    state.lastError = undefined;
    state.failures = 0;
  };

  // Builds the set once every resource is listed; before that nothing is served.
  const rebuild = (): void => {
    rebuildTimer = undefined;
    if (![...health.values()].every((state) => state.listed)) return;
    const first = set === undefined;
    set = objects.toPolicySet();
    deps.metrics.increment(PolicyMetric.RELOADS, { outcome: 'reloaded' });
    deps.logger.info(first ? 'policies loaded from the cluster' : 'policies reloaded from the cluster', {
      imagePolicies: set.imagePolicies.length,
      clusterImagePolicies: set.clusterPolicies.length,
      secrets: set.secrets.length,
    });
    if (first) resolveSynced();
  };
  const scheduleRebuild = (): void => {
    rebuildTimer ??= setTimeout(rebuild, CHANGE_DELAY_MS);
  };

  const report = (outcome: ObjectOutcome, object: KubernetesObject): void => {
    if (outcome.kind !== 'invalid') return;
    const uid = object.metadata?.uid ?? describeObject(outcome.id);
    const version = object.metadata?.resourceVersion ?? '';
    if (reported.get(uid) === version) return;
    reported.set(uid, version);
    const what = describeObject(outcome.id);
    const consequence = outcome.kept ? 'its previous valid version stays in force' : consequenceOf(outcome.id.kind);
    deps.metrics.increment(PolicyMetric.INVALID_OBJECTS, { kind: outcome.id.kind });
    deps.logger.error('invalid policy object: the rest of the policies stay in force', {
      object: what,
      consequence,
      problems: outcome.problems.map((problem) => `${problem.path}: ${problem.message}`),
    });
    const first = outcome.problems[0];
    const message = `${what} is invalid (${outcome.problems.length} problem${outcome.problems.length === 1 ? '' : 's'}), ${consequence}. First: ${first?.path ?? ''}: ${first?.message ?? ''}`;
    void recordEvent(core, outcome.id.kind, object, message, deps.clock.now()).catch((error: unknown) => {
      deps.logger.warn('could not record an Event for an invalid policy object', { object: what, error: errorText(error) });
    });
  };

  const onChange = (kind: PolicyObjectKind, object: KubernetesObject): void => {
    if (kind === 'Secret' && !objects.isReferencedSecret(object.metadata?.name ?? '')) {
      // Unreferenced Secrets are still decoded lazily when a policy starts naming one.
      objects.apply(kind, object);
      return;
    }
    report(objects.apply(kind, object), object);
    scheduleRebuild();
  };
  const onDelete = (kind: PolicyObjectKind, object: KubernetesObject): void => {
    reported.delete(object.metadata?.uid ?? '');
    const referenced = kind !== 'Secret' || objects.isReferencedSecret(object.metadata?.name ?? '');
    if (objects.remove(kind, object) && referenced) scheduleRebuild();
  };

  const informers = RESOURCES.map((resource) => {
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const state = healthOf(resource.kind);
      deps.metrics.increment(PolicyMetric.WATCH_LISTS, { resource: resource.kind, reason: state.nextListReason });
      const answer = resource.kind === 'Secret'
        ? await listSecrets(core, resource.fieldSelector)
        : ((await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: resource.path.slice(resource.path.lastIndexOf('/') + 1) })) as KubernetesListObject<KubernetesObject>);
      markHealthy(resource.kind);
      state.nextListReason = 'error';
      // The informer adds the items right after this resolves; the set is built after that.
      setImmediate(() => {
        state.listed = true;
        scheduleRebuild();
      });
      return answer;
    };
    const watch = createTimedWatch(deps.kube, watches, {
      connected: () => markHealthy(resource.kind),
      expired: () => {
        healthOf(resource.kind).nextListReason = 'expired';
        deps.logger.info('policy watch expired (410 Gone): listing again', { resource: resource.kind });
      },
    });
    const informer = new client.ListWatch<KubernetesObject>(resource.path, watch, list, false, undefined, resource.fieldSelector);
    informer.on('add', (object) => onChange(resource.kind, object));
    informer.on('update', (object) => onChange(resource.kind, object));
    informer.on('delete', (object) => onDelete(resource.kind, object));
    informer.on('error', (error) => {
      if (stopped) return;
      const state = healthOf(resource.kind);
      state.failingSince ??= deps.clock.now();
      state.lastError = errorText(error);
      state.failures += 1;
      deps.metrics.increment(PolicyMetric.WATCH_ERRORS, { resource: resource.kind });
      const delay = backoffMs(state.failures);
      deps.logger.warn('policy watch failed: the policies in force stay in force, retrying', { resource: resource.kind, error: state.lastError, retryInMs: delay });
      const timer = setTimeout(() => {
        retryTimers.delete(timer);
        if (!stopped) startInformer(informer);
      }, delay);
      retryTimers.add(timer);
    });
    return informer;
  });
  // ListWatch reports a failed start through its error callbacks as well; a throw before
  // that (a kubeconfig that cannot sign the request) is reported the same way.
  const startInformer = (informer: ListWatch<KubernetesObject>): void => {
    informer.start().catch((error: unknown) => {
      if (!stopped) deps.logger.warn('policy watch could not start', { error: errorText(error) });
    });
  };
  informers.forEach(startInformer);

  // The oldest failure among the resources, if any is failing.
  const failingSince = (): Date | undefined =>
    [...health.values()].map((state) => state.failingSince).reduce<Date | undefined>((oldest, since) => (since !== undefined && (oldest === undefined || since < oldest) ? since : oldest), undefined);
  const staleError = (): TrustgateError | undefined => {
    const since = failingSince();
    if (since === undefined || deps.clock.now().getTime() - since.getTime() <= deps.maxStaleMs) return undefined;
    const errors = [...health.entries()].filter(([, state]) => state.lastError !== undefined).map(([kind, state]) => `${kind}: ${state.lastError ?? ''}`);
    return new TrustgateError(
      ErrorCode.POLICY_SOURCE_UNAVAILABLE,
      `the policies could not be read from the Kubernetes API since ${since.toISOString()} (longer than ${Math.round(deps.maxStaleMs / 1000)} s), so none are in force: ${errors.join('; ')}`,
    );
  };

  return {
    synced,
    policies() {
      if (set === undefined) throw new TrustgateError(ErrorCode.POLICY_SOURCE_UNAVAILABLE, 'the policies have not been read from the Kubernetes API yet');
      if (failingSince() === undefined) return set;
      const refused = staleError();
      deps.metrics.increment(PolicyMetric.STALE_READS, { outcome: refused === undefined ? 'served' : 'refused' });
      if (refused !== undefined) throw refused;
      return set;
    },
    readiness() {
      if (set === undefined) return { ready: false, reason: 'policies not read from the Kubernetes API yet' };
      const refused = staleError();
      return refused === undefined ? { ready: true } : { ready: false, reason: refused.message };
    },
    async stop() {
      stopped = true;
      for (const timer of retryTimers) clearTimeout(timer);
      if (rebuildTimer !== undefined) clearTimeout(rebuildTimer);
      await Promise.all(informers.map((informer) => informer.stop()));
      watches.closed = true;
      for (const controller of watches.open) controller.abort();
    },
  };
}

function consequenceOf(kind: PolicyObjectKind): string {
  if (kind === 'ImagePolicy') return 'and as it has no valid version in force its namespace denies every image until it is fixed or deleted';
  if (kind === 'ClusterImagePolicy') return 'and as it has no valid version in force every image in every namespace is denied until it is fixed or deleted';
  return 'and as it has no valid version in force policies naming it deny (POLICY_SECRET_MISSING)';
}

// The informer's watch with a server-side timeout, bookmarks and a local deadline, telling
// the source when a watch is connected and when the server answered 410 Gone.
interface OpenWatches {
  readonly open: Set<AbortController>;
  // Set on stop: a watch that connects afterwards is aborted at once.
  closed: boolean;
}

function createTimedWatch(kube: LoadedKubeConfig, watches: OpenWatches, hooks: { connected(): void; expired(): void }): InstanceType<LoadedKubeConfig['client']['Watch']> {
  const Base = kube.client.Watch;
  class TimedWatch extends Base {
    // Same contract as Watch.watch; see the module comment for what is added.
    override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
      let ended = false;
      let deadline: NodeJS.Timeout | undefined;
      const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_S };
      const onEvent = (phase: string, object: unknown, watchObject?: unknown): void => {
        if (phase === 'ERROR' && (object as { code?: unknown } | null)?.code === 410) hooks.expired();
        callback(phase, object, watchObject);
      };
      // Assigned once the request is answered; onDone may run before that (a refused request).
      let controller: AbortController | undefined = undefined;
      const onDone = (error: unknown): void => {
        ended = true;
        if (controller !== undefined) watches.open.delete(controller);
        if (deadline !== undefined) clearTimeout(deadline);
        if ((error as { statusCode?: unknown } | null)?.statusCode === 410) hooks.expired();
        done(error);
      };
      controller = await super.watch(path, params, onEvent, onDone);
      if (watches.closed) controller.abort();
      if (!ended) {
        watches.open.add(controller);
        hooks.connected();
        const started = controller;
        deadline = setTimeout(() => started.abort(), WATCH_TIMEOUT_S * 1000 + WATCH_GRACE_MS);
        deadline.unref();
      }
      return controller;
    }
  }
  return new TimedWatch(kube.config);
}

// Secrets across namespaces as plain API objects (the client's list answer holds model
// objects; the watch hands over parsed JSON; the decoder takes both).
async function listSecrets(core: CoreV1Api, fieldSelector: string | undefined): Promise<KubernetesListObject<KubernetesObject>> {
  return core.listSecretForAllNamespaces(fieldSelector === undefined ? {} : { fieldSelector });
}

// A Warning Event on the object (cluster-scoped objects' Events go to "default", as
// kubectl looks for them there), so `kubectl describe` shows what is wrong.
async function recordEvent(core: CoreV1Api, kind: PolicyObjectKind, object: KubernetesObject, message: string, now: Date): Promise<void> {
  const name = object.metadata?.name ?? 'unknown';
  const namespace = object.metadata?.namespace ?? 'default';
  await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: {
        apiVersion: kind === 'Secret' ? 'v1' : `${GROUP}/${VERSION}`,
        kind,
        name,
        ...(object.metadata?.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
        ...(object.metadata?.uid === undefined ? {} : { uid: object.metadata.uid }),
        ...(object.metadata?.resourceVersion === undefined ? {} : { resourceVersion: object.metadata.resourceVersion }),
      },
      reason: kind === 'Secret' ? 'InvalidSecret' : 'InvalidPolicy',
      message: message.length > EVENT_MESSAGE_MAX ? `${message.slice(0, EVENT_MESSAGE_MAX - 3)}...` : message,
      type: 'Warning',
      source: { component: 'trustgate' },
      reportingComponent: 'trustgate',
      reportingInstance: hostname(),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}

function backoffMs(failures: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(failures - 1, 10));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

// Client errors carry the HTTP status as `statusCode` or `code`; the message never holds the token.
function errorText(error: unknown): string {
  if (!(error instanceof Error)) return typeof error === 'string' ? error : 'unknown error';
  const status = (error as { statusCode?: unknown; code?: unknown }).statusCode ?? (error as { code?: unknown }).code;
  const message = error.message.split('\n')[0] ?? '';
  return (typeof status === 'string' || typeof status === 'number' ? `${status} ${message}` : message).slice(0, 300);
}
