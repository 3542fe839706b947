// How trustgate reaches the Kubernetes API: the in-cluster service account, or a kubeconfig
// file. One place for it, so every part that talks to the API server (policies, pull
// secrets) authenticates the same way. @kubernetes/client-node is imported here, at the
// point of use: a process that never talks to the API server never loads it.
import type { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';

export type KubeClient = typeof import('@kubernetes/client-node');

export interface LoadedKubeConfig {
  readonly client: KubeClient;
  readonly config: KubeConfig;
  // The API server's URL, for log lines.
  readonly server: string;
}

// Without `kubeconfigFile`: the in-cluster configuration (KUBERNETES_SERVICE_HOST and _PORT,
// the service-account CA and the projected token, re-read as it rotates). With it: the file's
// current context (server, certificate-authority or -data, a token or a client certificate).
// Any problem is CONFIG_INVALID. Refused: no current cluster, a server that is not https (the token would travel in clear),
// and insecure-skip-tls-verify (anyone on the path could then feed us policies).
export async function loadKubeConfig(kubeconfigFile: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<LoadedKubeConfig> {
  const client = await import('@kubernetes/client-node');
  const config = new client.KubeConfig();
  const where = kubeconfigFile === undefined ? 'the in-cluster configuration' : `kubeconfig ${kubeconfigFile}`;
  try {
    if (kubeconfigFile === undefined) {
      if (!env['KUBERNETES_SERVICE_HOST'] || !env['KUBERNETES_SERVICE_PORT']) {
        throw configError('--policies-from-cluster outside a cluster needs --kubeconfig FILE (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)');
      }
      config.loadFromCluster();
    } else {
      config.loadFromFile(kubeconfigFile);
    }
  } catch (error) {
    if (error instanceof TrustgateError) throw error;
    throw configError(`cannot load ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw configError(`${where} has no current context with a cluster`);
  if (!/^https:\/\//i.test(cluster.server)) throw configError(`${where}: the API server must be https://, got ${JSON.stringify(cluster.server)}`);
  if (cluster.skipTLSVerify) throw configError(`${where}: insecure-skip-tls-verify is refused; give the API server's CA (certificate-authority or -data)`);
  return { client, config, server: cluster.server };
}

function configError(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.CONFIG_INVALID, message);
}
