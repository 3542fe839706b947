// `trustgate serve`: the admission webhook. Listens over HTTPS for AdmissionReviews from the
// API server (POST /admit), serves /healthz, /metrics and the functions (POST
// /functions/<name>), and stops gracefully on SIGTERM or SIGINT. Without a certificate it
// runs its own CA in the state directory and says where the CA is (the webhook's caBundle).
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPolicyLookupHandler } from '../../functions/policy-lookup/handler.js';
import { createSignCallbackHandler, type CallbackAuthentication, type CallbackHandler } from '../../functions/sign-callback/handler.js';
import { createChangefeedPoller, startChangefeedLoop } from '../../shared/callback/changefeed-poller.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import type { PolicySet } from '../../shared/policy/model.js';
import type { Clock, KvStore, Logger, Metrics } from '../../shared/ports.js';
import { createTokenProviderFromEnv } from '../../infra/trust-server/token-provider-from-env.js';
import { createReferrerSubjectReader } from '../../shared/trust/cosign/cosign-verifier.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement, SimpleSigningRequirement } from '../../shared/trust/verifier.js';
import { createVerifyImageHandler } from '../../functions/verify-image/handler.js';
import type { AdmissionDeps, KnownVerificationFn, VerifyImageFn } from '../../shared/admission/decide-admission.js';
import { isTrustgateError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/cache/freshness-config.js';
import { DEFAULT_STORE_UNREADY_AFTER_MS, isStoreReady, type StoreHealth } from '../../shared/cache/store-health.js';
import { createHttpApiVerify, decodeHttpApiAuth, parseHttpApiBase } from '../../infra/remote-functions/http-api-verify.js';
import { assertWebNamespace, createOpenWhiskVerify } from '../../infra/remote-functions/openwhisk-verify.js';
import { createAdmitEndpoint } from '../../infra/webhook-proxy/admit-endpoint.js';
import { startBudgetTimer } from '../../infra/webhook-proxy/budget-timer.js';
import { createStopController, pauseFor } from '../../infra/clock/pause.js';
import { loadOrCreateTls } from '../../infra/webhook-proxy/tls-files.js';
import { createWebhookServer, DEFAULT_CONNECTION_LIMITS, WEBHOOK_SERVER_METRICS } from '../../infra/webhook-proxy/webhook-server.js';
import { DEFAULT_BUDGET_MS } from '../../shared/admission/decide-admission.js';
import { createBatchedSink } from '../../shared/logging/batched-sink.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import { ADMISSION_METRICS, CLUSTER_POLICY_METRICS, POLICY_METRICS, TRUST_METRICS } from '../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry } from '../../shared/metrics/prometheus-registry.js';
import { silentLogger } from '../../shared/ports.js';
import { knownVerification, verifyImage, type VerifyImageDeps } from '../../shared/verify/verify-image.js';
import { toRegistryCredentials } from '../../shared/registry/workload-pull-secrets.js';
import { openPullSecretSource, type PullSecretsConfig } from '../pull-secret-source.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { resolveCredentials } from '../openwhisk/credentials.js';
import { createPolicyReloader, type PolicyReloader } from '../policy-reloader.js';
import { loadPolicyFiles } from '../policy-set.js';
import type { ClusterPolicySource } from '../../infra/kubernetes-api/cluster-policy-source.js';
import { DEFAULT_SECRET_BOUNDS, secretBounds, type SecretBounds } from '../../shared/policy/secret-budget.js';
import { loadKubeConfig, type LoadedKubeConfig } from '../../infra/kubernetes-api/kube-config.js';
import { resolveStateDir } from '../state-dir.js';
import { DEFAULT_PUBLISH_INTERVAL_MS, startPolicyPublisher } from '../policy-publisher.js';
import { assertClusterId } from '../../shared/policy/policy-snapshot.js';
import { openTrustState, TRUST_STATE_OPTIONS, type TrustStateFlags } from '../trust-state.js';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 8443;
// How often the policies are re-read, in seconds: a mounted ConfigMap changes only when the
// kubelet syncs it (its sync period, one minute by default, plus its cache delay).
const DEFAULT_POLICIES_INTERVAL_S = 30;
// The API server's webhook timeout is at most 30 s; the budget must end before it.
const MAX_BUDGET_MS = 29_000;
// How long the last policies read from the cluster keep deciding while the API server cannot
// be read; after that every admission is denied (see infra/kubernetes-api/cluster-policy-source.ts).
const DEFAULT_POLICIES_MAX_STALE_MS = 5 * 60_000;
// How long serve waits at start for the first complete read of the cluster's policies.
const CLUSTER_SYNC_TIMEOUT_MS = 30_000;

