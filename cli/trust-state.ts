// The trust state options every command that verifies images shares (`verify`, `serve`):
// where the cache lives (SQLite in the state directory, or a DynamoDB table), how fresh it
// must be, and the Notary verifier composed over it (and the cosign and simple signing
// verifiers beside it).
import { checkStore, type StoreCheckReport } from '../infra/store/check-store.js';
import { decodeStoreConfig, openStore, type OpenedStore, type StoreConfig } from '../infra/store/open-store.js';
import { decodeFreshnessConfig } from '../shared/cache/freshness-config.js';
import { trackStoreHealth, type StoreHealth } from '../shared/cache/store-health.js';
import { ErrorCode, isTrustgateError, type TrustgateError } from '../shared/errors.js';
import { createNodeFetch } from '../shared/http/node-fetch.js';
import { noopMetrics, type Clock, type Fetch, type Logger, type Metrics } from '../shared/ports.js';
import { createTokenProviderFromEnv, decodeRealmHosts } from '../infra/trust-server/token-provider-from-env.js';
import { createAnonymousCosignVerifier } from '../shared/trust/cosign/cosign-verifier.js';
import { createCosignSignatureCache } from '../shared/trust/cosign/signature-cache.js';
import { createAnonymousSimpleVerifier } from '../shared/trust/simple/simple-verifier.js';
import { createNotaryVerifier } from '../shared/trust/notary/notary-verifier.js';
import { decodeSizeLimits } from '../shared/trust/notary/size-limits-config.js';
import { createTrustedStateStore } from '../shared/trust/notary/trusted-state-store.js';
import { openSigstoreRootSource } from '../infra/sigstore/open-sigstore-root.js';
import type { SigstoreRootSource } from '../shared/trust/sigstore/refreshing-trusted-root-source.js';
import { decodeSigstoreRootConfig } from '../shared/trust/sigstore/sigstore-root-config.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement, SimpleSigningRequirement } from '../shared/trust/verifier.js';
import { ConfigError } from './cli-error.js';
import { resolveStateDir } from './state-dir.js';

export const TRUST_STATE_OPTIONS = {
  'state-dir': { type: 'string' },
  freshness: { type: 'string' },
  'max-stale': { type: 'string' },
  'dynamodb-table': { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  'sigstore-tuf-url': { type: 'string' },
  'sigstore-tuf-root': { type: 'string' },
  'sigstore-refresh-interval': { type: 'string' },
} as const;

export interface TrustStateFlags {
  readonly 'state-dir'?: string | undefined;
  readonly freshness?: string | undefined;
  readonly 'max-stale'?: string | undefined;
  readonly 'dynamodb-table'?: string | undefined;
  readonly 'dynamodb-endpoint'?: string | undefined;
  readonly 'sigstore-tuf-url'?: string | undefined;
  readonly 'sigstore-tuf-root'?: string | undefined;
  readonly 'sigstore-refresh-interval'?: string | undefined;
}

export interface TrustState {
  readonly notary: ImageVerifier<NotaryRequirement>;
  // cosign signatures, their material kept in the same store under the same freshness rules.
  readonly cosign: ImageVerifier<CosignRequirement>;
  // A cosign verifier over the same cache that always reads the registry (signature pushes).
  readonly refreshingCosign: ImageVerifier<CosignRequirement>;
  // Red Hat simple signing signatures, read from their stores on every verification.
  readonly simple: ImageVerifier<SimpleSigningRequirement>;
  // The opened store; its kv records every outcome in storeHealth.
  readonly store: OpenedStore;
  readonly storeHealth: () => StoreHealth;
  // Checks the configured store (see infra/store/check-store.ts). A missing or wrong store
  // rejects with ConfigError (exit 2); a store that does not answer resolves with that
  // STATE_STORE_FAILED error: an outage, which each verification then handles.
  readonly checkStore: () => Promise<StoreCheckReport | TrustgateError>;
  // A verifier over the same store that always asks the trust server (push and sign events).
  readonly refreshingNotary: ImageVerifier<NotaryRequirement>;
  // Sigstore's trusted root: the shipped one, kept current from a TUF mirror when one is
  // configured (its TUF state in the same store).
  readonly sigstoreRoot: SigstoreRootSource;
}

type Env = Readonly<Record<string, string | undefined>>;

// Opens the store the flags and environment name; a setting that cannot be used is a
// configuration error (exit 2), not a denial. `fetch` replaces the network (an offline run).
export function openTrustState(flags: TrustStateFlags, env: Env, clock: Clock, logger: Logger, metrics?: Metrics, fetchOverride?: Fetch): TrustState {
  try {
    const freshness = decodeFreshnessConfig({ freshness: flags.freshness, maxStale: flags['max-stale'] }, env);
    const config = decodeStoreConfig(
      { stateDir: flags['state-dir'], dynamodbTable: flags['dynamodb-table'], dynamodbEndpoint: flags['dynamodb-endpoint'] },
      env,
      resolveStateDir(flags['state-dir'], env),
    );
    const opened = openStore(config, clock);
    const tracked = trackStoreHealth(opened.kv, clock);
    const store: OpenedStore = { ...opened, kv: tracked.kv };
    const fetch = fetchOverride ?? createNodeFetch();
    const sigstoreConfig = decodeSigstoreRootConfig(
      { tufUrl: flags['sigstore-tuf-url'], tufRoot: flags['sigstore-tuf-root'], refreshInterval: flags['sigstore-refresh-interval'] },
      env,
    );
    const common = {
      fetch,
      state: createTrustedStateStore(store.kv, logger),
      logger,
      ...(metrics === undefined ? {} : { metrics }),
      tokens: createTokenProviderFromEnv(fetch, env, clock),
      allowFirstUse: store.persistent,
      maxStaleMs: freshness.maxStaleMs,
      limits: decodeSizeLimits(env),
    };
    const sigstoreRoot = openSigstoreRootSource(sigstoreConfig, { kv: store.kv, fetch, clock, logger, metrics: metrics ?? noopMetrics });
    const realmHosts = decodeRealmHosts(env['TRUSTGATE_TRUST_REALM_HOSTS'] ?? '');
    const cosignCache = createCosignSignatureCache(store.kv, { retainMs: freshness.freshnessMs + freshness.maxStaleMs, logger, ...(metrics === undefined ? {} : { metrics }) });
    const cosignVerifier = (freshnessMs: number): ImageVerifier<CosignRequirement> =>
      createAnonymousCosignVerifier(fetch, logger, () => clock.now().getTime(), sigstoreRoot, realmHosts, { store: cosignCache, freshnessMs, maxStaleMs: freshness.maxStaleMs, ...(metrics === undefined ? {} : { metrics }) });
    return {
      notary: createNotaryVerifier({ ...common, freshnessMs: freshness.freshnessMs }),
      refreshingNotary: createNotaryVerifier({ ...common, freshnessMs: 0 }),
      cosign: cosignVerifier(freshness.freshnessMs),
      refreshingCosign: cosignVerifier(0),
      simple: createAnonymousSimpleVerifier(fetch, logger, () => clock.now().getTime(), realmHosts),
      store,
      storeHealth: () => tracked.health(),
      checkStore: () => checkConfiguredStore(config, store),
      sigstoreRoot,
    };
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
}

async function checkConfiguredStore(config: StoreConfig, store: OpenedStore): Promise<StoreCheckReport | TrustgateError> {
  try {
    return await checkStore(config, store.kv);
  } catch (error) {
    if (isTrustgateError(error) && error.code === ErrorCode.STATE_STORE_FAILED) return error;
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
}
