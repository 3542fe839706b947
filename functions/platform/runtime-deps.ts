// Dependencies a deployed function builds once per container (cold start) from its
// environment, decoded here and nowhere else.
import { createFileStore } from '../../shared/cache/file-store.js';
import { createMemoryStore } from '../../shared/cache/memory-store.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import type { PolicySet } from '../../shared/policy/model.js';
import type { PolicyLookupDeps } from '../../shared/policy/policy-lookup.js';
import { readPolicySet } from '../../shared/policy/read-policy-set.js';
import type { Clock, Logger } from '../../shared/ports.js';
import { createTokenProvider } from '../../shared/registry/token-auth.js';
import { createNotaryVerifier } from '../../shared/trust/notary/notary-verifier.js';
import { createTrustedStateStore } from '../../shared/trust/notary/trusted-state-store.js';
import type { VerifyImageDeps } from '../../shared/verify/verify-image.js';

export const systemClock: Clock = { now: () => new Date() };

type Env = Readonly<Record<string, string | undefined>>;

function createLogger(): Logger {
  return createJsonLogger((line) => process.stdout.write(`${line}\n`));
}

export function buildVerifyImageDeps(env: Env): VerifyImageDeps & { readonly logger: Logger } {
  const logger = createLogger();
  const fetch = createNodeFetch();
  const stateDir = env['TRUSTGATE_STATE_DIR'];
  const kv = stateDir ? createFileStore(stateDir) : createMemoryStore();
  const tokens = createTokenProvider({ fetch, timeoutMs: 10_000, now: () => Date.now() });
  const notary = createNotaryVerifier({ fetch, state: createTrustedStateStore(kv), logger, tokens });
  const policies = policiesFromEnv(env);
  return { notary, clock: systemClock, logger, ...(policies === undefined ? {} : { policies }) };
}

export function buildPolicyLookupDeps(env: Env): PolicyLookupDeps & { readonly logger: Logger } {
  const policies = policiesFromEnv(env);
  return { logger: createLogger(), ...(policies === undefined ? {} : { policies }) };
}

// TRUSTGATE_POLICIES names a policy file or folder (a mounted ConfigMap, a file shipped with
// the function). It is read and decoded on first use and kept for the container's life, so a
// request never sees a half-edited set. A failed read is not kept: the next request retries,
// and until one succeeds verify-image denies every policy-form request with the reason
// (fail closed) and policy-lookup answers 500.
// Unset or empty: no policies are configured.
export function policiesFromEnv(env: Env): (() => Promise<PolicySet>) | undefined {
  const path = env['TRUSTGATE_POLICIES'];
  if (path === undefined || path === '') return undefined;
  let loading: Promise<PolicySet> | undefined;
  return () => {
    loading ??= readPolicySet(path).catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}
