// A v1 ServiceAccount in the policy files: only its identity and `imagePullSecrets` (the pull
// secrets every pod running as it gets) matter here; the other fields an exported object
// carries (secrets, automountServiceAccountToken) are accepted and ignored.
import { isPlainObject } from '../json.js';
import { decodeMetadata } from './decode-metadata.js';
import type { PolicyServiceAccount } from './model.js';
import type { ProblemScope } from './problem-scope.js';

const SERVICE_ACCOUNT_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'imagePullSecrets', 'secrets', 'automountServiceAccountToken']);
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Far above any real account, a bound on what one document makes each admission look up.
const MAX_PULL_SECRETS = 64;

export function decodeServiceAccount(document: Readonly<Record<string, unknown>>, scope: ProblemScope): PolicyServiceAccount | undefined {
  const before = scope.count();
  if (document['apiVersion'] !== 'v1') scope.add('apiVersion', 'must be "v1" for a ServiceAccount');
  for (const key of Object.keys(document)) {
    if (!SERVICE_ACCOUNT_FIELDS.has(key)) scope.add(key, 'is not a known field of ServiceAccount');
  }
  const metadata = decodeMetadata(document['metadata'], scope.child('metadata'), true);
  const names: string[] = [];
  const list = document['imagePullSecrets'];
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.length > MAX_PULL_SECRETS) {
      scope.add('imagePullSecrets', `must be an array of at most ${MAX_PULL_SECRETS} {name} references`);
    } else {
      list.forEach((item: unknown, index) => {
        const name = isPlainObject(item) ? item['name'] : undefined;
        if (typeof name !== 'string' || name.length > 253 || !SUBDOMAIN.test(name)) scope.add(`imagePullSecrets[${index}].name`, 'must be a Secret name');
        else names.push(name);
      });
    }
  }
  if (scope.count() !== before || metadata === undefined) return undefined;
  return { name: metadata.name, namespace: metadata.namespace ?? 'default', imagePullSecrets: names };
}
