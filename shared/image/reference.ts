import { createBoundedMemo } from '../cache/bounded-memo.js';
import { ErrorCode, TrustgateError } from '../errors.js';

// Contract of the image-reference parser.
export interface ImageReference {
  // Registry host, lower-case, with port if any: 'docker.io', 'quay.io', '127.0.0.1:5000'.
  readonly registry: string;
  // Repository path without the registry: 'library/nginx', 'team/app/api'.
  readonly repository: string;
  // Tag; 'latest' when the input had neither tag nor digest; undefined for digest-only input.
  readonly tag?: string;
  // 'sha256:<64 lower-case hex>' when given.
  readonly digest?: string;
}

// The grammar of docker/distribution's `reference` package, written out piece by piece so
// each regular expression below is anchored and reads like the grammar it implements:
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [domain "/"] path-component ["/" path-component]*
//   domain           := host [":" port-number]
//   host             := domain-name | "[" IPv6address "]"
//   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
//   tag              := /[\w][\w.-]{0,127}/
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_HOST = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6_HOST})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
// A bare 64-hex string is an image ID, not a name: distribution refuses it as ambiguous.
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
// An image ID written as a digest (`sha256:<hex>`), whole or shortened, for the algorithms
// container runtimes register. It reads as name `sha256` and a tag, that is
// docker.io/library/sha256, but containerd's CRI (LocalResolve) first tries the whole string
// as a digest and then as an image ID, and its image store accepts a truncated ID (go-digest's
// digestset matches a unique prefix of lower-case hex): a node then runs the image it holds
// with that ID, pulling nothing. Security: accepted as a name, it would be judged under
// docker.io/library's policies while the node ran any image it holds whose ID starts so
// (another tenant's, an unsigned one), so it is refused like the bare ID. A tag with an
// upper-case letter or another character matches no stored ID and stays a tag.
const DIGEST_IDENTIFIER_RE = /^(?:sha256|sha384|sha512|blake3):[a-f0-9]+$/;

const DEFAULT_REGISTRY = 'docker.io';
// Other host names of Docker Hub's registry, folded into docker.io. distribution's reference
// package folds only index.docker.io (its legacyDefaultDomain), but the registry API behind
// docker.io is served from registry-1.docker.io (moby's DefaultRegistryHost: what the engine
// actually pulls `nginx` from), and registry.hub.docker.com and registry.docker.io answer the
// same /v2/ API with the same auth.docker.io tokens. An image written with any of them is the
// Docker Hub image: it meets the docker.io policies, is verified under the docker.io GUN (the
// name Docker Content Trust signs Hub images under) and against notary.docker.io. Otherwise
// `registry-1.docker.io/library/nginx` would escape a `docker.io/*` baseline.
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'registry.docker.io']);
const OFFICIAL_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';
// distribution's NameTotalLengthMax, applied to the fully qualified name.
const NAME_MAX_LENGTH = 255;
// Longest slice of a rejected input quoted back in an error message.
const QUOTED_INPUT_MAX = 200;

// True for one repository path component ('nginx', 'my__app-x.y') and for a tag, as the
// grammar above has them; policy decoding uses these to find patterns no image can match.
export function isPathComponent(value: string): boolean {
  return PATH_COMPONENT_RE.test(value);
}

export function isTag(value: string): boolean {
  return TAG_RE.test(value);
}

// True for 'sha256:' followed by exactly 64 lower-case hex digits, the only digest form
// the product accepts (what registries and Notary's DCT mapping produce).
export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

// Parse an image reference the way `docker pull` (distribution ParseNormalizedNamed)
// does, and normalise it: implicit docker.io registry, 'library/' for official images,
// Docker Hub's other host names folded into docker.io, 'latest' when neither tag nor digest is given.
// The registry is lower-cased (host names are case-insensitive) so that policy matching
// and the Notary GUN see a single spelling of each host.
// Security: the result is what policies are matched against and what the admission patch
// pins, so anything outside the grammar is refused rather than guessed at.
// Parsed references by input string. Admission sees the same few images over and over;
// parsing is a pure function of the string, so a parsed (frozen) result can be shared.
// Only valid references are kept, so an invalid one always gets its own error.
const PARSED = createBoundedMemo<string, ImageReference>(1024);

export function parseImageReference(input: string): ImageReference {
  const known = PARSED.get(input);
  if (known !== undefined) return known;
  const parsed = Object.freeze(parseUncached(input));
  PARSED.set(input, parsed);
  return parsed;
}

