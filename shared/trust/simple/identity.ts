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

// Refuses, when the policy is read, a `signedIdentity` whose fields its type needs are
// missing or are not references of the right form. `field` is the path named in the error.
export function checkSignedIdentity(identity: SignedIdentity, field: string): void {
  const need = (value: string | undefined, name: string): string => {
    if (value === undefined || value === '') throw policyInvalid(`${field}.${name} is required for type ${identity.type}`);
    return value;
  };
  if (identity.type === 'matchExactReference') {
    const reference = need(identity.dockerReference, 'dockerReference');
    const named = parseField(reference, `${field}.dockerReference`);
    if (!isTaggedOrDigested(named)) throw policyInvalid(`${field}.dockerReference "${reference}" has no tag or digest: expected an exact reference`);
  } else if (identity.type === 'matchExactRepository') {
    const repository = need(identity.dockerRepository, 'dockerRepository');
    const named = parseField(repository, `${field}.dockerRepository`);
    if (isTaggedOrDigested(named)) throw policyInvalid(`${field}.dockerRepository "${repository}" has a tag or digest: expected a repository`);
  } else if (identity.type === 'remapIdentity') {
    checkPrefix(need(identity.prefix, 'prefix'), `${field}.prefix`);
    checkPrefix(need(identity.signedPrefix, 'signedPrefix'), `${field}.signedPrefix`);
  }
}

// A remap prefix is a registry host, host/namespace or a repository, written fully
// normalised (containers/image compares it as text against normalised names).
function checkPrefix(prefix: string, field: string): void {
  let normalised: string | undefined;
  try {
    normalised = parseNamed(`${prefix}/x`).name;
  } catch {
    normalised = undefined;
  }
  if (normalised !== `${prefix}/x`) {
    throw policyInvalid(`${field} "${prefix}" is not a normalised registry, namespace or repository (like "quay.io" or "docker.io/library")`);
  }
}

function parseField(text: string, field: string): Named {
  try {
    return parseNamed(text);
  } catch (error) {
    throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} "${text.slice(0, 200)}" is not a docker reference`, { cause: error });
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
      const prefix = identity.prefix ?? '';
      if (!nameHasPrefix(image.name, prefix)) return matchRepoDigestOrExact(image, signed);
      const remapped = parseNamed(`${identity.signedPrefix ?? ''}${format(image).slice(prefix.length)}`);
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