export interface ServeOptions {
  // Stops the server like SIGTERM does (tests and embedding); signals work regardless.
  readonly stop?: AbortSignal;
}

interface ServeConfig {
  readonly host: string;
  readonly port: number;
  // --policies PATH, or undefined with --policies-from-cluster.
  readonly policies: string | undefined;
  readonly cluster: ClusterPoliciesConfig | undefined;
  // 0: policies are re-read on SIGHUP only.
  readonly policiesIntervalMs: number;
  readonly stateDir: string;
  readonly budgetMs: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  // --client-ca FILE: /admit and /validate answer only clients with a certificate it issued.
  readonly clientCaFile: string | undefined;
  readonly extraNames: readonly string[];
  readonly trustState: TrustStateFlags;
  readonly callback: CallbackConfig | undefined;
  // Where admission runs verify-image: 'local' (in-process), 'openwhisk', or a base URL.
  readonly functions: string;
  // Who may send /functions/verify-image the explicit form with its own trust material.
  readonly explicitTrust: ExplicitTrustAccess;
  // Publish the policies in force as this cluster's policy snapshot in the store.
  readonly publishClusterId: string | undefined;
  // Where a workload's pull secrets are read: the policy files, or the cluster.
  readonly pullSecrets: PullSecretsConfig;
  // --max-connections: open connections at most (see infra/webhook-proxy/webhook-server.ts).
  readonly maxConnections: number;
}

// /functions/verify-image answers the policy form, like a deployed function. The explicit
// form's trust server, signers and root key IDs are accepted from any caller with
// --allow-explicit-trust, or from callers presenting TRUSTGATE_EXPLICIT_TRUST_TOKEN as a
// bearer token (an environment variable, never a flag: a flag's value shows in process
// listings). A caller-named trust server never receives the operator's trust credentials.
interface ExplicitTrustAccess {
  readonly open: boolean;
  readonly token: string | undefined;
}

// --policies-from-cluster: the API server named by --kubeconfig, or the in-cluster one.
interface ClusterPoliciesConfig {
  readonly kubeconfig: string | undefined;
  readonly maxStaleMs: number;
  // --policy-secrets-max, --policy-secrets-max-bytes: what may be held of the named Secrets.
  readonly secretBounds: SecretBounds;
}

// sign-callback in-process: enabled by a registry host (GUNs are formed with it, never with
// an event's client-supplied host); the changefeed poller by a trust server to poll.
interface CallbackConfig {
  readonly registryHost: string;
  readonly namespace: string;
  readonly token: string | undefined;
  readonly changefeedServer: string | undefined;
  readonly changefeedIntervalMs: number;
}

