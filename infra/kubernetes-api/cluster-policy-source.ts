// `serve --policies-from-cluster`: the policies in force are what the API server holds.
// ImagePolicies and ClusterImagePolicies are listed and watched, and so is each Secret name
// the policies in force name (one watch per name, selected by the API server with
// `metadata.name=`, in the ImagePolicy's namespace or in every namespace for a
// ClusterImagePolicy), all with
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
// Security: Secrets are written by tenants. A Secret no policy names is never sent to this
// process; those that are named are held within the bounds of shared/policy/secret-budget.ts.
// A version that does not fit is replaced, before the informer caches it, by a stub of its
// name and version, and the policies needing it deny with POLICY_SECRET_OVER_LIMIT; it is read
// again (the watch of its name re-lists) when room is freed. Gauges on /metrics say what is
// held, watched and left out.
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
import type { PolicySet, SecretScope } from '../../shared/policy/model.js';
import { chargeChanged, createSecretBudget, DEFAULT_SECRET_BOUNDS, scopeKey, secretChargedTo, selectWatchedScopes, type SecretBounds } from '../../shared/policy/secret-budget.js';
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
// Secrets are listed in pages of this many, so a list never holds more than one page of
// Secrets beyond what the bounds allow.
const SECRET_LIST_PAGE = 20;

const GROUP = 'portieris.cloud.ibm.com';
const VERSION = 'v1';

interface Resource {
  readonly kind: 'ClusterImagePolicy' | 'ImagePolicy';
  readonly path: string;
}

const RESOURCES: readonly Resource[] = [
  { kind: 'ClusterImagePolicy', path: `/apis/${GROUP}/${VERSION}/clusterimagepolicies` },
  { kind: 'ImagePolicy', path: `/apis/${GROUP}/${VERSION}/imagepolicies` },
];

// The watch of one Secret name, and what it is known by in the health table. `scope`: as the
// policies in force last named it (who is charged for what it holds).
interface SecretWatcher {
  scope: SecretScope;
  readonly healthKey: string;
  readonly informer: ListWatch<KubernetesObject>;
  stopped: boolean;
}

