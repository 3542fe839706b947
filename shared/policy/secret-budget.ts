// What `serve --policies-from-cluster` may hold of the cluster's Secrets. I/O-free: the
// Kubernetes adapter asks it which Secret names to watch and whether each version it receives
// may be kept.
//
// Security: Secrets are written by namespace owners (tenants), who can create as many and as
// large as their quota allows. Only Secrets that a policy in force names are watched at all,
// and those are held within fixed bounds: in total and per namespace, by count and by bytes,
// and by the number of watched names. Whatever does not fit is left out and remembered by name
// only; a policy that needs a Secret left out denies with POLICY_SECRET_OVER_LIMIT (never
// admits without it). The per-namespace bounds keep one namespace from using up the room the
// others need.
import type { SecretScope } from './model.js';

export interface SecretBounds {
  // Secrets held, in total and per namespace.
  readonly maxSecrets: number;
  readonly maxSecretsPerNamespace: number;
  // Bytes held (each Secret counted as the JSON the API server sent), in total and per namespace.
  readonly maxBytes: number;
  readonly maxBytesPerNamespace: number;
  // Secret names watched, in total and per namespace (names of ClusterImagePolicies are
  // watched in every namespace and count towards the total only).
  readonly maxNames: number;
  readonly maxNamesPerNamespace: number;
}

export const DEFAULT_SECRET_BOUNDS: SecretBounds = {
  maxSecrets: 1024,
  maxSecretsPerNamespace: 32,
  maxBytes: 64 * 1024 * 1024,
  maxBytesPerNamespace: 2 * 1024 * 1024,
  maxNames: 512,
  maxNamesPerNamespace: 16,
};

// The per-namespace bounds never exceed the totals (a small total bound, for a small cluster,
// lowers them too).
export function secretBounds(totals: { maxSecrets?: number; maxBytes?: number }): SecretBounds {
  const maxSecrets = totals.maxSecrets ?? DEFAULT_SECRET_BOUNDS.maxSecrets;
  const maxBytes = totals.maxBytes ?? DEFAULT_SECRET_BOUNDS.maxBytes;
  return {
    maxSecrets,
    maxBytes,
    maxSecretsPerNamespace: Math.min(maxSecrets, DEFAULT_SECRET_BOUNDS.maxSecretsPerNamespace),
    maxBytesPerNamespace: Math.min(maxBytes, DEFAULT_SECRET_BOUNDS.maxBytesPerNamespace),
    maxNames: Math.min(maxSecrets, DEFAULT_SECRET_BOUNDS.maxNames),
    maxNamesPerNamespace: Math.min(maxSecrets, DEFAULT_SECRET_BOUNDS.maxNamesPerNamespace),
  };
}

// Secret names are DNS subdomains: anything else can never exist, so is never watched (a
// policy naming one finds no Secret and denies). This also keeps names out of field selectors
// and paths where a comma, "=" or "/" would change what is asked for.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isWatchableScope(scope: SecretScope): boolean {
  return scope.name.length <= 253 && DNS_SUBDOMAIN.test(scope.name) && (scope.namespace === undefined || (scope.namespace.length <= 63 && DNS_LABEL.test(scope.namespace)));
}

export function scopeKey(scope: SecretScope): string {
  return `${scope.namespace ?? '*'}/${scope.name}`;
}

// The scopes to watch for the referenced ones: a name named by a ClusterImagePolicy is watched
// in every namespace (which covers the ImagePolicies naming it too); names that are not valid
// Secret names are dropped. Within the bounds, ClusterImagePolicies' names come first, then
// those already watched (`current`, by scope key: a namespace adding names never takes a
// watch from one whose policies work), then by namespace and name; the rest are left out
// (and deny where they are needed).
export function selectWatchedScopes(references: readonly SecretScope[], bounds: SecretBounds, current: ReadonlySet<string> = new Set()): { watched: SecretScope[]; leftOut: SecretScope[] } {
  const everywhere = new Set(references.filter((reference) => reference.namespace === undefined).map((reference) => reference.name));
  const unique = new Map<string, SecretScope>();
  for (const reference of references) {
    if (!isWatchableScope(reference)) continue;
    if (reference.namespace !== undefined && everywhere.has(reference.name)) continue;
    unique.set(scopeKey(reference), reference);
  }
  // A ClusterImagePolicy's name (everywhere, or in its keySecretNamespace) comes first.
  const rank = (scope: SecretScope): number => (scope.namespace === undefined || scope.byCluster === true ? 0 : current.has(scopeKey(scope)) ? 1 : 2);
  // The namespace whose policies named it, whose room it takes: a tenant naming another
  // namespace's Secret (keySecretNamespace) spends its own, never that namespace's.
  const chargedTo = (scope: SecretScope): string | undefined => (scope.namespace === undefined || scope.byCluster === true ? undefined : (scope.by ?? scope.namespace));
  const ordered = [...unique.values()].sort((a, b) => rank(a) - rank(b) || compareText(scopeKey(a), scopeKey(b)));
  const watched: SecretScope[] = [];
  const leftOut: SecretScope[] = [];
  const perNamespace = new Map<string, number>();
  for (const scope of ordered) {
    const charged = chargedTo(scope);
    const inNamespace = charged === undefined ? 0 : (perNamespace.get(charged) ?? 0);
    if (watched.length >= bounds.maxNames || (charged !== undefined && inNamespace >= bounds.maxNamesPerNamespace)) {
      leftOut.push(scope);
      continue;
    }
    watched.push(scope);
    if (charged !== undefined) perNamespace.set(charged, inNamespace + 1);
  }
  return { watched, leftOut };
}

