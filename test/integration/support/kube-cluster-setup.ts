// A real kube-apiserver set up as a cluster trustgate runs in: the CRDs of infra/crds/ (served
// before anything uses them), namespaces, the shipped RBAC of infra/kubernetes/rbac.yaml (or
// another manifest a suite tests), and a kubeconfig that acts as trustgate's ServiceAccount,
// so the shipped ClusterRole is what decides what serve may read.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeAnswer, KubeApiServer, KubeObject } from './kube-apiserver.js';

const INFRA = fileURLToPath(new URL('../../../infra/', import.meta.url));
export const POLICY_API = '/apis/portieris.cloud.ibm.com/v1';
// How long the CRDs may take to be served after they are created.
const CRDS_SERVED_MS = 60_000;

export function yamlObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).map((doc) => doc.toJS() as KubeObject);
}

export function expectStatus(answer: KubeAnswer, status: number): KubeAnswer {
  expect(answer.status, answer.text).toBe(status);
  return answer;
}

// The API path an RBAC object of the shipped manifest is created at.
export function rbacPath(object: KubeObject): string {
  const namespace = (object['metadata'] as { namespace?: string }).namespace;
  const plural = `${String(object['kind']).toLowerCase()}s`;
  return `/apis/rbac.authorization.k8s.io/v1/${namespace === undefined ? '' : `namespaces/${namespace}/`}${plural}`;
}

export interface NamespaceSpec {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface InstallOptions {
  // Whether the CRDs are created and waited for (default true): a suite whose serve reads no
  // cluster policies goes without them.
  readonly crds?: boolean;
  // The RBAC manifests of infra/kubernetes/ applied (default the shipped rbac.yaml): a suite
  // testing what another manifest grants applies that one alone.
  readonly rbac?: readonly string[];
}

// Creates the CRDs and waits until both are served (until a CRD is established its path
// answers a plain-text 404), then the namespaces (trustgate-system among them, where the
// shipped RBAC lives) and the RBAC.
export async function installTrustgate(api: KubeApiServer, namespaces: readonly (string | NamespaceSpec)[], options: InstallOptions = {}): Promise<void> {
  const { crds = true, rbac = ['rbac.yaml'] } = options;
  if (crds) await installCrds(api);
  await createNamespaces(api, namespaces);
  for (const file of rbac) {
    for (const object of yamlObjects(readFileSync(join(INFRA, 'kubernetes', file), 'utf8'))) expectStatus(await api.request('POST', rbacPath(object), object), 201);
  }
}

// The CRDs of infra/crds/, created and served.
async function installCrds(api: KubeApiServer): Promise<void> {
  for (const file of readdirSync(join(INFRA, 'crds')).filter((name) => name.endsWith('.yaml'))) {
    for (const crd of yamlObjects(readFileSync(join(INFRA, 'crds', file), 'utf8'))) expectStatus(await api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd), 201);
  }
  const served = async (path: string): Promise<boolean> => (await api.request('GET', path).catch(() => undefined))?.status === 200;
  const deadline = performance.now() + CRDS_SERVED_MS;
  while (!((await served(`${POLICY_API}/clusterimagepolicies`)) && (await served(`${POLICY_API}/imagepolicies`)))) {
    if (performance.now() > deadline) throw new Error(`the CRDs were not served within ${CRDS_SERVED_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Creates each namespace, with its labels.
export async function createNamespaces(api: KubeApiServer, namespaces: readonly (string | NamespaceSpec)[]): Promise<void> {
  for (const namespace of namespaces) {
    const { name, labels = {} } = typeof namespace === 'string' ? { name: namespace } : namespace;
    expectStatus(await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }), 201);
  }
}

// A kubeconfig for the API server at `target` (the server itself or a proxy in front of it):
// the given token, impersonating trustgate's ServiceAccount.
export function kubeconfigAsTrustgate(target: { readonly url: string; readonly caPem: string }, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: target.url, 'certificate-authority-data': Buffer.from(target.caPem).toString('base64') } }],
    users: [{ name: 'trustgate', user: { token, as: 'system:serviceaccount:trustgate-system:trustgate' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'trustgate' } }],
    'current-context': 'test',
  });
}

// Writes kubeconfigAsTrustgate(target, token) to `kubeconfig.yaml` in `dir`, readable only by
// its owner; its path.
export async function writeKubeconfigAsTrustgate(dir: string, target: { readonly url: string; readonly caPem: string }, token: string): Promise<string> {
  const path = join(dir, 'kubeconfig.yaml');
  await writeFile(path, kubeconfigAsTrustgate(target, token), { mode: 0o600 });
  return path;
}
