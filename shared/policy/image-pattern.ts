import {
  isDigest,
  isPathComponent,
  isRegistryHost,
  isTag,
  normaliseRepository,
  splitReferenceParts,
  splitRegistry,
  type ImageReference,
} from '../image/reference.js';
import { canonicalRegistry, inetAtonAddress, shorterSpellingSaving, splitHostPort, toMatchSubject, type MatchSubject } from '../image/registry-host.js';

// A repository pattern from a policy, normalised the way image references are, with `*` kept.
export interface ImagePattern {
  // Registry host glob, lower-case, canonical port: 'docker.io', '*.trusted.com', '*', 'reg:5000'.
  readonly host: string;
  // The host without its port, and the port glob; no port means any port of that host.
  readonly hostName: string;
  readonly port?: string;
  // The dotted quad glibc reads in a numeric host name written otherwise ('0xc0.0250.1' is
  // '192.168.0.1'); consulted when the pattern is enforced only (inetAtonAddress).
  readonly addressHostName?: string;
  // Repository path glob: 'library/nginx', 'team/*'.
  readonly path: string;
  // The path with Docker Hub's 'library/', for a host glob that may match docker.io and a path
  // of one component (`*/nginx`): the path Docker Hub's official images have ('library/nginx').
  readonly hubPath?: string;
  // Tag glob; absent means any tag, and digest-only references too.
  readonly tag?: string;
  // Digest glob; absent means any digest.
  readonly digest?: string;
  // Fully qualified spelling, used for specificity and ordering: 'docker.io/library/nginx:1.27'.
  readonly text: string;
  readonly hasWildcard: boolean;
  // Portieris' specificity: length of the pattern minus the number of '*'.
  readonly specificity: number;
}

const ONLY_STARS = /^\*+$/;
// Docker Hub, canonical, and the namespace of its official images ('nginx' is 'library/nginx').
const DOCKER_HUB = 'docker.io';
const OFFICIAL_NAMESPACE = 'library';

