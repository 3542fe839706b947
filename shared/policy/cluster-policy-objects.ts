// The policy objects a cluster holds (ImagePolicy, ClusterImagePolicy, Secret), one entry per
// object as the API server last reported it, and the PolicySet they make. I/O-free: the
// Kubernetes watch adapter feeds it objects; it decides what is in force.
//
// Each object is decoded alone with the decoders the policy files use, so one bad object
// never makes the set invalid or stale. What an invalid object does (the same rule for every
// kind, and the README says it):
//   - it had a valid version before (seen by this process): that version keeps applying;
//   - it never had one (created invalid, or found invalid at start):
//       ImagePolicy: its namespace denies every image (POLICY_INVALID) until it is fixed or
//         deleted. The other ImagePolicies of that namespace are set aside too and the
//         namespace does not fall back to ClusterImagePolicies: the broken policy may have been
//         the stricter, more specific one, so anything less could admit what it denies.
//       ClusterImagePolicy: every image in every namespace is denied (POLICY_INVALID), as an
//         enforced policy would: it might have been the cluster's enforced baseline.
//       Secret: left out, so a policy naming it denies with POLICY_SECRET_MISSING.
// Deleting an object removes it and any stand-in at once.
import type { FieldProblem } from '../errors.js';
import { isPlainObject } from '../json.js';
import { decodeImagePolicy } from './decode-image-policy.js';
import { decodeSecret } from './decode-secret.js';
import type { ClusterImagePolicy, ImagePolicy, Policy, PolicySecret, PolicySet, SecretScope } from './model.js';
import { ProblemScope } from './problem-scope.js';

export type PolicyObjectKind = 'ImagePolicy' | 'ClusterImagePolicy' | 'Secret';

export interface PolicyObjectId {
  readonly kind: PolicyObjectKind;
  // Absent for a ClusterImagePolicy.
  readonly namespace?: string;
  readonly name: string;
}

type Decoded = ImagePolicy | ClusterImagePolicy | PolicySecret;

// What applying one object did.
export type ObjectOutcome =
  | { readonly kind: 'valid'; readonly id: PolicyObjectId }
  // `kept`: the previous valid version stays in force; otherwise the stand-in described above.
  | { readonly kind: 'invalid'; readonly id: PolicyObjectId; readonly problems: readonly FieldProblem[]; readonly kept: boolean }
  // Not an object with a name at all: nothing to key it by, nothing changed.
  | { readonly kind: 'ignored'; readonly reason: string };

interface Entry {
  readonly id: PolicyObjectId;
  // The last version that decoded, if any.
  readonly valid: Decoded | undefined;
  // Set while the current version does not decode.
  readonly problems: readonly FieldProblem[] | undefined;
}

export interface ClusterPolicyObjects {
  // Decodes `object` (as the API server sent it) as the current version of its object.
  apply(kind: PolicyObjectKind, object: unknown): ObjectOutcome;
  // The object is gone; true when it was known.
  remove(kind: PolicyObjectKind, object: unknown): boolean;
  // The Secrets some policy in force names: in the namespace the reference names, else in its
  // namespace for an ImagePolicy, in every namespace (no `namespace`) for a ClusterImagePolicy,
  // which reads them from the workload's.
  referencedSecrets(): readonly SecretScope[];
  // The set in force now, sorted so equal inputs give equal sets.
  toPolicySet(): PolicySet;
}

