// What a simple signing `signedIdentity` in a policy may name, as containers/image defines it
// (docs/containers-policy.json.5.md): the references its types need, and the remap prefixes
// (a registry host, or a namespace or repository written normalised). Checked when a policy
// document is read (lint, every policy source) and again when a requirement is built; the
// matching itself is the simple signing verifier's (shared/trust/simple/identity.ts).
import { parseImageReference } from '../image/reference.js';
import type { SignedIdentity } from './model.js';

// A reference as containers/image sees it: a name, and a tag or digest only when written.
export interface Named {
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

// A written reference, normalised; throws IMAGE_REF_INVALID when it is not one.
export function parseNamed(text: string): Named {
  const parsed = parseImageReference(text);
  const last = text.slice(text.lastIndexOf('/') + 1).split('@')[0] ?? '';
  const tagged = last.includes(':');
  return {
    name: `${parsed.registry}/${parsed.repository}`,
    ...(tagged && parsed.tag !== undefined ? { tag: parsed.tag } : {}),
    ...(parsed.digest === undefined ? {} : { digest: parsed.digest }),
  };
}

export function isTaggedOrDigested(named: Named): boolean {
  return named.tag !== undefined || named.digest !== undefined;
}

// What is wrong with a `signedIdentity` (nothing: empty): fields its type needs that are
// missing or are not references of the right form, each at its field (`prefix`). A document
// is refused for these when it is read (policy lint, the cluster's policy source), and a
// requirement is refused for them again when it is built.
export function signedIdentityProblems(identity: SignedIdentity): readonly { readonly field: string; readonly message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const need = (value: string | undefined, name: string): string | undefined => {
    if (value === undefined || value === '') problems.push({ field: name, message: `is required for type ${identity.type}` });
    return value === '' ? undefined : value;
  };
  if (identity.type === 'matchExactReference') {
    const reference = need(identity.dockerReference, 'dockerReference');
    const named = reference === undefined ? undefined : parseOptional(reference);
    if (reference === undefined) return problems;
    if (named === undefined) problems.push({ field: 'dockerReference', message: `"${reference.slice(0, 200)}" is not a docker reference` });
    else if (!isTaggedOrDigested(named)) problems.push({ field: 'dockerReference', message: `"${reference}" has no tag or digest: expected an exact reference` });
  } else if (identity.type === 'matchExactRepository') {
    const repository = need(identity.dockerRepository, 'dockerRepository');
    const named = repository === undefined ? undefined : parseOptional(repository);
    if (repository === undefined) return problems;
    if (named === undefined) problems.push({ field: 'dockerRepository', message: `"${repository.slice(0, 200)}" is not a docker reference` });
    else if (isTaggedOrDigested(named)) problems.push({ field: 'dockerRepository', message: `"${repository}" has a tag or digest: expected a repository` });
  } else if (identity.type === 'remapIdentity') {
    for (const name of ['prefix', 'signedPrefix'] as const) {
      const prefix = need(identity[name], name);
      if (prefix !== undefined && normalisedPrefix(prefix) === undefined) {
        problems.push({ field: name, message: `"${prefix.slice(0, 200)}" is not a registry host, or a normalised namespace or repository (like "docker.io", "quay.io/team" or "docker.io/library")` });
      }
    }
  }
  return problems;
}

// A remap prefix as names are compared: a registry host[:port] (any spelling of a registry,
// `index.docker.io` is `docker.io`), or a namespace or repository written fully normalised
// (containers/image compares it as text against normalised names: `docker.io/nginx` is the
// namespace of docker.io/nginx/*, never `docker.io/library/nginx`). Undefined when it is neither.
// A host is told apart by having no path: it is normalised as the registry of a two-level
// repository under it, where Docker Hub's `library/` is never added.
export function normalisedPrefix(prefix: string): string | undefined {
  const probe = prefix.includes('/') ? '/x' : '/x/y';
  const named = parseOptional(`${prefix}${probe}`);
  if (named === undefined || !named.name.endsWith(probe)) return undefined;
  const normalised = named.name.slice(0, -probe.length);
  if (prefix.includes('/')) return normalised === prefix ? normalised : undefined;
  // A bare word (`nginx`) is a Docker Hub namespace, not a host: refused.
  return normalised.includes('/') ? undefined : normalised;
}

function parseOptional(text: string): Named | undefined {
  try {
    return parseNamed(text);
  } catch {
    return undefined;
  }
}