export async function runServe(args: readonly string[], io: CliIo, options: ServeOptions = {}): Promise<ExitCode> {
  const config = parseServeArgs(args, io);
  const initialPolicies = config.policies === undefined ? undefined : await loadPolicyFiles(config.policies);
  const kube = config.cluster === undefined ? undefined : await loadClusterConfig(config.cluster, io.env);
  const remote = await resolveRemoteVerify(config, io.env, io.clock);
  const tls = { ...(await resolveTls(config, io)), ...(config.clientCaFile === undefined ? {} : { clientCa: await readClientCa(config.clientCaFile) }) };
  if (config.clientCaFile !== undefined) io.stdout(`trustgate: /admit and /validate answer only clients with a certificate issued by ${config.clientCaFile}\n`);
  if (remote !== undefined) io.stdout(`trustgate: admission verifies images with the deployed verify-image function (${remote.where})\n`);
  if (config.explicitTrust.open) io.stdout('trustgate: /functions/verify-image accepts trust servers, signers and root keys from any caller (--allow-explicit-trust)\n');
  const logLines = createBatchedSink(io.stdout);
  // A crash or process.exit() still writes the lines of the last batch.
  process.once('exit', logLines.flush);
  const logger = createJsonLogger(logLines.write, io.clock);

  const metrics = createPrometheusRegistry({ ...ADMISSION_METRICS, ...WEBHOOK_SERVER_METRICS, ...TRUST_METRICS, ...POLICY_METRICS, ...(kube === undefined ? {} : CLUSTER_POLICY_METRICS) });
  const reloader = config.policies === undefined || initialPolicies === undefined ? undefined : createPolicyReloader({ path: config.policies, ...initialPolicies, logger, metrics });
  const clusterSource = kube === undefined || config.cluster === undefined ? undefined : await startClusterSource(kube, config.cluster, { clock: io.clock, logger, metrics, logLines, io });
  // The set in force, from the files or the cluster. Cluster policies that are too old
  // throw; the rejection becomes a denial in verification.
  const currentSet = (): PolicySet => (clusterSource === undefined ? (reloader as PolicyReloader).current() : clusterSource.source.policies());
  const policies: () => Promise<PolicySet> = () => new Promise((resolve) => resolve(currentSet()));
  const pullSecrets = await openPullSecretSource(config.pullSecrets, currentSet, logger).catch(async (error: unknown) => {
    await clusterSource?.source.stop();
    logLines.flush();
    process.off('exit', logLines.flush);
    throw error;
  });
  const { notary, refreshingNotary, cosign, refreshingCosign, simple, store, sigstoreRoot, storeHealth, checkStore } = openTrustState(config.trustState, io.env, io.clock, logger, metrics);
  // A missing or wrong store refuses to start (ConfigError); one that does not answer now is
  // an outage: serve starts, denies what it cannot decide without it, and /readyz reports it.
  const checked = await checkStore().catch(async (error: unknown) => {
    await clusterSource?.source.stop();
    sigstoreRoot.close();
    store.close();
    logLines.flush();
    process.off('exit', logLines.flush);
    throw error;
  });
  if (isTrustgateError(checked)) logger.warn('trust store unavailable at start', { store: store.kind, error: checked.message });
  const storeReadiness = createStoreReadiness(store.kv, storeHealth, parseStoreUnreadyAfter(io.env), io.clock);
  const readiness = clusterSource === undefined ? storeReadiness : combineReadiness(() => clusterSource.source.readiness(), storeReadiness);
  const verifyDeps: VerifyImageDeps = { notary, cosign, simple, clock: io.clock, logger, policies };
  // Each admission decision is logged once by the endpoint; the use case stays quiet there.
  // The policies are in memory, so a warm admission is answered without waiting.
  const admissionVerifyDeps: VerifyImageDeps = { ...verifyDeps, logger: silentLogger, policiesNow: currentSet };
  // The workload's credentials reach the verifiers' `known` as they reach `verify`; none (the
  // common case) builds nothing.
  const knownAdmission: KnownVerificationFn = (image, namespace, credentials) => knownVerification(admissionVerifyDeps, { image, namespace }, toRegistryCredentials(credentials));
  const admission: AdmissionDeps = {
    verify:
      remote?.verify ??
      ((image, namespace, signal, credentials) => verifyImage(admissionVerifyDeps, { kind: 'policy', image, namespace }, signal, toRegistryCredentials(credentials))),
    ...(remote === undefined ? { known: knownAdmission } : {}),
    budgetMs: config.budgetMs,
    startTimer: startBudgetTimer,
    pullSecrets,
  };
  const admit = createAdmitEndpoint({ admission, metrics, logger, elapsedMs: () => performance.now() });
  const validate = createAdmitEndpoint({ admission: { ...admission, validate: true }, metrics, logger, elapsedMs: () => performance.now() });
  const callback = config.callback === undefined ? undefined : startCallback(config.callback, { notary: refreshingNotary, cosign: refreshingCosign, simple, kv: store.kv, policies, logger, metrics, env: io.env, clock: io.clock });
  const server = createWebhookServer({
    tls,
    admit,
    validate,
    functions: {
      'verify-image': {
        handle: createVerifyImageHandler({
          ...verifyDeps,
          logger,
          allowExplicitTrust: config.explicitTrust.open,
          ...(config.explicitTrust.token === undefined ? {} : { explicitTrustToken: config.explicitTrust.token }),
        }),
      },
      'policy-lookup': { handle: createPolicyLookupHandler({ logger, policies }) },
      ...(callback === undefined ? {} : { 'sign-callback': { handle: (body, request) => callback.handle({ body, headers: request.headers }), authenticate: callback.authenticate } }),
    },
    renderMetrics: () => metrics.render(),
    readiness,
    logger,
    metrics,
    connections: { maxConnections: config.maxConnections },
  });

  let address;
  try {
    address = await server.listen(config.port, config.host);
  } catch (error) {
    await callback?.stop(STOP_DEADLINE_MS);
    await clusterSource?.source.stop();
    sigstoreRoot.close();
    store.close();
    logLines.flush();
    process.off('exit', logLines.flush);
    throw new ConfigError(`cannot listen on ${config.host}:${config.port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  io.stdout(`trustgate: listening on https://${shownHost}:${address.port}\n`);
  const stopReloading = reloader === undefined ? () => undefined : startPolicyReloads(reloader, config.policiesIntervalMs);
  const lease = config.publishClusterId === undefined ? undefined : await startSnapshotLease(kube, config.publishClusterId, io, logger);
  const publisher =
    config.publishClusterId === undefined
      ? undefined
      : startPolicyPublisher({
          current: currentSet,
          kv: store.kv,
          clusterId: config.publishClusterId,
          intervalMs: DEFAULT_PUBLISH_INTERVAL_MS,
          clock: io.clock,
          logger,
          metrics,
          ...(lease === undefined ? {} : { mayPublish: () => lease.holding() }),
        });
  const signal = await waitForStop(options.stop);
  const stopStarted = performance.now();
  const stopTimeLeft = (): number => Math.max(0, STOP_DEADLINE_MS - (performance.now() - stopStarted));
  stopReloading();
  logger.info('shutting down', { signal });
  // At once: a sign-callback request pausing before a re-check ends now, not after its pause;
  // requests arriving from now on answer 503 without processing anything.
  // The wait for sign-callback requests under way leaves the server the review budget
  // (--budget-ms, within the deadline) for the reviews under way after it, however long
  // those requests take.
  const serverGraceMs = Math.min(config.budgetMs, STOP_DEADLINE_MS - STOP_FINAL_WAIT_MS);
  const callbackStopped = callback?.stop(Math.max(0, stopTimeLeft() - serverGraceMs - STOP_FINAL_WAIT_MS));
  // A publish under way ends before the Lease is given up, so no write of ours lands after
  // another replica took it over; released before the server closes, so that replica
  // publishes without waiting out the Lease's duration.
  await publisher?.stop();
  await lease?.stop();
  await callbackStopped;
  await clusterSource?.source.stop();
  await server.close(Math.max(0, stopTimeLeft() - STOP_FINAL_WAIT_MS));
  // A request still running after the server cut its connection ends before the store closes.
  await callback?.stop(stopTimeLeft());
  sigstoreRoot.close();
  store.close();
  logger.info('stopped');
  logLines.flush();
  process.off('exit', logLines.flush);
  return ExitCode.ALLOWED;
}

// Kubernetes kills the pod terminationGracePeriodSeconds after SIGTERM: 20 s in
// infra/kubernetes/deployment.yaml. serve's stop waits for what is under way at most this long
// from the signal, so it closes its store and logs `stopped` before the kill; a request still
// running then loses its connection (its sender tries again). The last STOP_FINAL_WAIT_MS are
// kept for sign-callback requests whose connection the server cut.
// The largest --max-connections: at the bound each new connection scans the open ones for
// the one to evict.
const MAX_CONNECTIONS_FLAG = 65_536;
const STOP_DEADLINE_MS = 15_000;
const STOP_FINAL_WAIT_MS = 2_000;

function parseServeArgs(args: readonly string[], io: CliIo): ServeConfig {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      policies: { type: 'string' },
      'policies-from-cluster': { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      'policies-max-stale': { type: 'string' },
      'policy-secrets-max': { type: 'string' },
      'policy-secrets-max-bytes': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-san': { type: 'string', multiple: true },
      'client-ca': { type: 'string' },
      'budget-ms': { type: 'string' },
      'registry-host': { type: 'string' },
      'changefeed-server': { type: 'string' },
      'changefeed-interval': { type: 'string' },
      'policies-interval': { type: 'string' },
      functions: { type: 'string' },
      'allow-explicit-trust': { type: 'boolean', default: false },
      'publish-cluster-id': { type: 'string' },
      'pull-secrets-from-cluster': { type: 'boolean', default: false },
      'max-connections': { type: 'string' },
      ...TRUST_STATE_OPTIONS,
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const fromCluster = values['policies-from-cluster'];
  if (fromCluster && values.policies !== undefined) throw new UsageError('--policies and --policies-from-cluster are exclusive: give one source of policies');
  if (!fromCluster && values.policies === undefined) throw new UsageError('missing --policies PATH or --policies-from-cluster: the webhook needs the policies it enforces');
  if (!fromCluster && values['policies-max-stale'] !== undefined) throw new UsageError('--policies-max-stale goes with --policies-from-cluster');
  if (!fromCluster && (values['policy-secrets-max'] !== undefined || values['policy-secrets-max-bytes'] !== undefined)) {
    throw new UsageError('--policy-secrets-max and --policy-secrets-max-bytes go with --policies-from-cluster');
  }
  if (!fromCluster && !values['pull-secrets-from-cluster'] && values.kubeconfig !== undefined) {
    throw new UsageError('--kubeconfig goes with --policies-from-cluster or --pull-secrets-from-cluster');
  }
  if (fromCluster && values['policies-interval'] !== undefined) throw new UsageError('--policies-interval goes with --policies PATH: cluster policies are watched');
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const publishClusterId = values['publish-cluster-id'];
  if (publishClusterId !== undefined) {
    try {
      assertClusterId(publishClusterId);
    } catch (error) {
      throw new UsageError(`--publish-cluster-id: ${(error as Error).message}`);
    }
  }
  return {
    host: values.host ?? DEFAULT_HOST,
    port: toInteger('--port', values.port, DEFAULT_PORT, 0, 65_535),
    policies: values.policies,
    cluster: fromCluster
      ? {
          kubeconfig: values.kubeconfig,
          maxStaleMs: toDuration('--policies-max-stale', values['policies-max-stale'], DEFAULT_POLICIES_MAX_STALE_MS),
          secretBounds: secretBounds({
            maxSecrets: toInteger('--policy-secrets-max', values['policy-secrets-max'], DEFAULT_SECRET_BOUNDS.maxSecrets, 1, 1_000_000),
            maxBytes: toInteger('--policy-secrets-max-bytes', values['policy-secrets-max-bytes'], DEFAULT_SECRET_BOUNDS.maxBytes, 1024, 2 ** 40),
          }),
        }
      : undefined,
    policiesIntervalMs: toInteger('--policies-interval', values['policies-interval'], DEFAULT_POLICIES_INTERVAL_S, 0, 86_400) * 1000,
    stateDir: resolveStateDir(values['state-dir'], io.env),
    budgetMs: toInteger('--budget-ms', values['budget-ms'], DEFAULT_BUDGET_MS, 1, MAX_BUDGET_MS),
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    extraNames: values['tls-san'] ?? [],
    clientCaFile: values['client-ca'],
    trustState: values,
    callback: toCallbackConfig(values, io.env),
    functions: values.functions ?? 'local',
    explicitTrust: { open: values['allow-explicit-trust'], token: io.env['TRUSTGATE_EXPLICIT_TRUST_TOKEN'] || undefined },
    publishClusterId,
    pullSecrets: toPullSecretsConfig(values['pull-secrets-from-cluster'], values.kubeconfig),
    maxConnections: toInteger('--max-connections', values['max-connections'], DEFAULT_CONNECTION_LIMITS.maxConnections, 1, MAX_CONNECTIONS_FLAG),
  };
}

// `--functions`: undefined for 'local' (verify-image runs in this process, the default);
// otherwise admission calls the deployed function, each call under the admission budget.
// 'openwhisk' invokes the action with the namespace key (OW_APIHOST, OW_AUTH, OW_NAMESPACE or
// ~/.wskprops), or calls the web action with TRUSTGATE_WHISK_WEB_SECRET when that is set;
// a URL is the HTTP API's base, called with SigV4 or TRUSTGATE_FUNCTIONS_TOKEN.
async function resolveRemoteVerify(config: ServeConfig, env: CliIo['env'], clock: Clock): Promise<{ verify: VerifyImageFn; where: string } | undefined> {
  const spec = config.functions;
  if (spec === 'local') return undefined;
  const common = { fetch: createNodeFetch(), timeoutMs: config.budgetMs };
  try {
    if (spec === 'openwhisk') {
      const secret = env['TRUSTGATE_WHISK_WEB_SECRET'];
      if (secret !== undefined && secret !== '') {
        const apihost = env['OW_APIHOST'];
        if (apihost === undefined || apihost === '') throw new ConfigError('calling the web action needs OW_APIHOST');
        const target = { kind: 'web' as const, apihost, namespace: assertWebNamespace(env['OW_NAMESPACE']), secret };
        return { verify: createOpenWhiskVerify({ ...common, target }), where: `OpenWhisk web action on ${apihost}` };
      }
      const credentials = await resolveCredentials(env);
      const target = { kind: 'invoke' as const, ...credentials };
      return { verify: createOpenWhiskVerify({ ...common, target }), where: `OpenWhisk action on ${credentials.apihost}` };
    }
    if (!/^https?:\/\//i.test(spec)) throw new UsageError(`--functions expects local, openwhisk or an https:// URL, got ${JSON.stringify(spec)}`);
    const base = parseHttpApiBase(spec);
    const auth = decodeHttpApiAuth(env, base);
    const verify = createHttpApiVerify({ ...common, base, auth, now: () => clock.now() });
    return { verify, where: `${base.origin}${base.pathname} with ${auth.kind === 'sigv4' ? 'SigV4' : 'a bearer token'}` };
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
}

// `--pull-secrets-from-cluster [--kubeconfig FILE]`: read workloads' pull secrets from the
// Kubernetes API (in-cluster configuration unless a kubeconfig is named); otherwise from
// the Secrets and ServiceAccounts in the policy files.
function toPullSecretsConfig(fromCluster: boolean, kubeconfig: string | undefined): PullSecretsConfig {
  if (!fromCluster) return { kind: 'policy-files' };
  return kubeconfig === undefined ? { kind: 'cluster' } : { kind: 'cluster', kubeconfig };
}

function toCallbackConfig(
  values: { readonly 'registry-host'?: string | undefined; readonly 'changefeed-server'?: string | undefined; readonly 'changefeed-interval'?: string | undefined },
  env: CliIo['env'],
): CallbackConfig | undefined {
  const registryHost = values['registry-host'] ?? env['TRUSTGATE_REGISTRY_HOST'];
  const changefeedServer = values['changefeed-server'] ?? env['TRUSTGATE_CALLBACK_TRUST_SERVER'];
  if (registryHost === undefined || registryHost === '') {
    if (changefeedServer !== undefined) throw new UsageError('--changefeed-server needs --registry-host: changefeed records are checked against that registry');
    return undefined;
  }
  if (!/^[a-z0-9.-]+(?::\d{1,5})?$/i.test(registryHost)) throw new UsageError(`--registry-host expects HOST[:PORT], got ${JSON.stringify(registryHost)}`);
  return {
    registryHost: registryHost.toLowerCase(),
    namespace: env['TRUSTGATE_CALLBACK_NAMESPACE'] || 'default',
    token: env['TRUSTGATE_CALLBACK_TOKEN'],
    changefeedServer: changefeedServer === '' ? undefined : changefeedServer,
    changefeedIntervalMs: toInteger('--changefeed-interval', values['changefeed-interval'], 30, 1, 86_400) * 1000,
  };
}

// The sign-callback handler over the serve process's store and refreshing verifier, and
// the changefeed loop when a trust server is configured (signing produces no registry event).
function startCallback(
  config: CallbackConfig,
  deps: { notary: ImageVerifier<NotaryRequirement>; cosign: ImageVerifier<CosignRequirement>; simple: ImageVerifier<SimpleSigningRequirement>; kv: KvStore; policies: () => Promise<PolicySet>; logger: Logger; metrics: Metrics; env: CliIo['env']; clock: Clock },
): { handle: CallbackHandler; authenticate: CallbackAuthentication; stop(withinMs: number): Promise<void> } {
  const clock = deps.clock;
  // Aborted on stop: pauses end and events and re-checks still to come are dropped (the
  // request answers 503 so its sender delivers it again). Every concurrent pause listens to it.
  const stopping = createStopController();
  const fetch = createNodeFetch();
  const poll =
    config.changefeedServer === undefined
      ? undefined
      : createChangefeedPoller({ server: config.changefeedServer, fetch, store: deps.kv, logger: deps.logger, tokens: createTokenProviderFromEnv(fetch, deps.env, clock) });
  const handle = createSignCallbackHandler(
    {
      verify: { notary: deps.notary, cosign: deps.cosign, simple: deps.simple, clock, logger: deps.logger, policies: deps.policies },
      store: deps.kv,
      clock,
      logger: deps.logger,
      metrics: deps.metrics,
      registryHost: config.registryHost,
      namespace: config.namespace,
      referrerSubject: createReferrerSubjectReader(fetch, config.registryHost, () => clock.now().getTime()),
      pause: pauseFor,
      stop: stopping.signal,
      ...(poll === undefined ? {} : { poll }),
    },
    config.token,
  );
  // Every invocation under way, from HTTP or the changefeed loop: stop waits for them, so
  // none reads or writes the store after serve closed it.
  const underWay = new Set<Promise<unknown>>();
  const tracked: CallbackHandler = (invocation) => {
    const answer = handle(invocation);
    underWay.add(answer);
    const settled = (): void => void underWay.delete(answer);
    answer.then(settled, settled);
    return answer;
  };
  const loop = poll === undefined ? undefined : startChangefeedLoop(() => tracked({ body: { poll: true }, headers: {}, trusted: true }), config.changefeedIntervalMs, deps.logger);
  return {
    handle: tracked,
    // The handler's own bearer-token check, for the server to run before reading a body.
    authenticate: handle.authenticate,
    // Ends pauses and the loop, then waits for what is under way, at most `withinMs` (then
    // logged: the store closes under it); called again after the server closed, for requests
    // that came in meanwhile.
    stop: async (withinMs) => {
      stopping.abort();
      loop?.stop();
      const timeUp = new AbortController();
      const deadline = pauseFor(withinMs, timeUp.signal).then(() => false);
      try {
        while (underWay.size > 0) {
          const ended = await Promise.race([Promise.allSettled([...underWay]).then(() => true), deadline]);
          if (!ended) {
            deps.logger.warn('sign-callback requests still under way at the stop deadline', { requests: underWay.size });
            return;
          }
        }
      } finally {
        timeUp.abort();
      }
    },
  };
}

function toDuration(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

// The kubeconfig or in-cluster configuration; the client library is loaded only here.
async function loadClusterConfig(cluster: ClusterPoliciesConfig, env: CliIo['env']): Promise<LoadedKubeConfig> {
  try {
    return await loadKubeConfig(cluster.kubeconfig, env);
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
}

// One writer per cluster id: with policies from the cluster, serve publishes the snapshot only
// while it holds the cluster id's Lease (infra/kubernetes-api/lease-lock.ts). With policies
// from files there is no cluster client, so every replica publishes (the store's conditional
// write keeps their snapshots from interleaving; the last writer wins), and serve says so.
async function startSnapshotLease(kube: LoadedKubeConfig | undefined, clusterId: string, io: CliIo, logger: Logger): Promise<{ holding(): boolean; stop(): Promise<void> } | undefined> {
  if (kube === undefined) {
    io.stdout(`trustgate: publishing policy snapshots for cluster id ${clusterId} without a Lease (--policies PATH): run one serve per cluster id\n`);
    return undefined;
  }
  const { leaseIdentity, leaseNamespace, snapshotLeaseName, startLeaseLock } = await import('../../infra/kubernetes-api/lease-lock.js');
  let namespace: string;
  try {
    namespace = leaseNamespace(io.env);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const name = snapshotLeaseName(clusterId);
  const identity = leaseIdentity(io.env);
  io.stdout(`trustgate: publishing policy snapshots for cluster id ${clusterId} while holding Lease ${namespace}/${name} as ${identity}\n`);
  return startLeaseLock({ kube, namespace, name, identity, clock: io.clock, logger });
}

// Starts watching the cluster's policies and waits for the first complete set. A first read
// that does not succeed within CLUSTER_SYNC_TIMEOUT_MS (API server unreachable, RBAC missing,
// CRDs not installed) stops serve with the last error: it has nothing to decide with.
async function startClusterSource(
  kube: LoadedKubeConfig,
  cluster: ClusterPoliciesConfig,
  deps: { clock: Clock; logger: Logger; metrics: Metrics; logLines: { flush(): void }; io: CliIo },
): Promise<{ source: ClusterPolicySource }> {
  const { startClusterPolicySource } = await import('../../infra/kubernetes-api/cluster-policy-source.js');
  const source = startClusterPolicySource({ kube, clock: deps.clock, logger: deps.logger, metrics: deps.metrics, maxStaleMs: cluster.maxStaleMs, secretBounds: cluster.secretBounds });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLUSTER_SYNC_TIMEOUT_MS)));
  const outcome = await Promise.race([source.synced.then(() => 'synced' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    const reason = source.readiness().reason ?? 'no answer';
    await source.stop();
    deps.logLines.flush();
    throw new ConfigError(`cannot read the policies from the Kubernetes API at ${kube.server} within ${CLUSTER_SYNC_TIMEOUT_MS / 1000} s: ${reason} (see the log lines above)`);
  }
  deps.io.stdout(`trustgate: policies from the Kubernetes API at ${kube.server} (watched)\n`);
  return { source };
}

// Ready when every part is ready; the first reason otherwise.
function combineReadiness(...parts: (() => { ready: boolean; reason?: string })[]): () => { ready: boolean; reason?: string } {
  return () => {
    for (const part of parts) {
      const answer = part();
      if (!answer.ready) return answer;
    }
    return { ready: true };
  };
}

function toInteger(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} expects an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

// The CA certificates (PEM) that issue the certificates allowed to call /admit. A file that
// holds no certificate would let nobody in, or with a typo anybody: refused at start.
async function readClientCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read --client-ca ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`--client-ca ${file} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(`--client-ca ${file} holds a certificate that does not parse: ${(error as Error).message}`);
    }
  }
  return blocks.join('\n');
}

// The certificate given, or the state directory's own CA and a server certificate for
// localhost, 127.0.0.1, the listening host and every --tls-san name.
async function resolveTls(config: ServeConfig, io: CliIo): Promise<{ cert: string; key: string }> {
  if (config.tls !== undefined) {
    const read = async (file: string): Promise<string> => {
      try {
        return await readFile(file, 'utf8');
      } catch (error) {
        throw new ConfigError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    };
    return { cert: await read(config.tls.certFile), key: await read(config.tls.keyFile) };
  }
  // A wildcard listen address is no name a client dials.
  const listenName = config.host === '0.0.0.0' || config.host === '::' || config.host === '' ? [] : [config.host];
  const names = ['localhost', '127.0.0.1', ...listenName, ...config.extraNames];
  for (const name of config.extraNames) {
    if (isIP(name) === 0 && !/^[a-zA-Z0-9*]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(name)) throw new UsageError(`--tls-san ${JSON.stringify(name)} is not a DNS name or IP address`);
  }
  const generated = await loadOrCreateTls(config.stateDir, names, io.clock.now());
  io.stdout(`trustgate: webhook CA certificate ${generated.caCreated ? 'written to' : 'kept at'} ${generated.caFile} (base64 it into the webhook's caBundle)\n`);
  return { cert: generated.certPem, key: generated.keyPem };
}

// Re-reads the policies on SIGHUP and every interval (0 = SIGHUP only). Returns what stops it.
function startPolicyReloads(reloader: PolicyReloader, intervalMs: number): () => void {
  const reload = (trigger: string): void => void reloader.reload(trigger);
  const onHangup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onHangup);
  const timer = intervalMs > 0 ? setInterval(() => reload('interval'), intervalMs) : undefined;
  timer?.unref();
  return () => {
    process.off('SIGHUP', onHangup);
    if (timer !== undefined) clearInterval(timer);
  };
}

// Resolves with the name of whatever asked the server to stop.
function waitForStop(stop: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const finish = (name: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(name);
    };
    const onTerm = (): void => finish('SIGTERM');
    const onInt = (): void => finish('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    if (stop?.aborted) finish('abort');
    stop?.addEventListener('abort', () => finish('abort'), { once: true });
  });
}

// TRUSTGATE_STORE_UNREADY_AFTER: how long the store may fail before /readyz says so (30s).
function parseStoreUnreadyAfter(env: CliIo['env']): number {
  const text = env['TRUSTGATE_STORE_UNREADY_AFTER'];
  try {
    return text === undefined || text === '' ? DEFAULT_STORE_UNREADY_AFTER_MS : parseDuration(text, 'TRUSTGATE_STORE_UNREADY_AFTER');
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

// /readyz: not ready once the store has failed for `unreadyAfterMs`. With no traffic there
// would be nothing to observe, so a probe that finds no operation in the last few seconds
// starts one read in the background (one at a time) and answers from what is known: the
// probe itself never waits on the store.
function createStoreReadiness(kv: KvStore, health: () => StoreHealth, unreadyAfterMs: number, clock: Clock): () => { ready: boolean; reason?: string } {
  const probeEveryMs = Math.min(5_000, Math.max(unreadyAfterMs / 2, 1));
  let probing = false;
  return () => {
    const now = clock.now();
    const current = health();
    if (!probing && (current.lastObservedAt === undefined || now.getTime() - current.lastObservedAt.getTime() >= probeEveryMs)) {
      probing = true;
      void kv
        .get(STORE_PROBE_KEY)
        .catch(() => undefined)
        .finally(() => {
          probing = false;
        });
    }
    if (isStoreReady(current, now, unreadyAfterMs)) return { ready: true };
    return { ready: false, reason: `trust store failing since ${current.failingSince?.toISOString() ?? '?'}: ${current.lastError ?? 'unknown error'}` };
  };
}

const STORE_PROBE_KEY = 'trustgate:readiness-probe';
