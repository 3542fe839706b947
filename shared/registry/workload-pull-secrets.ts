// Which pull secrets a workload has, and where their credentials come from. As the kubelet
// (and Portieris) use them: the pod spec's `imagePullSecrets` first, then those of the
// service account the pod runs as (`default` when it names none), each Secret in the
// workload's namespace. A referenced Secret that does not exist, or is not a pull secret,
// is skipped, as the kubelet skips it: the registry is then asked with what remains.
import { isPlainObject } from '../json.js';
import type { PolicySet } from '../policy/model.js';
import { createCredentialKeyring, type RegistryCredentials } from './credential-keyring.js';
import { decodePullSecret, isPullSecretType, type PullSecretEntry, type RegistryCredential } from './pull-secret.js';
import { ErrorCode, TrustgateError, type FieldProblem } from '../errors.js';

// What the admitted object says about its pull secrets (names only: never a value).
export interface WorkloadPullSecrets {
  readonly imagePullSecrets: readonly string[];
  // The service account the pod runs as.
  readonly serviceAccount: string;
}

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const NO_PULL_SECRETS: WorkloadPullSecrets = { imagePullSecrets: [], serviceAccount: DEFAULT_SERVICE_ACCOUNT };

// Resolves a workload's references to the decoded entries of its pull secrets, in the order
// they are tried. Implemented over the policy files (in memory: answers at once) and over
// the Kubernetes API (a promise).
export type PullSecretSource = (namespace: string, workload: WorkloadPullSecrets) => Promise<readonly PullSecretEntry[]> | readonly PullSecretEntry[];

// Most entries a workload's pull secrets may add up to for one request.
export const MAX_WORKLOAD_CREDENTIALS = 64;

// The pull secrets the policy files hold for a workload: its own references, then those of
// its service account when the files hold that ServiceAccount.
export function pullSecretsFromPolicySet(set: PolicySet, namespace: string, workload: WorkloadPullSecrets): PullSecretEntry[] {
  const account = set.serviceAccounts?.find((candidate) => candidate.namespace === namespace && candidate.name === workload.serviceAccount);
  const names = uniqueNames([...workload.imagePullSecrets, ...(account?.imagePullSecrets ?? [])]);
  const entries: PullSecretEntry[] = [];
  for (const name of names) {
    const secret = set.secrets.find((candidate) => candidate.namespace === namespace && candidate.name === name);
    // Decoded and checked when the policy files were loaded.
    if (secret !== undefined && isPullSecretType(secret.type)) entries.push(...decodePullSecret(secret));
  }
  return entries.slice(0, MAX_WORKLOAD_CREDENTIALS);
}

export function uniqueNames(names: readonly string[]): string[] {
  return [...new Set(names)];
}

// The lookup a verification uses; undefined when there is nothing to look up.
export function toRegistryCredentials(entries: readonly PullSecretEntry[] | undefined): RegistryCredentials | undefined {
  return entries === undefined || entries.length === 0 ? undefined : createCredentialKeyring(entries);
}

// --- On the wire: the proxy hands a deployed verify-image the workload's credentials --------
// `registryCredentials: [{registry, username?, password?, identitytoken?, source?}]`, in
// the order to try, carried only over the authenticated channel to the function, which
// uses them for that request and keeps nothing.

export function encodeRegistryCredentials(entries: readonly PullSecretEntry[]): unknown[] {
  return entries.map(({ key, source, credential }) => ({
    registry: key,
    source,
    ...(credential.username === undefined ? {} : { username: credential.username }),
    ...(credential.password === undefined ? {} : { password: credential.password }),
    ...(credential.identityToken === undefined ? {} : { identitytoken: credential.identityToken }),
  }));
}

const MAX_WIRE_TEXT = 16 * 1024;

// Decodes the request field, reporting bad entries by path and never by value.
export function decodeRegistryCredentials(value: unknown, path: string, problems: FieldProblem[]): PullSecretEntry[] {
  const entries: PullSecretEntry[] = [];
  if (!Array.isArray(value) || value.length > MAX_WORKLOAD_CREDENTIALS) {
    problems.push({ path, message: `must be an array of at most ${MAX_WORKLOAD_CREDENTIALS} credentials` });
    return entries;
  }
  value.forEach((item: unknown, index) => {
    const at = `${path}[${index}]`;
    if (!isPlainObject(item)) return void problems.push({ path: at, message: 'must be an object' });
    const text = (field: string): string | undefined => {
      const raw = item[field];
      if (raw === undefined) return undefined;
      // eslint-disable-next-line no-control-regex -- a value ends up in an HTTP header
      if (typeof raw !== 'string' || raw.length > MAX_WIRE_TEXT || /[\x00-\x1f\x7f]/.test(raw)) {
        problems.push({ path: `${at}.${field}`, message: 'must be a short string without control characters' });
        return undefined;
      }
      return raw;
    };
    for (const key of Object.keys(item)) {
      if (!['registry', 'source', 'username', 'password', 'identitytoken'].includes(key)) problems.push({ path: `${at}.${key}`, message: 'is not a known field' });
    }
    const registry = text('registry');
    const source = text('source') ?? 'the request';
    const username = text('username');
    const password = text('password');
    const identityToken = text('identitytoken');
    if (registry === undefined || registry === '') return void problems.push({ path: `${at}.registry`, message: 'must name the registry' });
    if (identityToken === undefined && (username === undefined || password === undefined)) {
      return void problems.push({ path: at, message: 'needs username and password, or identitytoken' });
    }
    const credential: RegistryCredential = {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(identityToken === undefined ? {} : { identityToken }),
    };
    entries.push({ key: registry, source, credential });
  });
  return entries;
}

export function invalidCredentials(problems: readonly FieldProblem[]): TrustgateError {
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `invalid registryCredentials: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
}