export function createClusterPolicyObjects(): ClusterPolicyObjects {
  const entries = new Map<string, Entry>();
  let referenced: ReferencedSecrets | undefined;

  return {
    apply(kind, object) {
      const id = toObjectId(kind, object);
      if (id === undefined) return { kind: 'ignored', reason: `a ${kind} without metadata.name` };
      const key = keyOf(id);
      const problems: FieldProblem[] = [];
      const decoded = decodeObject(kind, object, ProblemScope.forDocument(describeObject(id), 1, problems));
      const before = entries.get(key);
      if (kind !== 'Secret') referenced = undefined;
      if (decoded !== undefined && problems.length === 0) {
        entries.set(key, { id, valid: decoded, problems: undefined });
        return { kind: 'valid', id };
      }
      const reported = problems.length > 0 ? problems : [{ path: describeObject(id), message: 'does not decode' }];
      entries.set(key, { id, valid: before?.valid, problems: reported });
      return { kind: 'invalid', id, problems: reported, kept: before?.valid !== undefined };
    },
    remove(kind, object) {
      const id = toObjectId(kind, object);
      if (id === undefined) return false;
      if (kind !== 'Secret') referenced = undefined;
      return entries.delete(keyOf(id));
    },
    referencedSecrets() {
      referenced ??= collectSecretScopes(entries);
      return referenced.scopes;
    },
    toPolicySet() {
      referenced ??= collectSecretScopes(entries);
      return buildPolicySet([...entries.values()], referenced.keys);
    },
  };
}

// "ImagePolicy team-a/web", "ClusterImagePolicy baseline": how logs and events name it.
export function describeObject(id: PolicyObjectId): string {
  return id.namespace === undefined ? `${id.kind} ${id.name}` : `${id.kind} ${id.namespace}/${id.name}`;
}

function keyOf(id: PolicyObjectId): string {
  return `${id.kind}\n${id.namespace ?? ''}\n${id.name}`;
}

// Name and namespace as the API server keys the object; the decoders check them again.
function toObjectId(kind: PolicyObjectKind, object: unknown): PolicyObjectId | undefined {
  const metadata = isPlainObject(object) ? object['metadata'] : undefined;
  if (!isPlainObject(metadata) || typeof metadata['name'] !== 'string') return undefined;
  const name = metadata['name'];
  if (kind === 'ClusterImagePolicy') return { kind, name };
  const namespace = typeof metadata['namespace'] === 'string' ? metadata['namespace'] : 'default';
  return { kind, namespace, name };
}

// Lists of the Kubernetes client omit an item's apiVersion and kind; the API server's objects
// of one resource have exactly these, so they are filled in rather than reported.
function decodeObject(kind: PolicyObjectKind, object: unknown, scope: ProblemScope): Decoded | undefined {
  if (!isPlainObject(object)) {
    scope.add('', 'must be an object');
    return undefined;
  }
  const apiVersion = kind === 'Secret' ? 'v1' : 'portieris.cloud.ibm.com/v1';
  const document = { ...withoutUndefined(object), apiVersion: object['apiVersion'] ?? apiVersion, kind: object['kind'] ?? kind };
  if (document.kind !== kind) {
    scope.add('kind', `must be ${kind}`);
    return undefined;
  }
  return kind === 'Secret' ? decodeSecret(document, scope) : decodeImagePolicy(document, kind, scope);
}

