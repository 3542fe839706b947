import { ErrorCode, TrustgateError, type FieldProblem } from '../errors.js';
import { isPlainObject } from '../json.js';
import { decodeImagePolicy } from './decode-image-policy.js';
import { decodeSecret } from './decode-secret.js';
import { decodeServiceAccount } from './decode-service-account.js';
import { truncate } from './decode-metadata.js';
import type { ClusterImagePolicy, ImagePolicy, PolicySecret, PolicyServiceAccount, PolicySet } from './model.js';
import { parsePolicyStream, type PolicyFile } from './parse-policy-stream.js';
import type { ProblemScope } from './problem-scope.js';

export type { PolicyFile } from './parse-policy-stream.js';

// `kubectl get ... -o yaml` writes `kind: List`; typed list kinds are accepted the same way.
const LIST_KINDS = new Set(['List', 'ImagePolicyList', 'ClusterImagePolicyList', 'SecretList', 'ServiceAccountList']);

interface Collected {
  readonly imagePolicies: ImagePolicy[];
  readonly clusterPolicies: ClusterImagePolicy[];
  readonly secrets: PolicySecret[];
  readonly serviceAccounts: PolicyServiceAccount[];
  // Identity of each object -> where it was first defined, to refuse silent redefinition.
  readonly seen: Map<string, string>;
}

// Decode policy files (YAML streams or JSON) into a PolicySet. Every document is decoded even
// after a bad one, and all problems are thrown together as one POLICY_INVALID (POLICY_UNSUPPORTED
// when every problem is a valid request for something not supported yet), each with its
// location `<source>:<document number>: <field path>`. Nothing partial is ever returned: a policy
// set with a document missing could allow what the missing document would have denied.
export function decodePolicyDocuments(files: readonly PolicyFile[]): PolicySet {
  const problems: FieldProblem[] = [];
  const collected: Collected = { imagePolicies: [], clusterPolicies: [], secrets: [], serviceAccounts: [], seen: new Map() };
  for (const file of files) {
    for (const document of parsePolicyStream(file, problems)) decodeDocument(document.value, document.scope, collected, true);
  }
  const first = problems[0];
  if (first !== undefined) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    // Only documents that are valid but ask for something not built yet are POLICY_UNSUPPORTED.
    if (problems.every((problem) => problem.code === ErrorCode.POLICY_UNSUPPORTED)) {
      throw new TrustgateError(ErrorCode.POLICY_UNSUPPORTED, `policy documents ask for what is not supported (${count}), first: ${first.path}: ${first.message}`, { problems });
    }
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `policy documents are invalid (${count}), first: ${first.path}: ${first.message}`, {
      problems,
    });
  }
  return {
    imagePolicies: collected.imagePolicies,
    clusterPolicies: collected.clusterPolicies,
    secrets: collected.secrets,
    ...(collected.serviceAccounts.length === 0 ? {} : { serviceAccounts: collected.serviceAccounts }),
  };
}

function decodeDocument(value: unknown, scope: ProblemScope, collected: Collected, listAllowed: boolean): void {
  if (!isPlainObject(value)) {
    scope.add('', 'must be an object with apiVersion and kind');
    return;
  }
  const kind = value['kind'];
  if (typeof kind !== 'string') {
    scope.add('kind', kind === undefined ? 'is required' : 'must be string');
    return;
  }
  if (kind === 'ImagePolicy' || kind === 'ClusterImagePolicy') {
    const policy = decodeImagePolicy(value, kind, scope);
    if (policy === undefined) return;
    if (policy.kind === 'ImagePolicy') {
      if (isNew(`ImagePolicy ${policy.namespace}/${policy.name}`, scope, collected)) collected.imagePolicies.push(policy);
    } else if (isNew(`ClusterImagePolicy ${policy.name}`, scope, collected)) {
      collected.clusterPolicies.push(policy);
    }
  } else if (kind === 'Secret') {
    const secret = decodeSecret(value, scope);
    if (secret !== undefined && isNew(`Secret ${secret.namespace}/${secret.name}`, scope, collected)) collected.secrets.push(secret);
  } else if (kind === 'ServiceAccount') {
    const account = decodeServiceAccount(value, scope);
    if (account !== undefined && isNew(`ServiceAccount ${account.namespace}/${account.name}`, scope, collected)) collected.serviceAccounts.push(account);
  } else if (LIST_KINDS.has(kind) && listAllowed) {
    decodeList(value, scope, collected);
  } else {
    const expected = listAllowed ? 'ImagePolicy, ClusterImagePolicy, Secret, ServiceAccount or List' : 'ImagePolicy, ClusterImagePolicy, Secret or ServiceAccount';
    scope.add('kind', `must be ${expected}, got "${truncate(kind)}"`);
  }
}

// A List's items are decoded like top-level documents; lists inside lists are refused.
function decodeList(value: Readonly<Record<string, unknown>>, scope: ProblemScope, collected: Collected): void {
  const items = value['items'];
  if (!Array.isArray(items)) {
    scope.add('items', items === undefined ? 'is required' : 'must be array');
    return;
  }
  items.forEach((item, index) => decodeDocument(item, scope.child(`items[${index}]`), collected, false));
}

// Two documents defining the same object would silently replace each other in a cluster; here
// the second one is an error, so what was reviewed is what is enforced.
function isNew(identity: string, scope: ProblemScope, collected: Collected): boolean {
  const first = collected.seen.get(identity);
  if (first !== undefined) {
    scope.add('metadata.name', `${identity} is already defined at ${first}`);
    return false;
  }
  collected.seen.set(identity, scope.describe());
  return true;
}
