// Dependencies a deployed function builds once per container (cold start) from its
// environment, decoded here and nowhere else.
import { checkStore, createStoreStartupCheck } from '../../infra/store/check-store.js';
import { decodeStoreConfig, openStore, type OpenedStore } from '../../infra/store/open-store.js';
import { decodeFreshnessConfig } from '../../shared/cache/freshness-config.js';
import { createChangefeedPoller } from '../../shared/callback/changefeed-poller.js';
import type { SignCallbackDeps } from '../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import { snapshotPoliciesFromEnv } from './policy-snapshot-env.js';
import { policiesFromEnv } from './policy-lookup-deps.js';
import { noopMetrics, type Clock, type Fetch, type KvStore, type Logger } from '../../shared/ports.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import { createTokenProviderFromEnv, decodeRealmHosts } from '../../infra/trust-server/token-provider-from-env.js';
import { createAnonymousCosignVerifier, createReferrerSubjectReader, type CosignCacheSettings } from '../../shared/trust/cosign/cosign-verifier.js';
import { createCosignSignatureCache } from '../../shared/trust/cosign/signature-cache.js';
import { createAnonymousSimpleVerifier } from '../../shared/trust/simple/simple-verifier.js';
import { createNotaryVerifier, type NotaryVerifierDeps } from '../../shared/trust/notary/notary-verifier.js';
import { decodeSizeLimits } from '../../shared/trust/notary/size-limits-config.js';
import { createTrustedStateStore } from '../../shared/trust/notary/trusted-state-store.js';
import type { ImageVerifier, NotaryRequirement } from '../../shared/trust/verifier.js';
import { openSigstoreRootSource } from '../../infra/sigstore/open-sigstore-root.js';
import type { SigstoreRootSource } from '../../shared/trust/sigstore/refreshing-trusted-root-source.js';
import { decodeSigstoreRootConfig } from '../../shared/trust/sigstore/sigstore-root-config.js';
import type { VerifyImageDeps } from '../../shared/verify/verify-image.js';


type Env = Readonly<Record<string, string | undefined>>;

// policy-lookup's dependencies are built in a module of their own, which links none of the
// verifiers above (its bundle would otherwise carry them); re-exported for whoever imports
// them from here.
export { buildPolicyLookupDeps, policiesFromEnv } from './policy-lookup-deps.js';

function createLogger(clock: Clock): Logger {
  return createJsonLogger((line) => process.stdout.write(`${line}\n`), clock);
}

// A deployed verify-image answers the policy form only: trust servers, signers and root keys
// come from the policies the operator shipped, never from a request, so a caller cannot point
// the function (and its network position and store) at a server of their choosing or pin
// their own root key. TRUSTGATE_ALLOW_EXPLICIT_TRUST=true (exactly) allows the explicit
// form's `trust` fields again; serverless.yml and manifest.yaml never set it.
export function buildVerifyImageDeps(env: Env, clock: Clock = systemClock): VerifyImageDeps & { readonly logger: Logger; readonly allowExplicitTrust: boolean; readonly sigstoreRoot: SigstoreRootSource } {
  const logger = createLogger(clock);
  const { verifierDeps, storeChecked, store, sigstoreRoot, cosignCache } = buildTrustState(env, logger, clock);
  const policies = snapshotPoliciesFromEnv(env, () => store, clock, logger) ?? policiesFromEnv(env);
  return {
    notary: afterStoreCheck(createNotaryVerifier(verifierDeps), storeChecked),
    cosign: createAnonymousCosignVerifier(verifierDeps.fetch, logger, () => clock.now().getTime(), sigstoreRoot, realmHostsFromEnv(env), cosignCache(verifierDeps.freshnessMs ?? 0)),
    simple: createAnonymousSimpleVerifier(verifierDeps.fetch, logger, () => clock.now().getTime(), realmHostsFromEnv(env)),
    clock,
    logger,
    allowExplicitTrust: env['TRUSTGATE_ALLOW_EXPLICIT_TRUST'] === 'true',
    sigstoreRoot,
    ...(policies === undefined ? {} : { policies }),
  };
}

