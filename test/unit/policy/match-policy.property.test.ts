import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatImageReference, repositoryName, type ImageReference } from '../../../shared/image/reference.js';
import { toMatchSubject } from '../../../shared/image/registry-host.js';
import { isExactPattern, matchGlob, toImagePattern } from '../../../shared/policy/image-pattern.js';
import { lookupPolicy, type PolicyLookup } from '../../../shared/policy/match-policy.js';
import type { ClusterImagePolicy, ImagePolicy, Policy, PolicySet } from '../../../shared/policy/model.js';

const POLICY: Policy = { mutateImage: true, trust: { enabled: false, signerSecrets: [], rootKeyIds: [] } };

// Valid, normalised references built from the reference grammar.
const lowerAlnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const pathComponent = fc
  .tuple(lowerAlnum, fc.option(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), lowerAlnum), { nil: undefined }))
  .map(([head, tail]) => (tail === undefined ? head : `${head}${tail[0]}${tail[1]}`));
const registry = fc.oneof(
  fc.constantFrom('docker.io', 'quay.io', 'icr.io', 'localhost', '127.0.0.1:5000', 'trusted.com', 'a.trusted.com', 'reg.io:443', 'reg.io:0443', 'reg.io:05000'),
  fc.tuple(lowerAlnum, lowerAlnum, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })).map(
    ([name, tld, port]) => `${name}.${tld}${port === undefined ? '' : `:${port}`}`,
  ),
);
const imageReference: fc.Arbitrary<ImageReference> = fc
  .record({
    registry,
    components: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag: fc.option(fc.stringMatching(/^\w[\w.-]{0,10}$/), { nil: undefined }),
    digest: fc.option(fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`), { nil: undefined }),
  })
  .map(({ registry: host, components, tag, digest }) => {
    const repository = host === 'docker.io' && components.length === 1 ? `library/${components[0]}` : components.join('/');
    const effectiveTag = tag === undefined && digest === undefined ? 'latest' : tag;
    return {
      registry: host,
      repository,
      ...(effectiveTag === undefined ? {} : { tag: effectiveTag }),
      ...(digest === undefined ? {} : { digest }),
    };
  });

// Patterns: arbitrary text, text built from the characters that matter, and variants of the image.
const patternText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('*', '/', ':', '@', '.', 'a', 'b', 'docker.io', 'library', 'trusted.com', 'x'), maxLength: 12 }),
);

function patternsFor(image: ImageReference): fc.Arbitrary<string[]> {
  const derived = fc.constantFrom(
    repositoryName(image),
    formatImageReference(image),
    `${image.registry}/*`,
    '*',
    `*/${image.repository}`,
    `*/${image.repository.replace(/^library\//, '')}`,
    image.repository.replace(/^library\//, ''),
  );
  return fc.array(fc.oneof(patternText, derived), { maxLength: 8 });
}

function setOf(imagePatterns: readonly string[], clusterPatterns: readonly string[], enforce: boolean): PolicySet {
  const imagePolicy: ImagePolicy = {
    kind: 'ImagePolicy',
    name: 'ns-policy',
    namespace: 'team',
    repositories: imagePatterns.map((name) => ({ name, policy: POLICY })),
  };
  const clusterPolicy: ClusterImagePolicy = {
    kind: 'ClusterImagePolicy',
    name: 'cluster-policy',
    enforce,
    repositories: clusterPatterns.map((name) => ({ name, policy: POLICY })),
  };
  return { imagePolicies: imagePatterns.length > 0 ? [imagePolicy] : [], clusterPolicies: [clusterPolicy], secrets: [] };
}

// An independent oracle for one pattern: a regular expression per part, '*' -> '.*'. Hosts
// and ports are compared in their canonical spelling (port 443 is no port).
function oracleMatches(pattern: string, image: ImageReference): boolean {
  const normalised = toImagePattern(pattern);
  const regex = (glob: string): RegExp => new RegExp(`^${glob.split('*').map(escapeRegex).join('.*')}$`, 's');
  const subject = toMatchSubject(image);
  const hostMatches =
    normalised.port === undefined
      ? regex(normalised.host).test(subject.host)
      : regex(normalised.hostName).test(subject.hostName) && regex(normalised.port).test(subject.port);
  if (!hostMatches || !oraclePathMatches(normalised, subject.host, subject.repository, regex)) return false;
  if (normalised.tag !== undefined && !oracleTagMatches(normalised, image, subject.host, subject.repository, regex)) return false;
  if (normalised.digest !== undefined && (image.digest === undefined || !regex(normalised.digest).test(image.digest))) return false;
  return true;
}

// The README's rule for a tag glob: against a tag, an anchored match; against a digest-only
// image, `*` (any tag) covers it, and any other glob only where Portieris' raw-string glob
// spans it (the path glob over `repo@sha256`, the tag glob over the hex).
function oracleTagMatches(pattern: ReturnType<typeof toImagePattern>, image: ImageReference, host: string, repository: string, regex: (glob: string) => RegExp): boolean {
  const tagGlob = pattern.tag ?? '';
  if (image.tag !== undefined) return regex(tagGlob).test(image.tag);
  if (/^\*+$/.test(tagGlob)) return true;
  if (pattern.digest !== undefined || image.digest === undefined) return false;
  const [algorithm = '', hex = ''] = image.digest.split(':');
  return oraclePathMatches(pattern, host, `${repository}@${algorithm}`, regex) && regex(tagGlob).test(hex);
}

// The README's rule for a path: the glob, or on Docker Hub, for a pattern whose host is a glob
// other than docker.io itself and whose path has one component, that path under 'library/'.
function oraclePathMatches(pattern: ReturnType<typeof toImagePattern>, host: string, text: string, regex: (glob: string) => RegExp): boolean {
  if (regex(pattern.path).test(text)) return true;
  const hubPattern = pattern.host !== 'docker.io' && pattern.host.includes('*') && !pattern.path.includes('/');
  return hubPattern && host === 'docker.io' && regex(`library/${pattern.path}`).test(text);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('lookupPolicy (properties)', () => {
  describe('for arbitrary patterns and valid image references', () => {
    it('never throws', () => {
      fc.assert(
        fc.property(
          imageReference.chain((image) => fc.tuple(fc.constant(image), patternsFor(image), patternsFor(image), fc.boolean())),
          fc.constantFrom('team', 'other'),
          ([image, imagePatterns, clusterPatterns, enforce], namespace) => {
            lookupPolicy(setOf(imagePatterns, clusterPatterns, enforce), image, namespace);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('lets an any-tag pattern govern a digest-only image, as the oracle does', () => {
      const image: ImageReference = { registry: 'docker.io', repository: '15i7k__1wyeb/6_z5/x__fy16rt', digest: `sha256:${'dec077a4'.repeat(8)}` };
      expect(oracleMatches('*:*', image)).toBe(true);
      expect(lookupPolicy(setOf([], ['*:*'], false), image, 'team').matched).toBe(true);
    });

    // These policies require no Notary check, so an image with a tag and a digest is judged by
    // its digest: the oracle ranks the patterns for `repo@digest`.
    it('returns a pattern that really matches and that no other matching pattern outranks', () => {
      fc.assert(
        fc.property(
          imageReference.chain((image) => fc.tuple(fc.constant(image), patternsFor(image))),
          ([written, patterns]) => {
            const result = lookupPolicy(setOf([], patterns, false), written, 'team');
            const image = written.digest === undefined ? written : { registry: written.registry, repository: written.repository, digest: written.digest };
            const matching = patterns.filter((pattern) => oracleMatches(pattern, image));
            expect(result.matched).toBe(matching.length > 0);
            if (!result.matched) return;
            expect(oracleMatches(result.source.pattern, image)).toBe(true);
            const winner = toImagePattern(result.source.pattern);
            const winnerExact = isExactPattern(winner, image);
            for (const other of matching.map(toImagePattern)) {
              if (isExactPattern(other, image) === winnerExact) expect(other.specificity).toBeLessThanOrEqual(winner.specificity);
              else expect(winnerExact).toBe(true);
            }
          },
        ),
        { numRuns: 500 },
      );
    });

    it('gives every spelling of the default port the same answer', () => {
      fc.assert(
        fc.property(
          imageReference.chain((image) => fc.tuple(fc.constant(image), patternsFor(image), patternsFor(image), fc.boolean())),
          fc.constantFrom('443', '0443', '000443'),
          ([image, imagePatterns, clusterPatterns, enforce], port) => {
            const bare = image.registry.replace(/:[0-9]+$/, '');
            const set = setOf(imagePatterns, clusterPatterns, enforce);
            const plain = lookupPolicy(set, { ...image, registry: bare }, 'team');
            const withPort = lookupPolicy(set, { ...image, registry: `${bare}:${port}` }, 'team');
            // The reason names the image as written; everything decided must be equal.
            const decided = (result: PolicyLookup): unknown => (result.matched ? result : { enforced: result.enforced });
            expect(decided(withPort)).toEqual(decided(plain));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('never lets an enforced policy miss an image because of the port it is pulled from', () => {
      fc.assert(
        fc.property(
          imageReference.chain((image) => fc.tuple(fc.constant(image), patternsFor(image))),
          fc.integer({ min: 1, max: 65535 }),
          ([image, patterns], port) => {
            const bare = image.registry.replace(/:[0-9]+$/, '');
            const set = setOf(['*'], patterns, true);
            const onDefault = lookupPolicy(set, { ...image, registry: bare }, 'team').enforced.length;
            const onPort = lookupPolicy(set, { ...image, registry: `${bare}:${port}` }, 'team').enforced.length;
            expect(onPort).toBeGreaterThanOrEqual(onDefault);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('always lets an image match its own repository name', () => {
      fc.assert(
        fc.property(imageReference, (image) => {
          const result = lookupPolicy(setOf([], [repositoryName(image)], false), image, 'team');
          expect(result.matched).toBe(true);
        }),
      );
    });
  });
});

describe('matchGlob (properties)', () => {
  it('agrees with an anchored regular expression', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '*'), maxLength: 12 });
    fc.assert(
      fc.property(text, text, (glob, subject) => {
        const regex = new RegExp(`^${glob.split('*').map(escapeRegex).join('.*')}$`, 's');
        expect(matchGlob(glob, subject)).toBe(regex.test(subject));
      }),
      { numRuns: 2000 },
    );
  });
});
