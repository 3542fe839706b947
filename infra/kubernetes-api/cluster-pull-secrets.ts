// Reads a workload's pull secrets from the Kubernetes API: the Secrets its pod spec names
// and those of its service account, each with one `get` (the RBAC in
// infra/kubernetes/pull-secrets-rbac.yaml grants exactly get on secrets and serviceaccounts).
// @kubernetes/client-node is loaded when the first reader is opened, so processes that never
// read a cluster do not pay for it.
// Security: what the API answers is a workload owner's object, decoded like a policy file's
// Secret (bounded, no value in any message); an API failure is reported by its status code
// only, since the client's error carries the response body.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports.js';
import { decodePullSecret, isPullSecretType, MAX_PULL_SECRET_BYTES, type PullSecretEntry } from '../../shared/registry/pull-secret.js';
import { MAX_WORKLOAD_CREDENTIALS, uniqueNames, type PullSecretSource, type WorkloadPullSecrets } from '../../shared/registry/workload-pull-secrets.js';

export interface ClusterPullSecretsOptions {
  // A kubeconfig file; absent: the in-cluster configuration (service account token).
  readonly kubeconfig?: string;
  readonly logger: Logger;
}

// The subset of CoreV1Api this reader uses.
interface CoreApi {
  readNamespacedSecret(request: { name: string; namespace: string }): Promise<{ type?: string; data?: Record<string, string> }>;
  readNamespacedServiceAccount(request: { name: string; namespace: string }): Promise<{ imagePullSecrets?: { name?: string }[] }>;
}

export async function openClusterPullSecrets(options: ClusterPullSecretsOptions): Promise<PullSecretSource> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  try {
    if (options.kubeconfig === undefined) config.loadFromCluster();
    else config.loadFromFile(options.kubeconfig);
  } catch (error) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `cannot load the Kubernetes configuration${options.kubeconfig === undefined ? ' (in-cluster)' : ` from ${options.kubeconfig}`}: ${(error as Error).message}`);
  }
  if (config.getCurrentCluster() === null) throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'the Kubernetes configuration names no cluster');
  const api = config.makeApiClient(k8s.CoreV1Api) as unknown as CoreApi;
  return createClusterPullSecretSource(api, options.logger);
}

// The source over an API client (separate so the reading rules do not depend on how the
// client was configured).
export function createClusterPullSecretSource(api: CoreApi, logger: Logger): PullSecretSource {
  return async (namespace: string, workload: WorkloadPullSecrets): Promise<readonly PullSecretEntry[]> => {
    const account = await readOrMissing(() => api.readNamespacedServiceAccount({ name: workload.serviceAccount, namespace }), `serviceaccount ${namespace}/${workload.serviceAccount}`);
    const fromAccount = (account?.imagePullSecrets ?? []).map((reference) => reference.name).filter((name): name is string => typeof name === 'string' && name !== '');
    const names = uniqueNames([...workload.imagePullSecrets, ...fromAccount]).slice(0, MAX_WORKLOAD_CREDENTIALS);
    const secrets = await Promise.all(names.map((name) => readOrMissing(() => api.readNamespacedSecret({ name, namespace }), `secret ${namespace}/${name}`)));
    const entries: PullSecretEntry[] = [];
    secrets.forEach((secret, index) => {
      const name = names[index] ?? '';
      if (secret === undefined || !isPullSecretType(secret.type)) return;
      try {
        entries.push(...decodePullSecret({ name, namespace, type: secret.type, data: decodeData(secret.data ?? {}) }));
      } catch (error) {
        // As the kubelet does: a pull secret that does not decode is skipped, said once here.
        logger.warn('pull secret skipped', { secret: `${namespace}/${name}`, error: (error as Error).message });
      }
    });
    return entries.slice(0, MAX_WORKLOAD_CREDENTIALS);
  };
}

// The object, undefined when it does not exist (as the kubelet, a missing pull secret is
// skipped), or PULL_SECRETS_UNAVAILABLE naming the object and the status only.
async function readOrMissing<T>(read: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    const status = typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : undefined;
    if (status === 404) return undefined;
    throw new TrustgateError(ErrorCode.PULL_SECRETS_UNAVAILABLE, `cannot read ${what} from the Kubernetes API${status === undefined ? '' : `: status ${status}`}`);
  }
}

// The API's base64 data values, decoded; an oversized or malformed value is left out (the
// decoder then reports the missing key).
function decodeData(data: Readonly<Record<string, string>>): Map<string, Uint8Array> {
  const decoded = new Map<string, Uint8Array>();
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string' || value.length > (MAX_PULL_SECRET_BYTES * 4) / 3 + 4) continue;
    decoded.set(key, new Uint8Array(Buffer.from(value, 'base64')));
  }
  return decoded;
}
