// Where `trustgate serve` reads a workload's pull secrets: the Secrets and ServiceAccounts of
// its policy files (as reloaded), or the cluster's, through the Kubernetes API.
import type { PolicySet } from '../shared/policy/model.js';
import type { Logger } from '../shared/ports.js';
import { pullSecretsFromPolicySet, type PullSecretSource } from '../shared/registry/workload-pull-secrets.js';
import { isTrustgateError } from '../shared/errors.js';
import { ConfigError } from './cli-error.js';

export type PullSecretsConfig = { readonly kind: 'policy-files' } | { readonly kind: 'cluster'; readonly kubeconfig?: string };

export async function openPullSecretSource(config: PullSecretsConfig, policies: () => PolicySet, logger: Logger): Promise<PullSecretSource> {
  if (config.kind === 'policy-files') return (namespace, workload) => pullSecretsFromPolicySet(policies(), namespace, workload);
  try {
    const { openClusterPullSecrets } = await import('../infra/kubernetes-api/cluster-pull-secrets.js');
    return await openClusterPullSecrets({ ...(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }), logger });
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message);
    throw error;
  }
}
