// `signedIdentity`: which docker references a signature may name for the image being
// verified, as containers/image defines the rules (docs/containers-policy.json.5.md):
//   matchRepoDigestOrExact (the default) - an image named by digest accepts a signature for
//     any reference in its repository (the digest check binds it); an image named by tag
//     needs a signature for exactly that tag;
//   matchExact - exactly the image's reference; matchRepository - the same repository;
//   matchExactReference - exactly `dockerReference`, whatever the image is called;
//   matchExactRepository - a reference in repository `dockerRepository`;
//   remapIdentity - an image under `prefix` is matched as if it were under `signedPrefix`
//     (a mirror), then with matchRepoDigestOrExact.
// References are compared normalised (docker.io/library/nginx:latest for `nginx`), so any
// spelling of a registry is one registry.
// Security: the identity is what stops a valid signature for one image being replayed for
// another image of the same signer; the digest check alone would accept it.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { parseImageReference, type ImageReference } from '../../image/reference.js';
import type { SignedIdentity } from '../../policy/model.js';

// A reference as containers/image sees it: a name, and a tag or digest only when written.
interface Named {
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

// The image being verified: pinned by digest when it has one (then its tag, if any, is not
// what was verified), else by its tag.
function imageNamed(image: ImageReference): Named {
  const name = `${image.registry}/${image.repository}`;
  if (image.digest !== undefined) return { name, digest: image.digest };
  return { name, tag: image.tag ?? 'latest' };
}

// A written reference, normalised; throws IMAGE_REF_INVALID when it is not one.
function parseNamed(text: string): Named {
  const parsed = parseImageReference(text);
  const last = text.slice(text.lastIndexOf('/') + 1).split('@')[0] ?? '';
  const tagged = last.includes(':');
  return {
    name: `${parsed.registry}/${parsed.repository}`,
    ...(tagged && parsed.tag !== undefined ? { tag: parsed.tag } : {}),
    ...(parsed.digest === undefined ? {} : { digest: parsed.digest }),
  };
}

function format(named: Named): string {
  return `${named.name}${named.tag === undefined ? '' : `:${named.tag}`}${named.digest === undefined ? '' : `@${named.digest}`}`;
}

function isTaggedOrDigested(named: Named): boolean {
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

// Refuses, when the requirement is built, a `signedIdentity` with a problem (see
// signedIdentityProblems). `field` is the path named in the error.
export function checkSignedIdentity(identity: SignedIdentity, field: string): void {
  const problem = signedIdentityProblems(identity)[0];
  if (problem !== undefined) throw policyInvalid(`${field}.${problem.field} ${problem.message}`);
}

// A remap prefix as names are compared: a registry host[:port] (any spelling of a registry,
// `index.docker.io` is `docker.io`), or a namespace or repository written fully normalised
// (containers/image compares it as text against normalised names: `docker.io/nginx` is the
// namespace of docker.io/nginx/*, never `docker.io/library/nginx`). Undefined when it is neither.
// A host is told apart by having no path: it is normalised as the registry of a two-level
// repository under it, where Docker Hub's `library/` is never added.
function normalisedPrefix(prefix: string): string | undefined {
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

// Throws SIMPLE_IDENTITY_MISMATCH unless a signature naming `signedReference` may stand for
// `image` under `identity` (already checked with checkSignedIdentity).
export function checkIdentity(image: ImageReference, identity: SignedIdentity, signedReference: string): void {
  let signed: Named;
  try {
    signed = parseNamed(signedReference);
  } catch (error) {
    throw new TrustgateError(ErrorCode.SIMPLE_IDENTITY_MISMATCH, `signed identity ${JSON.stringify(signedReference.slice(0, 200))} is not a docker reference`, { cause: error });
  }
  if (!matches(imageNamed(image), identity, signed)) {
    throw new TrustgateError(
      ErrorCode.SIMPLE_IDENTITY_MISMATCH,
      `signed identity ${format(signed)} is not accepted for ${format(imageNamed(image))} under signedIdentity ${identity.type}${describeIdentity(identity)}`,
    );
  }
}

function matches(image: Named, identity: SignedIdentity, signed: Named): boolean {
  switch (identity.type) {
    case 'matchRepoDigestOrExact':
      return matchRepoDigestOrExact(image, signed);
    case 'matchExact':
      return isTaggedOrDigested(image) && isTaggedOrDigested(signed) && format(image) === format(signed);
    case 'matchRepository':
      return image.name === signed.name;
    case 'matchExactReference': {
      const wanted = parseNamed(identity.dockerReference ?? '');
      return isTaggedOrDigested(signed) && format(wanted) === format(signed);
    }
    case 'matchExactRepository':
      return parseNamed(identity.dockerRepository ?? '').name === signed.name;
    case 'remapIdentity': {
      const prefix = normalisedPrefix(identity.prefix ?? '');
      const signedPrefix = normalisedPrefix(identity.signedPrefix ?? '');
      if (prefix === undefined || signedPrefix === undefined) return false;
      if (!nameHasPrefix(image.name, prefix)) return matchRepoDigestOrExact(image, signed);
      // Under a host prefix the rest keeps its path as written on the mirror: docker.io's
      // `library/` is added by normalising the remapped name (mirror/nginx is docker.io/library/nginx).
      const remapped = parseNamed(`${signedPrefix}${format(image).slice(prefix.length)}`);
      return matchRepoDigestOrExact(remapped, signed);
    }
  }
}

function matchRepoDigestOrExact(image: Named, signed: Named): boolean {
  if (image.digest !== undefined) return image.name === signed.name;
  if (image.tag !== undefined) return isTaggedOrDigested(signed) && format(image) === format(signed);
  return false;
}

// A name is under a prefix when it is the prefix or continues it with a path separator
// (`quay.io/team` covers `quay.io/team/app`, not `quay.io/teammate/app`).
function nameHasPrefix(name: string, prefix: string): boolean {
  if (name.length === prefix.length) return name === prefix;
  return name.startsWith(prefix) && name[prefix.length] === '/';
}

function describeIdentity(identity: SignedIdentity): string {
  const fields = [
    identity.dockerReference === undefined ? '' : ` dockerReference ${identity.dockerReference}`,
    identity.dockerRepository === undefined ? '' : ` dockerRepository ${identity.dockerRepository}`,
    identity.prefix === undefined ? '' : ` prefix ${identity.prefix}`,
    identity.signedPrefix === undefined ? '' : ` signedPrefix ${identity.signedPrefix}`,
  ];
  return fields.join('');
}

function policyInvalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.POLICY_INVALID, message);
}