function parseUncached(input: string): ImageReference {
  const reject = (why: string): never => {
    throw new TrustgateError(ErrorCode.IMAGE_REF_INVALID, `invalid image reference ${quote(input)}: ${why}`);
  };

  if (input.length === 0) reject('expected a name, got an empty string');
  if (IDENTIFIER_RE.test(input)) reject('expected a repository name, got a 64-hex image ID');
  if (DIGEST_IDENTIFIER_RE.test(input)) reject('expected a repository name, got an image ID (a runtime runs the local image with that ID)');

  const { name, tag, digest } = splitReferenceParts(input);
  if (name.length === 0) reject('expected a repository name before the tag or digest');
  const { registry, repository } = splitRegistry(name);

  if (!DOMAIN_RE.test(registry)) reject(`expected a registry host[:port], got ${quote(registry)}`);
  if (repository !== repository.toLowerCase()) reject('expected a lower-case repository name');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      reject(`expected path components of [a-z0-9] joined by '.', '_', '__' or '-', got ${quote(component)}`);
    }
  }
  if (tag !== undefined && !TAG_RE.test(tag)) reject(`expected a tag matching [\\w][\\w.-]{0,127}, got ${quote(tag)}`);
  if (digest !== undefined && !isDigest(digest)) reject(`expected a digest sha256:<64 lower-case hex>, got ${quote(digest)}`);

  const host = normaliseRegistry(registry);
  const path = normaliseRepository(host, repository);
  const fullName = `${host}/${path}`;
  if (fullName.length > NAME_MAX_LENGTH) {
    reject(`expected a name of at most ${NAME_MAX_LENGTH} characters, got ${fullName.length}`);
  }

  return {
    registry: host,
    repository: path,
    ...(tag !== undefined ? { tag } : digest === undefined ? { tag: DEFAULT_TAG } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

export interface ReferenceParts {
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

// Split 'name[:tag][@digest]' without judging any part. The digest starts at the first '@'
// (no other part may hold one); the tag is after a ':' only if that ':' follows the last
// '/', since a ':' before it belongs to a registry port ('reg:5000/app'). Policy patterns
// are split by the same rule, so a pattern and an image agree on where the tag begins.
export function splitReferenceParts(input: string): ReferenceParts {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

// distribution's rule for the first path component: it names a registry only if it looks
// like a host ('.' or ':' in it, or exactly 'localhost').
export function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

// distribution's splitDockerDomain: the first component is the registry when `isHost` says
// so (by default distribution's own rule; policy patterns also accept a host glob there);
// otherwise the whole name is a docker.io path.
export function splitRegistry(name: string, isHost: (component: string) => boolean = isRegistryHost): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { registry: DEFAULT_REGISTRY, repository: name };
  const first = name.slice(0, slash);
  if (isHost(first)) return { registry: first, repository: name.slice(slash + 1) };
  return { registry: DEFAULT_REGISTRY, repository: name };
}

// One spelling per registry host: lower-case (host names are case-insensitive), and Docker
// Hub's other host names (index.docker.io, registry-1.docker.io, ...) folded into docker.io.
export function normaliseRegistry(registry: string): string {
  const host = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DEFAULT_REGISTRY : host;
}

// Single-component Docker Hub repositories live under 'library/' ('nginx' is
// 'library/nginx'); `registry` must already be normalised.
export function normaliseRepository(registry: string, repository: string): string {
  return registry === DEFAULT_REGISTRY && !repository.includes('/') ? `${OFFICIAL_NAMESPACE}/${repository}` : repository;
}

// Quote untrusted text for a one-line message: JSON escaping keeps control characters and
// newlines out of logs, and long inputs are cut.
function quote(text: string): string {
  const cut = text.length > QUOTED_INPUT_MAX ? `${text.slice(0, QUOTED_INPUT_MAX)}...` : text;
  return JSON.stringify(cut);
}

// The canonical, fully qualified spelling: 'docker.io/library/nginx:latest',
// 'reg:5000/a/b@sha256:...', 'reg/a:tag@sha256:...'.
export function formatImageReference(ref: ImageReference): string {
  const tag = ref.tag !== undefined ? `:${ref.tag}` : '';
  const digest = ref.digest !== undefined ? `@${ref.digest}` : '';
  return `${repositoryName(ref)}${tag}${digest}`;
}

// Registry plus repository path: 'docker.io/library/nginx'.
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

// The Notary GUN for an image: Docker Content Trust names trust data by the fully
// qualified repository, so it is the repository name.
export function toNotaryGun(ref: ImageReference): string {
  return repositoryName(ref);
}

// The reference an admitted container is pinned to: '<repository>@sha256:<hex>'. The tag is
// dropped because the digest alone decides what runs; keeping the tag would only invite
// confusion about which of the two the runtime honours.
export function toPinnedReference(ref: ImageReference, digest: string): string {
  if (!isDigest(digest)) {
    throw new TrustgateError(
      ErrorCode.IMAGE_REF_INVALID,
      `cannot pin ${quote(repositoryName(ref))}: expected a digest sha256:<64 lower-case hex>, got ${quote(digest)}`,
    );
  }
  return `${repositoryName(ref)}@${digest}`;
}
