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
import type { ImageReference } from '../../image/reference.js';
import type { SignedIdentity } from '../../policy/model.js';
import { isTaggedOrDigested, normalisedPrefix, parseNamed, signedIdentityProblems, type Named } from '../../policy/signed-identity.js';

// The image being verified: pinned by digest when it has one (then its tag, if any, is not
// what was verified), else by its tag.
function imageNamed(image: ImageReference): Named {
  const name = `${image.registry}/${image.repository}`;
  if (image.digest !== undefined) return { name, digest: image.digest };
  return { name, tag: image.tag ?? 'latest' };
}

function format(named: Named): string {
  return `${named.name}${named.tag === undefined ? '' : `:${named.tag}`}${named.digest === undefined ? '' : `@${named.digest}`}`;
}

// Refuses, when the requirement is built, a `signedIdentity` with a problem (see
// signedIdentityProblems). `field` is the path named in the error.
export function checkSignedIdentity(identity: SignedIdentity, field: string): void {
  const problem = signedIdentityProblems(identity)[0];
  if (problem !== undefined) throw policyInvalid(`${field}.${problem.field} ${problem.message}`);
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