// The store and verifier settings from the environment: DynamoDB when TRUSTGATE_DYNAMODB_TABLE
// is set (with TRUSTGATE_STATE_KEY), SQLite when TRUSTGATE_STATE_DIR is, else memory, in
// which case trust on first use is refused and only pinned root key IDs bootstrap trust.
// TRUSTGATE_FRESHNESS and TRUSTGATE_MAX_STALE tune the cache (default 30s and 15m);
// TRUSTGATE_TRUST_DATA_MAX_BYTES the metadata one update may read (default 4MiB).
// Sigstore's trusted root: the shipped one, refreshed from TRUSTGATE_SIGSTORE_TUF_URL when set
// (see shared/trust/sigstore/sigstore-root-config.ts), its TUF state in the same store.
export function buildTrustState(
  env: Env,
  logger: Logger,
  clock: Clock,
): {
  readonly store: OpenedStore;
  readonly fetch: Fetch;
  readonly verifierDeps: NotaryVerifierDeps;
  readonly storeChecked: () => Promise<void>;
  readonly sigstoreRoot: SigstoreRootSource;
  // The cosign cache settings over the store, for a verifier with this freshness window.
  readonly cosignCache: (freshnessMs: number) => CosignCacheSettings;
} {
  const config = decodeStoreConfig({}, env);
  const store = openStore(config, clock);
  const freshness = decodeFreshnessConfig({}, env);
  const fetch = createNodeFetch();
  const tokens = createTokenProviderFromEnv(fetch, env, clock);
  if (!store.persistent) logger.warn('no persistent store configured: trust on first use is disabled', { store: store.kind });
  const sigstoreConfig = decodeSigstoreRootConfig({}, env);
  const storeChecked = createStoreStartupCheck(() => checkStore(config, store.kv), logger);
  const cosignStore = createCosignSignatureCache(afterStoreCheckKv(store.kv, storeChecked), { retainMs: freshness.freshnessMs + freshness.maxStaleMs, logger });
  return {
    store,
    fetch,
    storeChecked,
    cosignCache: (freshnessMs) => ({ store: cosignStore, freshnessMs, maxStaleMs: freshness.maxStaleMs }),
    sigstoreRoot: openSigstoreRootSource(sigstoreConfig, { kv: afterStoreCheckKv(store.kv, storeChecked), fetch, clock, logger, metrics: noopMetrics }),
    verifierDeps: {
      fetch,
      state: createTrustedStateStore(store.kv, logger),
      logger,
      tokens,
      allowFirstUse: store.persistent,
      freshnessMs: freshness.freshnessMs,
      maxStaleMs: freshness.maxStaleMs,
      limits: decodeSizeLimits(env),
    },
  };
}

// sign-callback: TRUSTGATE_REGISTRY_HOST (required: the host[:port] of GUNs, never taken from
// events), TRUSTGATE_CALLBACK_NAMESPACE (default "default"), TRUSTGATE_CALLBACK_TRUST_SERVER
// (the Notary server whose changefeed a poll reads; polls do nothing without it), the
// policies and store like verify-image. Verification always asks the trust server.
export function buildSignCallbackDeps(env: Env, clock: Clock = systemClock): SignCallbackDeps & { readonly logger: Logger } {
  const logger = createLogger(clock);
  const registryHost = env['TRUSTGATE_REGISTRY_HOST'];
  if (registryHost === undefined || !/^[a-z0-9.-]+(?::\d{1,5})?$/i.test(registryHost)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_REGISTRY_HOST must be the registry's host[:port], got ${JSON.stringify(registryHost ?? '')}`);
  }
  const { store, fetch, verifierDeps, storeChecked, sigstoreRoot, cosignCache } = buildTrustState(env, logger, clock);
  // Event claims, statuses and the changefeed cursor wait for the start-up check too, so a
  // misconfigured table fails with CONFIG_INVALID (logged) rather than a store error.
  const kv = afterStoreCheckKv(store.kv, storeChecked);
  const policies = snapshotPoliciesFromEnv(env, () => store, clock, logger) ?? policiesFromEnv(env);
  const trustServer = env['TRUSTGATE_CALLBACK_TRUST_SERVER'];
  const poll =
    trustServer === undefined || trustServer === ''
      ? undefined
      : createChangefeedPoller({ server: trustServer, fetch, store: kv, logger, ...(verifierDeps.tokens ? { tokens: verifierDeps.tokens } : {}) });
  return {
    verify: {
      notary: afterStoreCheck(createNotaryVerifier({ ...verifierDeps, freshnessMs: 0 }), storeChecked),
      // Always reads the registry: a push of a signature means the cached material is out of date.
      cosign: createAnonymousCosignVerifier(fetch, logger, () => clock.now().getTime(), sigstoreRoot, realmHostsFromEnv(env), cosignCache(0)),
      simple: createAnonymousSimpleVerifier(fetch, logger, () => clock.now().getTime(), realmHostsFromEnv(env)),
      clock,
      logger,
      ...(policies === undefined ? {} : { policies }),
    },
    store: kv,
    clock,
    logger,
    metrics: noopMetrics,
    registryHost: registryHost.toLowerCase(),
    referrerSubject: createReferrerSubjectReader(fetch, registryHost.toLowerCase(), () => clock.now().getTime()),
    pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    namespace: env['TRUSTGATE_CALLBACK_NAMESPACE'] || 'default',
    ...(poll === undefined ? {} : { poll }),
  };
}

// The verifier, run only once the store passed its start-up check: a misconfigured store
// denies with CONFIG_INVALID (the reason is logged) instead of running without persistence.
function afterStoreCheck(verifier: ImageVerifier<NotaryRequirement>, storeChecked: () => Promise<void>): ImageVerifier<NotaryRequirement> {
  return {
    kind: verifier.kind,
    async verify(image, requirement, now, signal) {
      await storeChecked();
      return verifier.verify(image, requirement, now, signal);
    },
  };
}

// The store, used only once it passed its start-up check.
function afterStoreCheckKv(kv: KvStore, storeChecked: () => Promise<void>): KvStore {
  return {
    async get(key) {
      await storeChecked();
      return kv.get(key);
    },
    async put(key, item, options) {
      await storeChecked();
      return kv.put(key, item, options);
    },
    async delete(key) {
      await storeChecked();
      return kv.delete(key);
    },
  };
}

// Token realm hosts, besides a registry's own, that may receive a workload's pull-secret
// credentials (the proxy passes them with a request): the operator's allow-list.
function realmHostsFromEnv(env: Env): readonly string[] {
  return decodeRealmHosts(env['TRUSTGATE_TRUST_REALM_HOSTS'] ?? '');
}
