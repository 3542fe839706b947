// policy-lookup's dependencies, built once per container from its environment, and the
// policies a deployed function reads (TRUSTGATE_POLICIES), for every function. Kept apart
// from runtime-deps.ts, which links the verifiers: policy-lookup verifies nothing, and its
// bundles carry only what this module reaches.
import { decodeStoreConfig, openStore } from '../../infra/store/open-store.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import type { PolicySet } from '../../shared/policy/model.js';
import type { PolicyLookupDeps } from '../../shared/policy/policy-lookup.js';
import type { Clock, Logger } from '../../shared/ports.js';
import { snapshotPoliciesFromEnv } from './policy-snapshot-env.js';

type Env = Readonly<Record<string, string | undefined>>;

// policy-lookup: the policies (a snapshot in the store when TRUSTGATE_POLICY_CLUSTER_ID is
// set, else TRUSTGATE_POLICIES) and a JSON logger on stdout.
export function buildPolicyLookupDeps(env: Env, clock: Clock = systemClock): PolicyLookupDeps & { readonly logger: Logger } {
  const logger = createJsonLogger((line) => process.stdout.write(`${line}\n`), clock);
  const policies = snapshotPoliciesFromEnv(env, () => openStore(decodeStoreConfig({}, env), clock), clock, logger) ?? policiesFromEnv(env);
  return { logger, ...(policies === undefined ? {} : { policies }) };
}

// TRUSTGATE_POLICIES names a policy file or folder (a mounted ConfigMap, a file shipped with
// the function). It is read and decoded on first use and kept for the container's life, so a
// request never sees a half-edited set. A failed read is not kept: the next request retries,
// and until one succeeds verify-image denies every policy-form request with the reason
// (fail closed) and policy-lookup answers 500. The policy reader (YAML, the schema) is
// imported then too, not at the container's start.
// Unset or empty: no policies are configured.
export function policiesFromEnv(env: Env): (() => Promise<PolicySet>) | undefined {
  const path = env['TRUSTGATE_POLICIES'];
  if (path === undefined || path === '') return undefined;
  let loading: Promise<PolicySet> | undefined;
  return () => {
    loading ??= import('../../shared/policy/read-policy-set.js').then(({ readPolicySet }) => readPolicySet(path)).catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}