// The namespace whose room (Secrets and bytes held) a Secret of `namespace` read for `scope`
// takes: the ImagePolicy's that named it in another namespace (`by`), else its own (a
// ClusterImagePolicy's, or one named in every namespace, takes its own namespace's room).
export function secretChargedTo(scope: SecretScope, namespace: string): string {
  return scope.namespace !== undefined && scope.byCluster !== true ? (scope.by ?? namespace) : namespace;
}

// Whether a Secret read for `scope` would take another namespace's room than one read for
// `before` (same name and namespace).
export function chargeChanged(before: SecretScope, scope: SecretScope): boolean {
  const namespace = scope.namespace ?? before.namespace;
  return namespace !== undefined && secretChargedTo(before, namespace) !== secretChargedTo(scope, namespace);
}

export interface SecretBudget {
  // Whether this version of the Secret may be held; recorded either way. The version already
  // held is kept while it is charged to the same namespace (it was counted when it came).
  // `chargedTo`: the namespace whose room it takes (default its own; the naming ImagePolicy's
  // for a keySecretNamespace Secret). Charged to another namespace than before, it is counted
  // afresh there (and left out if it does not fit): the room it took is freed, and no
  // namespace holds a Secret its own room is not charged for.
  admit(namespace: string, name: string, resourceVersion: string, bytes: number, chargedTo?: string): boolean;
  // The namespace whose room the held version takes, if one is held.
  chargeOf(namespace: string, name: string): string | undefined;
  // The Secret is gone or no longer watched; true when it was held (room was freed).
  release(namespace: string, name: string): boolean;
  // Secrets that were not held for lack of room.
  leftOut(): SecretScope[];
  held(): { secrets: number; bytes: number };
}

interface Held {
  readonly bytes: number;
  readonly resourceVersion: string;
  readonly chargedTo: string;
}

export function createSecretBudget(bounds: SecretBounds): SecretBudget {
  const held = new Map<string, Held>();
  const leftOut = new Map<string, SecretScope>();
  const perNamespace = new Map<string, { secrets: number; bytes: number }>();
  let total = { secrets: 0, bytes: 0 };

  const adjust = (namespace: string, secrets: number, bytes: number): void => {
    total = { secrets: total.secrets + secrets, bytes: total.bytes + bytes };
    const before = perNamespace.get(namespace) ?? { secrets: 0, bytes: 0 };
    const after = { secrets: before.secrets + secrets, bytes: before.bytes + bytes };
    if (after.secrets === 0) perNamespace.delete(namespace);
    else perNamespace.set(namespace, after);
  };
  const drop = (key: string): boolean => {
    const before = held.get(key);
    if (before === undefined) return false;
    held.delete(key);
    adjust(before.chargedTo, -1, -before.bytes);
    return true;
  };

  return {
    admit(namespace, name, resourceVersion, bytes, chargedTo = namespace) {
      const key = scopeKey({ namespace, name });
      const before = held.get(key);
      if (before?.resourceVersion === resourceVersion && resourceVersion !== '' && before.chargedTo === chargedTo) return true;
      drop(key);
      const inNamespace = perNamespace.get(chargedTo) ?? { secrets: 0, bytes: 0 };
      const fits =
        total.secrets + 1 <= bounds.maxSecrets &&
        total.bytes + bytes <= bounds.maxBytes &&
        inNamespace.secrets + 1 <= bounds.maxSecretsPerNamespace &&
        inNamespace.bytes + bytes <= bounds.maxBytesPerNamespace;
      if (!fits) {
        leftOut.set(key, { namespace, name });
        return false;
      }
      leftOut.delete(key);
      held.set(key, { bytes, resourceVersion, chargedTo });
      adjust(chargedTo, 1, bytes);
      return true;
    },
    chargeOf: (namespace, name) => held.get(scopeKey({ namespace, name }))?.chargedTo,
    release(namespace, name) {
      const key = scopeKey({ namespace, name });
      leftOut.delete(key);
      return drop(key);
    },
    leftOut: () => [...leftOut.values()].sort((a, b) => compareText(scopeKey(a), scopeKey(b))),
    held: () => total,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
