import { isRegistryHost, normaliseRegistry, normaliseRepository, splitReferenceParts, splitRegistry, type ImageReference } from '../image/reference.js';

// A repository pattern from a policy, normalised the way image references are, with `*` kept.
export interface ImagePattern {
  // Registry host glob, lower-case: 'docker.io', '*.trusted.com', '*'.
  readonly host: string;
  // Repository path glob: 'library/nginx', 'team/*'.
  readonly path: string;
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

// Normalise a pattern exactly like parseImageReference normalises an image, so `nginx` and
// `docker.io/library/nginx` mean the same thing (Portieris compared raw strings, issue #337):
//   - '@' starts a digest, a ':' after the last '/' starts a tag;
//   - the first component is the registry host when it contains '.' or ':' or is 'localhost',
//     otherwise the host is docker.io; a first component made only of '*' is a host glob too,
//     so `*/app` means "app on any registry";
//   - a name made only of '*' (`*`, `*:latest`) means any registry and any repository;
//   - index.docker.io is docker.io, and a single-component Docker Hub path gets 'library/'
//     (`nginx*` is `docker.io/library/nginx*`) unless it is only '*' (`docker.io/*` is all of
//     Docker Hub).
// Never throws: a pattern no image can satisfy simply never matches.
export function toImagePattern(pattern: string): ImagePattern {
  const { name, tag, digest } = splitReferenceParts(pattern);
  let host = '*';
  let path = '*';
  if (!ONLY_STARS.test(name)) {
    const split = splitRegistry(name, (first) => isRegistryHost(first) || ONLY_STARS.test(first));
    host = normaliseRegistry(split.registry);
    path = ONLY_STARS.test(split.repository) ? split.repository : normaliseRepository(host, split.repository);
  }

  const text = `${host}/${path}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  const stars = countStars(text);
  return {
    host,
    path,
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
export function matchesImagePattern(pattern: ImagePattern, image: ImageReference): boolean {
  if (!matchGlob(pattern.host, image.registry) || !matchGlob(pattern.path, image.repository)) return false;
  if (pattern.tag !== undefined && (image.tag === undefined || !matchGlob(pattern.tag, image.tag))) return false;
  if (pattern.digest !== undefined && (image.digest === undefined || !matchGlob(pattern.digest, image.digest))) return false;
  return true;
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