export interface ClusterPolicySourceDeps {
  readonly kube: LoadedKubeConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  // How long the last good set may decide while the API server cannot be reached.
  readonly maxStaleMs: number;
  // What may be held of the Secrets the policies name; DEFAULT_SECRET_BOUNDS when absent.
  readonly secretBounds?: SecretBounds;
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

function newHealth(): Health {
  return { failingSince: undefined, lastError: undefined, failures: 0, listed: false, nextListReason: 'start' };
}

function scopeKeys(scopes: readonly SecretScope[]): string {
  return scopes.map(scopeKey).join('\n');
}

export function startClusterPolicySource(deps: ClusterPolicySourceDeps): ClusterPolicySource {
  const { client, config } = deps.kube;
  const objects = createClusterPolicyObjects();
  const bounds = deps.secretBounds ?? DEFAULT_SECRET_BOUNDS;
  const budget = createSecretBudget(bounds);
  const core = config.makeApiClient(client.CoreV1Api);
  const custom = config.makeApiClient(client.CustomObjectsApi);
  // Keyed by the resource ("ImagePolicy", "ClusterImagePolicy") or "Secret <scope>".
  const health = new Map<string, Health>(RESOURCES.map((resource) => [resource.kind, newHealth()]));
  // Object uid -> the resourceVersion last reported invalid: one report per version.
  const reported = new Map<string, string>();
  // The watch of each Secret name in force, by scope key; names left out for the name bounds.
  const secretWatchers = new Map<string, SecretWatcher>();
  let namesLeftOut: readonly SecretScope[] = [];
  // Secrets replaced by a stub of their name and version (not held).
  const stubs = new WeakSet<object>();
  // "namespace/name@version" of the last left-out Secret logged, so each version is logged once.
  const loggedLeftOut = new Set<string>();
  const gauges = { held: 0, bytes: 0, leftOut: 0, watches: 0 };
  let set: PolicySet | undefined;
  let rebuildTimer: NodeJS.Timeout | undefined;
  let rereadTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const retryTimers = new Set<NodeJS.Timeout>();
  // Every open watch, aborted on stop (ListWatch.stop aborts only the one it knows of).
  const watches: OpenWatches = { open: new Set(), closed: false };
  let resolveSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));

  const healthOf = (key: string): Health | undefined => health.get(key);

  const markHealthy = (key: string): void => {
    const state = healthOf(key);
    if (state === undefined) return;
    if (state.failingSince !== undefined) deps.logger.info('policy watch recovered', { resource: key, failingSince: state.failingSince.toISOString() });
    state.failingSince = undefined;
    state.lastError = undefined;
    state.failures = 0;
  };

  const setGauge = (name: string, field: keyof typeof gauges, value: number): void => {
    if (value !== gauges[field]) deps.metrics.increment(name, {}, value - gauges[field]);
    gauges[field] = value;
  };
  const reportGauges = (): void => {
    const held = budget.held();
    setGauge(PolicyMetric.SECRETS_HELD, 'held', held.secrets);
    setGauge(PolicyMetric.SECRET_BYTES_HELD, 'bytes', held.bytes);
    setGauge(PolicyMetric.SECRETS_LEFT_OUT, 'leftOut', budget.leftOut().length + namesLeftOut.length);
    setGauge(PolicyMetric.SECRET_WATCHES, 'watches', secretWatchers.size);
  };

  // Builds the set once every resource and every watched Secret name is listed; before that
  // the set in force stays (nothing is served before the first one).
  const rebuild = (): void => {
    rebuildTimer = undefined;
    if (stopped || !RESOURCES.every((resource) => healthOf(resource.kind)?.listed === true)) return;
    reconcileSecretWatchers();
    reportGauges();
    if (![...secretWatchers.values()].every((watcher) => healthOf(watcher.healthKey)?.listed === true)) return;
    const first = set === undefined;
    const unheldSecrets = [...namesLeftOut, ...budget.leftOut()];
    set = { ...objects.toPolicySet(), ...(unheldSecrets.length === 0 ? {} : { unheldSecrets }) };
    deps.metrics.increment(PolicyMetric.RELOADS, { outcome: 'reloaded' });
    deps.logger.info(first ? 'policies loaded from the cluster' : 'policies reloaded from the cluster', {
      imagePolicies: set.imagePolicies.length,
      clusterImagePolicies: set.clusterPolicies.length,
      secrets: set.secrets.length,
      secretsLeftOut: unheldSecrets.length,
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

  // Policies: a change may name other Secrets, which the rebuild reconciles.
  const onPolicyChange = (kind: PolicyObjectKind, object: KubernetesObject): void => {
    report(objects.apply(kind, object), object);
    scheduleRebuild();
  };
  const onPolicyDelete = (kind: PolicyObjectKind, object: KubernetesObject): void => {
    reported.delete(object.metadata?.uid ?? '');
    if (objects.remove(kind, object)) scheduleRebuild();
  };

  // A Secret version as the informer will cache it: the object when the budget holds it,
  // otherwise a stub of its name and version (logged once per version).
  const admitSecret = (object: KubernetesObject, scope?: SecretScope): KubernetesObject => {
    const namespace = object.metadata?.namespace ?? 'default';
    const name = object.metadata?.name ?? '';
    const resourceVersion = object.metadata?.resourceVersion ?? '';
    const bytes = Buffer.byteLength(JSON.stringify(object));
    // A Secret of another namespace named by an ImagePolicy (keySecretNamespace) takes that
    // policy's namespace's room, never the room of the namespace it is read from.
    const chargedTo = scope === undefined ? namespace : secretChargedTo(scope, namespace);
    const chargedBefore = budget.chargeOf(namespace, name);
    const admitted = budget.admit(namespace, name, resourceVersion, bytes, chargedTo);
    // A held version replaced by one that does not fit, or now charged to another namespace:
    // the room it took is free for others.
    if (chargedBefore !== undefined && (!admitted || chargedBefore !== chargedTo)) scheduleReread();
    if (admitted) return object;
    const logged = `${namespace}/${name}@${resourceVersion}`;
    if (!loggedLeftOut.has(logged)) {
      if (loggedLeftOut.size >= bounds.maxSecrets) loggedLeftOut.clear();
      loggedLeftOut.add(logged);
      const held = budget.held();
      deps.logger.warn('Secret not held: the bounds on policy Secrets are reached, policies needing it deny (POLICY_SECRET_OVER_LIMIT)', {
        secret: `${namespace}/${name}`,
        bytes,
        heldSecrets: held.secrets,
        heldBytes: held.bytes,
        bounds: { maxSecrets: bounds.maxSecrets, maxBytes: bounds.maxBytes, maxSecretsPerNamespace: bounds.maxSecretsPerNamespace, maxBytesPerNamespace: bounds.maxBytesPerNamespace },
      });
    }
    const stub: KubernetesObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, resourceVersion, ...(object.metadata?.uid === undefined ? {} : { uid: object.metadata.uid }) } };
    stubs.add(stub);
    return stub;
  };
  const onSecretChange = (object: KubernetesObject): void => {
    if (stubs.has(object)) objects.remove('Secret', object);
    else report(objects.apply('Secret', object), object);
    scheduleRebuild();
  };
  const onSecretDelete = (object: KubernetesObject): void => {
    reported.delete(object.metadata?.uid ?? '');
    objects.remove('Secret', object);
    if (budget.release(object.metadata?.namespace ?? 'default', object.metadata?.name ?? '')) scheduleReread();
    scheduleRebuild();
  };

  // When room is freed, the names with Secrets left out are listed again by a new watch (the
  // informer has only their stubs). What they hold stays held and counted meanwhile (the
  // same versions are admitted again as they are), so a re-read never hands another Secret
  // the room of one that works; held Secrets missing from the new list are dropped then.
  const scheduleReread = (): void => {
    if (budget.leftOut().length === 0) return;
    rereadTimer ??= setTimeout(() => {
      rereadTimer = undefined;
      const leftOut = budget.leftOut();
      for (const watcher of [...secretWatchers.values()]) {
        if (!leftOut.some((secret) => watcher.scope.name === secret.name && (watcher.scope.namespace === undefined || watcher.scope.namespace === secret.namespace))) continue;
        startSecretWatcher(watcher.scope, replaceSecretWatcher(watcher));
      }
      scheduleRebuild();
    }, CHANGE_DELAY_MS);
  };

  // Starts and stops Secret watches so exactly the names the policies in force need (within
  // the name bounds) are watched, each charged as the policies in force name it now.
  //
  // Security: who is charged for a Secret (the cheapest of those naming it: a
  // ClusterImagePolicy or the Secret's own namespace before another tenant) changes with the
  // policies. A watch keeping the charge it started with would let a tenant whose room is
  // full name an operator's Secret first and keep it left out, charged to the tenant, after
  // the operator's enforced ClusterImagePolicy names it too: that baseline would deny in every
  // namespace. The other way, a tenant would hold for free a Secret it alone names once the
  // operator stops naming it. So a watch whose charge changed lists its Secret again under
  // the new one: what it holds is counted afresh against the room now charged (left out if
  // it does not fit there), and what was left out is read again.
  const reconcileSecretWatchers = (): void => {
    const { watched, leftOut } = selectWatchedScopes(objects.referencedSecrets(), bounds, new Set(secretWatchers.keys()));
    if (leftOut.length > 0 && scopeKeys(leftOut) !== scopeKeys(namesLeftOut)) {
      deps.logger.warn('Secret names not watched: the bound on watched names is reached, policies needing them deny (POLICY_SECRET_OVER_LIMIT)', {
        names: leftOut.slice(0, 20).map(scopeKey),
        count: leftOut.length,
        bounds: { maxNames: bounds.maxNames, maxNamesPerNamespace: bounds.maxNamesPerNamespace },
      });
    }
    namesLeftOut = leftOut;
    const wanted = new Set(watched.map(scopeKey));
    let freed = false;
    for (const [key, watcher] of secretWatchers) if (!wanted.has(key)) freed = stopSecretWatcher(watcher) || freed;
    for (const scope of watched) {
      const watcher = secretWatchers.get(scopeKey(scope));
      if (watcher === undefined) startSecretWatcher(scope);
      else if (chargeChanged(watcher.scope, scope)) startSecretWatcher(scope, replaceSecretWatcher(watcher));
      else watcher.scope = scope;
    }
    if (freed) scheduleReread();
  };

  // After a list answered: the watch is healthy, its next list is a retry after an error,
  // and the set is rebuilt once the informer has added the items (right after the list
  // resolves).
  const markListed = (key: string, state: Health): void => {
    markHealthy(key);
    state.nextListReason = 'error';
    setImmediate(() => {
      state.listed = true;
      scheduleRebuild();
    });
  };

  // The watch of one Secret name; the budget decides what its informer caches. `previous`:
  // the Secrets a replaced watch held, dropped after the first list unless listed again.
  const startSecretWatcher = (scope: SecretScope, previous: KubernetesObject[] = []): void => {
    const key = scopeKey(scope);
    const healthKey = `Secret ${key}`;
    health.set(healthKey, newHealth());
    const fieldSelector = `metadata.name=${scope.name}`;
    const path = scope.namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${scope.namespace}/secrets`;
    // Charged as the policies name it now; a replaced watch's late answers count for nothing
    // (its successor reads the same Secrets under the charge in force).
    const admit = (object: KubernetesObject): KubernetesObject => (watcher.stopped ? object : admitSecret(object, watcher.scope));
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const state = healthOf(healthKey);
      if (state === undefined) throw new Error('watch stopped');
      deps.metrics.increment(PolicyMetric.WATCH_LISTS, { resource: 'Secret', reason: state.nextListReason });
      const answer = await listSecretPages(core, scope, fieldSelector, admit);
      if (previous.length > 0) {
        const listed = new Set(answer.items.map((item) => `${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`));
        let freed = false;
        for (const object of previous.splice(0)) {
          if (listed.has(`${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`)) continue;
          objects.remove('Secret', object);
          freed = budget.release(object.metadata?.namespace ?? 'default', object.metadata?.name ?? '') || freed;
        }
        if (freed) scheduleReread();
      }
      markListed(healthKey, state);
      return answer;
    };
    const watch = createTimedWatch(deps.kube, watches, {
      connected: () => markHealthy(healthKey),
      expired: () => {
        const state = healthOf(healthKey);
        if (state !== undefined) state.nextListReason = 'expired';
        deps.logger.info('policy watch expired (410 Gone): listing again', { resource: healthKey });
      },
      // Before the informer caches an object: what does not fit becomes a stub.
      transform: (phase, object) => (phase === 'ADDED' || phase === 'MODIFIED' ? admit(object as KubernetesObject) : object),
    });
    const informer = new client.ListWatch<KubernetesObject>(path, watch, list, false, undefined, fieldSelector);
    const watcher: SecretWatcher = { scope, healthKey, informer, stopped: false };
    informer.on('add', (object) => {
      if (!watcher.stopped) onSecretChange(object);
    });
    informer.on('update', (object) => {
      if (!watcher.stopped) onSecretChange(object);
    });
    informer.on('delete', (object) => {
      if (!watcher.stopped) onSecretDelete(object);
    });
    informer.on('error', (error) => {
      onWatchError(healthKey, error, () => {
        if (!watcher.stopped) startInformer(informer);
      });
    });
    secretWatchers.set(key, watcher);
    startInformer(informer);
  };
  // Stops a name's watch to list it again: its stubs are forgotten, what it held stays (and
  // is answered, for the new watch to reconcile).
  const replaceSecretWatcher = (watcher: SecretWatcher): KubernetesObject[] => {
    watcher.stopped = true;
    secretWatchers.delete(scopeKey(watcher.scope));
    health.delete(watcher.healthKey);
    const held: KubernetesObject[] = [];
    for (const object of watcher.informer.list()) {
      if (stubs.has(object)) budget.release(object.metadata?.namespace ?? 'default', object.metadata?.name ?? '');
      else held.push(object);
    }
    void watcher.informer.stop();
    return held;
  };
  // Stops a name's watch and drops what it held; true when room was freed.
  const stopSecretWatcher = (watcher: SecretWatcher): boolean => {
    watcher.stopped = true;
    secretWatchers.delete(scopeKey(watcher.scope));
    health.delete(watcher.healthKey);
    let freed = false;
    for (const object of watcher.informer.list()) {
      objects.remove('Secret', object);
      freed = budget.release(object.metadata?.namespace ?? 'default', object.metadata?.name ?? '') || freed;
    }
    void watcher.informer.stop();
    return freed;
  };

  // A failed list or watch: counted, logged, and retried with backoff while it matters.
  const onWatchError = (key: string, error: unknown, retry: () => void): void => {
    const state = healthOf(key);
    if (stopped || state === undefined) return;
    state.failingSince ??= deps.clock.now();
    state.lastError = errorText(error);
    state.failures += 1;
    deps.metrics.increment(PolicyMetric.WATCH_ERRORS, { resource: key.startsWith('Secret ') ? 'Secret' : key });
    const delay = backoffMs(state.failures);
    deps.logger.warn('policy watch failed: the policies in force stay in force, retrying', { resource: key, error: state.lastError, retryInMs: delay });
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      if (!stopped) retry();
    }, delay);
    retryTimers.add(timer);
  };

  const informers = RESOURCES.map((resource) => {
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const state = healthOf(resource.kind) as Health;
      deps.metrics.increment(PolicyMetric.WATCH_LISTS, { resource: resource.kind, reason: state.nextListReason });
      const answer = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: resource.path.slice(resource.path.lastIndexOf('/') + 1) })) as KubernetesListObject<KubernetesObject>;
      markListed(resource.kind, state);
      return answer;
    };
    const watch = createTimedWatch(deps.kube, watches, {
      connected: () => markHealthy(resource.kind),
      expired: () => {
        (healthOf(resource.kind) as Health).nextListReason = 'expired';
        deps.logger.info('policy watch expired (410 Gone): listing again', { resource: resource.kind });
      },
    });
    const informer = new client.ListWatch<KubernetesObject>(resource.path, watch, list, false);
    informer.on('add', (object) => onPolicyChange(resource.kind, object));
    informer.on('update', (object) => onPolicyChange(resource.kind, object));
    informer.on('delete', (object) => onPolicyDelete(resource.kind, object));
    informer.on('error', (error) => onWatchError(resource.kind, error, () => startInformer(informer)));
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
    const failing = [...health.entries()].filter(([, state]) => state.lastError !== undefined);
    const errors = failing.slice(0, 5).map(([kind, state]) => `${kind}: ${state.lastError ?? ''}`);
    if (failing.length > 5) errors.push(`and ${failing.length - 5} more`);
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
      if (rereadTimer !== undefined) clearTimeout(rereadTimer);
      for (const watcher of secretWatchers.values()) watcher.stopped = true;
      await Promise.all([...informers, ...[...secretWatchers.values()].map((watcher) => watcher.informer)].map((informer) => informer.stop()));
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

interface WatchHooks {
  connected(): void;
  expired(): void;
  // What the informer receives for an event's object (default: the object itself).
  transform?(phase: string, object: unknown): unknown;
}

function createTimedWatch(kube: LoadedKubeConfig, watches: OpenWatches, hooks: WatchHooks): InstanceType<LoadedKubeConfig['client']['Watch']> {
  const Base = kube.client.Watch;
  class TimedWatch extends Base {
    // Same contract as Watch.watch; see the module comment for what is added.
    override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
      let ended = false;
      let deadline: NodeJS.Timeout | undefined;
      const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_S };
      const onEvent = (phase: string, object: unknown, watchObject?: unknown): void => {
        if (phase === 'ERROR' && (object as { code?: unknown } | null)?.code === 410) hooks.expired();
        callback(phase, hooks.transform === undefined ? object : hooks.transform(phase, object), watchObject);
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

// The Secrets of one name (in one namespace or all), listed in pages so no more than a page
// is read beyond what `admit` keeps; each item goes through `admit` (the object or its stub).
// The list's resourceVersion is the first page's: later pages are of the same snapshot.
async function listSecretPages(core: CoreV1Api, scope: SecretScope, fieldSelector: string, admit: (object: KubernetesObject) => KubernetesObject): Promise<KubernetesListObject<KubernetesObject>> {
  const items: KubernetesObject[] = [];
  let resourceVersion: string | undefined;
  let next: string | undefined;
  do {
    const page: KubernetesListObject<KubernetesObject> =
      scope.namespace === undefined
        ? await core.listSecretForAllNamespaces({ fieldSelector, limit: SECRET_LIST_PAGE, ...(next === undefined ? {} : { _continue: next }) })
        : await core.listNamespacedSecret({ namespace: scope.namespace, fieldSelector, limit: SECRET_LIST_PAGE, ...(next === undefined ? {} : { _continue: next }) });
    resourceVersion ??= page.metadata?.resourceVersion;
    for (const item of page.items) items.push(admit(item));
    next = page.metadata?._continue || undefined;
  } while (next !== undefined);
  return { apiVersion: 'v1', kind: 'SecretList', metadata: resourceVersion === undefined ? {} : { resourceVersion }, items };
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