// Normalise a pattern exactly like parseImageReference normalises an image, so `nginx` and
// `docker.io/library/nginx` mean the same thing (Portieris compared raw strings, issue #337):
//   - '@' starts a digest, a ':' after the last '/' starts a tag;
//   - the first component is the registry host when it contains '.' or ':' or is 'localhost',
//     otherwise the host is docker.io; a first component made only of '*' is a host glob too,
//     so `*/app` means "app on any registry";
//   - a name made only of '*' (`*`, `*:latest`) means any registry and any repository;
//   - Docker Hub's other host names (index.docker.io, registry-1.docker.io, ...) are docker.io,
//     an IPv6 address is compressed, and a single-component Docker Hub path gets 'library/'
//     (`nginx*` is `docker.io/library/nginx*`) unless it is only '*' (`docker.io/*` is all of
//     Docker Hub); a host glob cannot be given 'library/' once and for all, since it covers
//     other registries too, so it keeps a second path, `hubPath`, used for Docker Hub images
//     only (`*/nginx` is `nginx` on every registry, `library/nginx` on Docker Hub);
//   - a numeric port is a number and 443, the HTTPS default, is no port (`reg:0443/app` is
//     `reg/app`), so the length that ranks patterns cannot be padded by respelling a port.
// Never throws: a pattern no image can satisfy simply never matches (the policy decoder
// refuses such patterns, see imagePatternProblems).
export function toImagePattern(pattern: string): ImagePattern {
  const { name, tag, digest } = splitReferenceParts(pattern);
  let host = '*';
  let path = '*';
  if (!ONLY_STARS.test(name)) {
    const split = splitRegistry(name, (first) => isRegistryHost(first) || ONLY_STARS.test(first));
    host = canonicalRegistry(split.registry);
    path = ONLY_STARS.test(split.repository) ? split.repository : normaliseRepository(host, split.repository);
  }

  const hubPath = host !== DOCKER_HUB && host.includes('*') && !path.includes('/') && !ONLY_STARS.test(path) ? `${OFFICIAL_NAMESPACE}/${path}` : undefined;
  const text = `${host}/${path}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  const stars = countStars(text);
  const { name: hostName, port } = splitHostPort(host);
  const addressHostName = inetAtonAddress(hostName);
  return {
    host,
    hostName,
    ...(port === undefined ? {} : { port }),
    ...(addressHostName === undefined ? {} : { addressHostName }),
    path,
    ...(hubPath === undefined ? {} : { hubPath }),
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    text,
    hasWildcard: stars > 0,
    specificity: text.length - stars,
  };
}

// Whether an image (already normalised by parseImageReference) satisfies a pattern.
// Security: host and path are matched separately and each glob is anchored at both ends, so a
// '*' in the path can never reach into the registry host and a host glob can never reach into
// the path. This is the fix Portieris made in v0.14.2: matching the whole string let
// `attacker.com/x.trusted.com/app` pass a `trusted.com/*` or `*.trusted.com/*` rule.
// Ports: both sides are canonical (`reg:0443` and `reg:443` are `reg`), so no spelling of a
// registry reaches another policy than the registry itself. A pattern host without a port is
// matched against the host as a whole, as Portieris does: `reg.io` is the registry on the
// default port, while a glob may cover ports (`*`, `reg*`). A permissive `trusted.com/*` thus
// says nothing about `trusted.com:5000`, which may be another, even plain-HTTP, service. With
// `anyPort` (used for enforced policies, which are a floor) a pattern host without a port
// governs that host on every port, so an enforced `reg/prod/*` cannot be sidestepped by pulling
// `reg:5000/prod/app`. A pattern with a port (`reg:5000`, `reg:*`) governs the ports it
// names; the default port is 443.
// Numeric IPv4 spellings ('127.1', '0x7f000001'): an address to glibc, a DNS name to Go's
// resolver (inetAtonAddress). A pattern matches the host as written; with `anyPort` (enforced,
// a floor) it also matches under the address reading of either side, so an enforced
// `127.0.0.1:5000/prod/*` governs `127.1:5000/prod/app` and an enforced `0xc0.0250.1/prod/*`
// governs `192.168.0.1:5000/prod/app`, while a permissive pattern never reaches a spelling it
// does not name.
// Docker Hub: a host glob that matches docker.io and a one-component path (`*/nginx`) also
// matches the official image's 'library/' path there, so an enforced `*/nginx` is not escaped
// by `nginx:1.27` (`docker.io/library/nginx:1.27`).
export function matchesImagePattern(pattern: ImagePattern, image: ImageReference | MatchSubject, options: { readonly anyPort?: boolean } = {}): boolean {
  const subject = 'hostName' in image ? image : toMatchSubject(image);
  const anyPort = options.anyPort === true;
  if (!matchesHost(pattern, subject, anyPort)) return false;
  if (!matchesPath(pattern, subject, subject.repository, anyPort)) return false;
  if (pattern.tag !== undefined && !matchesTag(pattern, pattern.tag, subject, anyPort)) return false;
  if (pattern.digest !== undefined && (subject.digest === undefined || !matchGlob(pattern.digest, subject.digest))) return false;
  return true;
}

// A tag glob against an image with a tag is a plain anchored match. Against a digest-only image
// (`repo@sha256:<hex>`), which has no tag, it matches:
//   - when it is only '*' (`:*`): "any tag" covers the image pinned without one, so an enforced
//     `reg/prod/app:*` is not sidestepped by pulling `reg/prod/app@sha256:...`;
//   - otherwise exactly where Portieris' raw-string glob does: its `path:tag` pattern meets
//     `repo@sha256:hex` only if the path glob spans `repo@sha256` and the tag glob the hex
//     (`prod/*:*` and `prod/*:1*` can, `prod/*:v*` never: hex holds no 'v'). A pattern with
//     a digest part never matches so in Portieris (its ':' would need an '@' after it).
function matchesTag(pattern: ImagePattern, tagGlob: string, subject: MatchSubject, anyPort: boolean): boolean {
  if (subject.tag !== undefined) return matchGlob(tagGlob, subject.tag);
  if (ONLY_STARS.test(tagGlob)) return true;
  if (pattern.digest !== undefined || subject.digest === undefined) return false;
  const colon = subject.digest.indexOf(':');
  const algorithm = subject.digest.slice(0, colon);
  const hex = subject.digest.slice(colon + 1);
  return matchesPath(pattern, subject, `${subject.repository}@${algorithm}`, anyPort) && matchGlob(tagGlob, hex);
}

// The path glob against `text` (the repository, or what Portieris' raw glob spans); on Docker
// Hub the 'library/' form of a host glob's one-component path counts too. With `anyPort` the
// host name decides what Docker Hub is, as it decides the host match: an enforced `*/nginx`
// covers `docker.io:5000/library/nginx` as it covers `docker.io/library/nginx`.
function matchesPath(pattern: ImagePattern, subject: MatchSubject, text: string, anyPort: boolean): boolean {
  if (matchGlob(pattern.path, text)) return true;
  if (pattern.hubPath === undefined) return false;
  const onHub = subject.host === DOCKER_HUB || (anyPort && subject.hostName === DOCKER_HUB);
  return onHub && matchGlob(pattern.hubPath, text);
}

function matchesHost(pattern: ImagePattern, subject: MatchSubject, anyPort: boolean): boolean {
  if (matchesHostAsWritten(pattern, subject, anyPort)) return true;
  if (!anyPort || (pattern.addressHostName === undefined && subject.addressHostName === undefined)) return false;
  const patternReadings = addressReadings(pattern.hostName, pattern.addressHostName, pattern.port);
  const subjectReadings = addressReadings(subject.hostName, subject.addressHostName, subject.host === subject.hostName ? undefined : subject.port);
  return patternReadings.some((patternReading) => subjectReadings.some((subjectReading) => matchesHostAsWritten({ ...pattern, ...patternReading }, { ...subject, ...subjectReading }, anyPort)));
}

// A host as written and, when it has one, as its address reading: host and host name.
function addressReadings(hostName: string, address: string | undefined, port: string | undefined): { host: string; hostName: string }[] {
  const readings = [{ host: port === undefined ? hostName : `${hostName}:${port}`, hostName }];
  if (address !== undefined) readings.push({ host: port === undefined ? address : `${address}:${port}`, hostName: address });
  return readings;
}

function matchesHostAsWritten(pattern: ImagePattern, subject: MatchSubject, anyPort: boolean): boolean {
  if (pattern.port !== undefined) return matchGlob(pattern.hostName, subject.hostName) && matchGlob(pattern.port, subject.port);
  return matchGlob(pattern.host, subject.host) || (anyPort && matchGlob(pattern.host, subject.hostName));
}

// Anchored glob match where '*' is any run of characters ('/' included) and every other
// character is literal. Iterative with a single backtrack point: O(len(glob) * len(text)) at
// worst, so a hostile or careless pattern cannot cause exponential backtracking as a
// translated regular expression could.
export function matchGlob(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < text.length) {
    if (glob[g] === '*') {
      starAt = g;
      g += 1;
      resumeAt = t;
    } else if (g < glob.length && glob[g] === text[t]) {
      g += 1;
      t += 1;
    } else if (starAt !== -1) {
      g = starAt + 1;
      resumeAt += 1;
      t = resumeAt;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g += 1;
  return g === glob.length;
}

function countStars(text: string): number {
  let count = 0;
  for (const char of text) if (char === '*') count += 1;
  return count;
}

// Portieris lets a pattern win outright when it is the image string itself. On normalised
// forms: a pattern without '*' that spells the image exactly, host canonical. An image without
// a tag is its ':latest' (that is the image the runtime pulls), so a pattern without tag or
// digest is exact for that image written without a tag or with ':latest', never for another
// tag or a digest; `nginx` and `nginx:latest` thus always meet the same policy (parsing cannot
// tell them apart, and caches keyed by the formatted reference rely on that).
export function isExactPattern(pattern: ImagePattern, image: ImageReference | MatchSubject): boolean {
  if (pattern.hasWildcard) return false;
  const subject = 'hostName' in image ? image : toMatchSubject(image);
  const name = `${subject.host}/${subject.repository}`;
  if (pattern.tag === undefined && pattern.digest === undefined) return subject.digest === undefined && subject.tag === 'latest' && pattern.text === name;
  const tag = subject.tag === undefined ? '' : `:${subject.tag}`;
  const digest = subject.digest === undefined ? '' : `@${subject.digest}`;
  return pattern.text === `${name}${tag}${digest}`;
}

// Characters each part of a normalised image can hold, '*' added for globs.
const HOST_NAME_CHARS = /^[a-z0-9.\-[\]:*]*$/;
const PORT_CHARS = /^[0-9*]*$/;
const PATH_CHARS = /^[a-z0-9._\-/*]*$/;
const TAG_CHARS = /^[\w.\-*]*$/;
const DIGEST_CHARS = /^[a-z0-9:*]*$/;
const WHITESPACE_OR_CONTROL = /[\s\p{Cc}]/u;
const NON_ASCII = /[^\p{ASCII}]/u;

// distribution's bounds: a fully qualified name of at most 255 characters, a tag of at most 128.
const NAME_MAX_LENGTH = 255;
const TAG_MAX_LENGTH = 128;
const IPV6_HOST = /^\[[a-f0-9:]+\]$/;

// Characters of a glob that must appear in whatever it matches: all but the '*'.
function literalLength(glob: string): number {
  return glob.length - countStars(glob);
}

// Whether some host name the image parser accepts can match this host glob. The parser wants
// dot-separated labels of [a-z0-9-] that neither start nor end with '-' (so no empty label: no
// trailing, leading or doubled dot), or a bracketed IPv6 address. A '*' may stand for several
// labels, but the characters next to a '.' or at either end of the host are literal, so a
// label that is empty or starts or ends with '-' can never match, '*' or not; a label without
// '*' must be a whole valid label. Such a host in an enforced baseline would silently cover
// nothing (`reg.example.com./prod/*` is not `reg.example.com/prod/*`).
function hostNameFits(hostName: string): boolean {
  if (hostName.startsWith('[')) return hostName.includes('*') || IPV6_HOST.test(hostName);
  return hostName.split('.').every((label) => {
    if (label === '' || label.startsWith('-') || label.endsWith('-')) return false;
    return label.includes('*') || DOMAIN_LABEL.test(label);
  });
}
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

// A part without '*' is matched literally and whole, so it must itself be valid; a part with
// '*' is only held to the character set checked by the caller.
function literalPartsFit(parts: readonly string[], isValid: (part: string) => boolean): boolean {
  return parts.every((part) => part.includes('*') || isValid(part));
}

// Why no image can ever match `pattern`, one message per problem, empty when it can. A policy
// holding such a pattern is refused: an enforced baseline with a typo in its pattern would
// otherwise be silently inert.
// Security: image names are ASCII, so a pattern with any other character is refused before
// toImagePattern lower-cases its host. Lower-casing first would fold some of them into ASCII
// (the Kelvin sign U+212A becomes 'k'), and a host written with one would pass and match a
// registry its author never spelled (`\u212Aeg.example.com` matching `keg.example.com`).
export function imagePatternProblems(raw: string): string[] {
  if (WHITESPACE_OR_CONTROL.test(raw)) return ['must not contain whitespace or control characters'];
  if (NON_ASCII.test(raw)) return ['must hold only ASCII characters (image names are ASCII)'];
  const pattern = toImagePattern(raw);
  const problems: string[] = [];
  if (pattern.hostName === '' || !HOST_NAME_CHARS.test(pattern.hostName) || !hostNameFits(pattern.hostName)) {
    problems.push(`has a registry host ${JSON.stringify(pattern.hostName)} that is not a host name`);
  }
  if (pattern.port !== undefined && (pattern.port === '' || !PORT_CHARS.test(pattern.port))) {
    problems.push(`has a registry port ${JSON.stringify(pattern.port)} that is not a number`);
  }
  if (pattern.path !== pattern.path.toLowerCase()) {
    problems.push('has upper-case letters in the repository path (repositories are lower case)');
  } else if (!PATH_CHARS.test(pattern.path) || !literalPartsFit(pattern.path.split('/'), isPathComponent)) {
    problems.push('has a repository path with an empty component or characters a repository cannot hold');
  }
  if (literalLength(`${pattern.host}/${pattern.path}`) - shorterSpellingSaving(pattern.hostName) > NAME_MAX_LENGTH + (pattern.hostName.startsWith('[') ? 1 : 0)) {
    problems.push(`has a name longer than an image name can be (${NAME_MAX_LENGTH} characters)`);
  }
  if (pattern.tag !== undefined && (!TAG_CHARS.test(pattern.tag) || !literalPartsFit([pattern.tag], isTag))) {
    problems.push('has a tag that is empty or not of the form [\\w][\\w.-]*');
  } else if (pattern.tag !== undefined && literalLength(pattern.tag) > TAG_MAX_LENGTH) {
    problems.push(`has a tag longer than a tag can be (${TAG_MAX_LENGTH} characters)`);
  }
  if (pattern.digest !== undefined && (!DIGEST_CHARS.test(pattern.digest) || !literalPartsFit([pattern.digest], isDigest))) {
    problems.push('has a digest that is not sha256:<64 lower-case hex>');
  }
  return problems;
}