// Client model objects carry absent fields as own properties set to undefined.
function withoutUndefined(object: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

interface ReferencedSecrets {
  readonly scopes: readonly SecretScope[];
  // "namespace/name" and "*/name" (every namespace), for lookups.
  readonly keys: ReadonlySet<string>;
}

// Every Secret a policy in force could read (from the workload's namespace for
// ClusterImagePolicies, from its own for ImagePolicies): only those Secrets enter the PolicySet.
function collectSecretScopes(entries: ReadonlyMap<string, Entry>): ReferencedSecrets {
  const scopes = new Map<string, SecretScope>();
  for (const entry of entries.values()) {
    const valid = entry.valid;
    if (valid === undefined || !isPolicy(valid)) continue;
    const namespace = valid.kind === 'ImagePolicy' ? valid.namespace : undefined;
    // `elsewhere`: the namespace a Secret reference names (a simple-signing keySecretNamespace,
    // a key's secretNamespace, ...), where the Secret is read whoever's policy names it. Such a
    // scope is charged to the policy's namespace (`by`), or to none for a ClusterImagePolicy: a
    // tenant naming Secrets of another namespace uses up its own room for watched names, never
    // that namespace's.
    const add = (name: string, named?: string): void => {
      const elsewhere = named === '' ? undefined : named;
      const secretNamespace = elsewhere ?? namespace;
      const key = `${secretNamespace ?? '*'}/${name}`;
      const scope: SecretScope =
        secretNamespace === undefined
          ? { name }
          : elsewhere === undefined || elsewhere === namespace
            ? { namespace: secretNamespace, name }
            : namespace === undefined
              ? { namespace: secretNamespace, name, byCluster: true }
              : { namespace: secretNamespace, name, by: namespace };
      const known = scopes.get(key);
      // The cheapest charge wins: a ClusterImagePolicy's, then the namespace's own policy's.
      const charge = (one: SecretScope): number => (one.byCluster === true ? 0 : one.by === undefined ? 1 : 2);
      if (known === undefined || charge(scope) < charge(known)) scopes.set(key, scope);
    };
    for (const { policy } of valid.repositories) {
      for (const ref of policy.trust.signerSecrets) add(ref.name, ref.namespace);
      for (const ref of policy.sigstore?.keySecrets ?? []) add(ref.name, ref.namespace);
      for (const keyless of policy.sigstore?.keyless ?? []) if (keyless.trustRootSecretName !== undefined) add(keyless.trustRootSecretName, keyless.trustRootSecretNamespace);
      if (policy.simple?.storeSecret !== undefined) add(policy.simple.storeSecret, policy.simple.storeSecretNamespace);
      for (const requirement of policy.simple?.requirements ?? []) {
        if (requirement.keySecret !== undefined) add(requirement.keySecret, requirement.keySecretNamespace);
      }
    }
  }
  return { scopes: [...scopes.values()], keys: new Set(scopes.keys()) };
}

function buildPolicySet(entries: readonly Entry[], referencedSecrets: ReadonlySet<string>): PolicySet {
  const byNamespace = new Map<string, ImagePolicy[]>();
  const broken = new Map<string, ImagePolicy>();
  const clusterPolicies: ClusterImagePolicy[] = [];
  const secrets: PolicySecret[] = [];
  for (const entry of [...entries].sort((a, b) => compareText(keyOf(a.id), keyOf(b.id)))) {
    const { id, valid } = entry;
    if (id.kind === 'ImagePolicy') {
      const namespace = id.namespace ?? 'default';
      if (valid !== undefined && isPolicy(valid) && valid.kind === 'ImagePolicy') {
        byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), valid]);
      } else if (!broken.has(namespace)) {
        broken.set(namespace, { kind: 'ImagePolicy', name: id.name, namespace, repositories: [{ name: '*', policy: invalidPolicy(entry) }] });
      }
    } else if (id.kind === 'ClusterImagePolicy') {
      clusterPolicies.push(valid !== undefined && isPolicy(valid) && valid.kind === 'ClusterImagePolicy' ? valid : { kind: 'ClusterImagePolicy', name: id.name, enforce: true, repositories: [{ name: '*', policy: invalidPolicy(entry) }] });
    } else if (valid !== undefined && !isPolicy(valid) && (referencedSecrets.has(`*/${valid.name}`) || referencedSecrets.has(`${valid.namespace}/${valid.name}`))) {
      secrets.push(valid);
    }
  }
  const imagePolicies: ImagePolicy[] = [];
  for (const namespace of [...new Set([...byNamespace.keys(), ...broken.keys()])].sort(compareText)) {
    const standIn = broken.get(namespace);
    imagePolicies.push(...(standIn === undefined ? (byNamespace.get(namespace) ?? []) : [standIn]));
  }
  return { imagePolicies, clusterPolicies, secrets };
}

// The stand-in's policy: matches through its `*` pattern and denies with the first problem.
function invalidPolicy(entry: Entry): Policy {
  const first = entry.problems?.[0];
  const problem = first === undefined ? 'it does not decode' : `${first.path}: ${first.message}`;
  return {
    mutateImage: true,
    trust: { enabled: false, signerSecrets: [], rootKeyIds: [] },
    invalid: `${describeObject(entry.id)} is invalid and has no valid version in force, so it denies every image it could govern (${problem})`,
  };
}

function isPolicy(decoded: Decoded): decoded is ImagePolicy | ClusterImagePolicy {
  return 'repositories' in decoded;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
