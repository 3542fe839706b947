import { describe, expect, it } from 'vitest';
import { stringContaining } from '../../support/matchers.js';
import { parseImageReference } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { lookupPolicy, type PolicyLookup } from '../../../shared/policy/match-policy.js';
import type { PolicySet } from '../../../shared/policy/model.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface PolicyDoc {
  readonly kind: 'ImagePolicy' | 'ClusterImagePolicy';
  readonly name: string;
  readonly namespace?: string;
  readonly enforce?: boolean;
  // Each pattern gets a policy whose trustServer names it, so tests can tell entries apart.
  readonly patterns: readonly string[];
}

// Build a PolicySet through the real decoder, from compact descriptions.
function policySet(...docs: readonly PolicyDoc[]): PolicySet {
  const items = docs.map((doc) => ({
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: doc.kind,
    metadata: {
      name: doc.name,
      ...(doc.namespace === undefined ? {} : { namespace: doc.namespace }),
      ...(doc.enforce === true ? { annotations: { 'trustgate.dev/enforce': 'true' } } : {}),
    },
    spec: {
      repositories: doc.patterns.map((pattern) => ({
        name: pattern,
        policy: { trust: { enabled: true, trustServer: `https://${doc.name}.example/${encodeURIComponent(pattern)}` } },
      })),
    },
  }));
  return decodePolicyDocuments([{ source: 'policies.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) }]);
}

function lookup(set: PolicySet, image: string, namespace = 'default'): PolicyLookup {
  return lookupPolicy(set, parseImageReference(image), namespace);
}

function matchedPattern(result: PolicyLookup): string | undefined {
  return result.matched ? result.source.pattern : undefined;
}

describe('lookupPolicy', () => {
  describe('when several patterns match (precedence table)', () => {
    it.each([
      // [patterns, image, winner]
      [['docker.io/library/*', 'docker.io/library/nginx'], 'nginx:1.27', 'docker.io/library/nginx'],
      [['docker.io/library/nginx*', 'nginx'], 'nginx', 'nginx'],
      [['*', 'docker.io/*', 'docker.io/library/*'], 'nginx', 'docker.io/library/*'],
      [['icr.io/*', 'icr.io/team/*'], 'icr.io/team/app', 'icr.io/team/*'],
      [['icr.io/team/app', 'icr.io/team/app:v1'], 'icr.io/team/app:v1', 'icr.io/team/app:v1'],
      // a pattern without '*' that is not the image ranks by score: the longer tag glob wins
      [['icr.io/team/app', 'icr.io/team/app:v1*'], 'icr.io/team/app:v1.0.0', 'icr.io/team/app:v1*'],
      [['icr.io/hello/world', 'icr.io/hello/world:*'], 'icr.io/hello/world:1.0', 'icr.io/hello/world:*'],
      [['icr.io/hello/world:*', 'icr.io/hello/world'], 'icr.io/hello/world:1.0', 'icr.io/hello/world:*'],
      [['icr.io/hello/world', 'icr.io/hello/world:1.*'], 'icr.io/hello/world:1.0', 'icr.io/hello/world:1.*'],
      // a pattern that is the image itself wins outright, even over a longer glob
      [['icr.io/hello/world', 'icr.io/hello/world*'], 'icr.io/hello/world', 'icr.io/hello/world'],
      [['icr.io/hello/world', 'icr.io/hello/world:*'], 'icr.io/hello/world', 'icr.io/hello/world'],
      [['docker.io/library/nginx:*', 'nginx'], 'nginx', 'nginx'],
      [['docker.io/library/nginx:*', 'nginx'], 'nginx:1.25', 'docker.io/library/nginx:*'],
      [['nginx', 'nginx:1.*'], 'nginx:1.25', 'nginx:1.*'],
      [['nginx:1.25', 'nginx:1.2*'], 'docker.io/library/nginx:1.25', 'nginx:1.25'],
      // an image without a tag is its :latest, whichever way it is written
      [['nginx', 'nginx:latest', 'nginx:*'], 'nginx', 'nginx:latest'],
      [['nginx', 'nginx:latest', 'nginx:*'], 'nginx:latest', 'nginx:latest'],
      // a tagless pattern is not exact for a digest-pinned image
      [['nginx', `nginx@sha256:*`], `nginx@${DIGEST}`, 'nginx@sha256:*'],
      [[`nginx@${DIGEST}`, 'nginx*'], `nginx@${DIGEST}`, `nginx@${DIGEST}`],
      // equal specificity: the normalised pattern that sorts first wins, whatever the order
      [['icr.io/*/app', 'icr.io/a/*'], 'icr.io/a/app', 'icr.io/*/app'],
      [['icr.io/a/*', 'icr.io/*/app'], 'icr.io/a/app', 'icr.io/*/app'],
    ])('among %j, %s is governed by %j', (patterns, image, winner) => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'cluster', patterns });
      expect(matchedPattern(lookup(set, image))).toBe(winner);
    });

    it('breaks a tie between two policies with the same pattern by policy name', () => {
      const set = policySet(
        { kind: 'ImagePolicy', name: 'zeta', patterns: ['nginx'] },
        { kind: 'ImagePolicy', name: 'alpha', patterns: ['docker.io/library/nginx'] },
      );
      const result = lookup(set, 'nginx');
      expect(result.matched && result.source).toEqual({
        kind: 'ImagePolicy',
        name: 'alpha',
        namespace: 'default',
        pattern: 'docker.io/library/nginx',
      });
    });

    it('returns the policy of the winning entry', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['icr.io/*', 'icr.io/team/*'] });
      const result = lookup(set, 'icr.io/team/app');
      expect(result.matched && result.policy.trust.trustServer).toBe(`https://c.example/${encodeURIComponent('icr.io/team/*')}`);
    });
  });

  describe('when the image is given unnormalised (Portieris #337)', () => {
    it('matches a fully qualified pattern', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['docker.io/library/nginx'] });
      expect(lookup(set, 'nginx').matched).toBe(true);
    });
  });

  describe('when the image is pinned by digest (Portieris #390)', () => {
    it('is governed by the tagless pattern of its repository, not a :latest one', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['nginx:latest', 'nginx'] });
      expect(matchedPattern(lookup(set, `nginx@${DIGEST}`))).toBe('nginx');
    });
  });

  describe('when a trusted host is hidden in the path (v0.14.2 bypass)', () => {
    it('finds no policy and denies', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['trusted.com/*', '*.trusted.com/*'] });
      expect(lookup(set, 'attacker.com/x.trusted.com/app').matched).toBe(false);
      expect(lookup(set, 'evil.com/a.trusted.com/app').matched).toBe(false);
    });
  });

  describe('when the namespace has an ImagePolicy', () => {
    const set = policySet(
      { kind: 'ImagePolicy', name: 'team', namespace: 'team-a', patterns: ['icr.io/team/*'] },
      { kind: 'ClusterImagePolicy', name: 'everything', patterns: ['*'] },
    );

    it('uses only the ImagePolicies of that namespace', () => {
      expect(lookup(set, 'icr.io/team/app', 'team-a')).toMatchObject({ matched: true, source: { kind: 'ImagePolicy', name: 'team' } });
    });

    it('denies an image they do not cover, even if a ClusterImagePolicy would', () => {
      const result = lookup(set, 'nginx', 'team-a');
      expect(result.matched).toBe(false);
      expect(!result.matched && result.reason).toContain('team-a');
    });

    it('leaves other namespaces to the ClusterImagePolicies', () => {
      expect(lookup(set, 'nginx', 'team-b')).toMatchObject({ matched: true, source: { kind: 'ClusterImagePolicy', name: 'everything' } });
    });
  });

  describe('when no policy matches at all', () => {
    it('returns matched false with a reason naming the image', () => {
      const result = lookup(policySet(), 'nginx');
      expect(result).toEqual({ matched: false, reason: stringContaining('docker.io/library/nginx:latest'), enforced: [] });
    });
  });

  describe('when a ClusterImagePolicy is annotated trustgate.dev/enforce', () => {
    const set = policySet(
      { kind: 'ImagePolicy', name: 'team', namespace: 'team-a', patterns: ['*'] },
      { kind: 'ClusterImagePolicy', name: 'baseline', enforce: true, patterns: ['docker.io/*', 'docker.io/library/*'] },
      { kind: 'ClusterImagePolicy', name: 'other', patterns: ['*'] },
    );

    it('adds its best-matching entry on top of the namespace policy', () => {
      const result = lookup(set, 'nginx', 'team-a');
      expect(result).toMatchObject({ matched: true, source: { kind: 'ImagePolicy', name: 'team' } });
      expect(result.enforced.map((entry) => entry.source)).toEqual([
        { kind: 'ClusterImagePolicy', name: 'baseline', pattern: 'docker.io/library/*' },
      ]);
    });

    it('adds nothing for an image none of its patterns match', () => {
      expect(lookup(set, 'quay.io/org/app', 'team-a').enforced).toEqual([]);
    });

    it('is still reported when the namespace policies do not match', () => {
      const narrow = policySet(
        { kind: 'ImagePolicy', name: 'team', namespace: 'team-a', patterns: ['icr.io/*'] },
        { kind: 'ClusterImagePolicy', name: 'baseline', enforce: true, patterns: ['*'] },
      );
      const result = lookup(narrow, 'nginx', 'team-a');
      expect(result.matched).toBe(false);
      expect(result.enforced).toHaveLength(1);
    });

    it('is not repeated when it is already the governing match', () => {
      const result = lookup(set, 'nginx', 'no-image-policies');
      expect(result).toMatchObject({ matched: true, source: { name: 'baseline', pattern: 'docker.io/library/*' } });
      expect(result.enforced).toEqual([]);
    });
  });
  describe('when a pattern without tag and a tag glob both match (Portieris FindClusterImagePolicy)', () => {
    // The README's example: Portieris scores "icr.io/hello/world:*" 19 and "icr.io/hello/world" 18.
    const set = decodePolicyDocuments([
      {
        source: 'policies.yaml',
        text: `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: hello}
spec:
  repositories:
    - name: "icr.io/hello/world:*"
      policy: {trust: {enabled: true}}
    - name: "icr.io/hello/world"
`,
      },
    ]);

    it('requires trust for a tagged image, as Portieris does', () => {
      const result = lookup(set, 'icr.io/hello/world:1.0');
      expect(result).toMatchObject({ matched: true, source: { pattern: 'icr.io/hello/world:*' }, policy: { trust: { enabled: true } } });
    });

    it('explains the choice with the score and the runner-up', () => {
      const result = lookup(set, 'icr.io/hello/world:1.0');
      expect(result.matched && result.precedence).toEqual({
        rule: 'score',
        winner: { source: { kind: 'ClusterImagePolicy', name: 'hello', pattern: 'icr.io/hello/world:*' }, normalised: 'icr.io/hello/world:*', score: 19, exact: false },
        runnersUp: [{ source: { kind: 'ClusterImagePolicy', name: 'hello', pattern: 'icr.io/hello/world' }, normalised: 'icr.io/hello/world', score: 18, exact: false }],
      });
    });

    it('lets the tagless pattern win outright for the image written without a tag', () => {
      const result = lookup(set, 'icr.io/hello/world');
      expect(result).toMatchObject({ matched: true, source: { pattern: 'icr.io/hello/world' }, policy: { trust: { enabled: false } } });
      expect(result.matched && result.precedence?.rule).toBe('exact');
    });
  });

  describe('when explaining the choice', () => {
    it.each([
      [['icr.io/a/b', 'icr.io/a/b*'], 'icr.io/a/b', 'exact'],
      [['icr.io/*', 'icr.io/a/*'], 'icr.io/a/b', 'score'],
      [['icr.io/*/b', 'icr.io/a/*'], 'icr.io/a/b', 'pattern'],
      [['icr.io/a/*', 'icr.io/a/*'], 'icr.io/a/b', 'entry'],
    ])('among %j, %s is decided by rule %s', (patterns, image, rule) => {
      const result = lookup(policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns }), image);
      expect(result.matched && result.precedence?.rule).toBe(rule);
      expect(result.matched && result.precedence?.runnersUp).toHaveLength(1);
    });

    it('names the policy-name tie-break', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'zeta', patterns: ['icr.io/*'] }, { kind: 'ClusterImagePolicy', name: 'alpha', patterns: ['icr.io/*'] });
      const result = lookup(set, 'icr.io/a/b');
      expect(result).toMatchObject({ matched: true, source: { name: 'alpha' }, precedence: { rule: 'policy', runnersUp: [{ source: { name: 'zeta' } }] } });
    });

    it('lists every runner-up, best first', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['*', 'icr.io/*', 'icr.io/a/*', 'quay.io/*'] });
      const result = lookup(set, 'icr.io/a/b');
      expect(result.matched && result.precedence?.runnersUp.map((ranked) => ranked.source.pattern)).toEqual(['icr.io/*', '*']);
    });

    it('says nothing when a single pattern matched', () => {
      const result = lookup(policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['icr.io/*', 'quay.io/*'] }), 'icr.io/a/b');
      expect(result.matched && 'precedence' in result).toBe(false);
    });
  });

  describe('when the registry is written with a port', () => {
    it.each(['registry.example.com:443/prod/app', 'registry.example.com:0443/prod/app'])(
      'governs %j with the bare host pattern, as the bare host',
      (image) => {
        const set = policySet({ kind: 'ClusterImagePolicy', name: 'prod', patterns: ['registry.example.com/prod/*'] });
        expect(matchedPattern(lookup(set, image))).toBe('registry.example.com/prod/*');
      },
    );

    it('does not let a :443 pattern outscore the bare host pattern by its length', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['registry.example.com/prod/*', 'registry.example.com:0443/*'] });
      expect(matchedPattern(lookup(set, 'registry.example.com/prod/app'))).toBe('registry.example.com/prod/*');
    });

    it('adds an enforced bare host pattern in a namespace that allows everything, on any port', () => {
      const set = policySet(
        { kind: 'ImagePolicy', name: 'open', namespace: 'team-a', patterns: ['*'] },
        { kind: 'ClusterImagePolicy', name: 'prod', enforce: true, patterns: ['registry.example.com/prod/*'] },
      );
      for (const image of ['registry.example.com/prod/app', 'registry.example.com:443/prod/app', 'registry.example.com:0443/prod/app', 'registry.example.com:5000/prod/app']) {
        expect(lookup(set, image, 'team-a').enforced.map((entry) => entry.source.name)).toEqual(['prod']);
      }
      expect(lookup(set, 'registry.example.com:5000/dev/app', 'team-a').enforced).toEqual([]);
    });

    it('does not let a permissive bare host pattern reach another port', () => {
      const set = policySet({ kind: 'ClusterImagePolicy', name: 'c', patterns: ['registry.example.com/*', 'registry.example.com:*/*'] });
      expect(matchedPattern(lookup(set, 'registry.example.com:5000/app'))).toBe('registry.example.com:*/*');
    });
  });
});

// Documents written in YAML, so each entry can carry its own checks and each document a mode.
function yamlSet(text: string): PolicySet {
  return decodePolicyDocuments([{ source: 'policies.yaml', text }]);
}

function clusterPolicy(name: string, entries: readonly (readonly [string, string])[], annotations = ''): string {
  const items = entries.map(([pattern, policy]) => `    - name: "${pattern}"\n      policy: ${policy}`).join('\n');
  return `apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}${annotations === '' ? '' : `, annotations: {${annotations}}`}}\nspec:\n  repositories:\n${items}\n`;
}

// A namespace `team` that runs anything unchecked, so only enforced policies add checks there.
const OPEN_TEAM = 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ImagePolicy\nmetadata: {name: open, namespace: team}\nspec:\n  repositories:\n    - name: "*"\n      policy: {}\n';

const NOTARY = '{trust: {enabled: true, trustServer: "https://notary.example"}}';
const NOTHING = '{}';

describe('lookupPolicy for an image with both a tag and a digest', () => {
  const image = `reg.example.com/it/app:debug@${DIGEST}`;

  describe('when the tag meets a policy that checks nothing and the repository requires trust', () => {
    const set = yamlSet(clusterPolicy('releases', [['reg.example.com/it/*', NOTARY], ['reg.example.com/it/app:debug', NOTHING]]));

    it('judges the image by its digest, under the repository policy, as the runtime pulls it', () => {
      const result = lookup(set, image);
      expect(result).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/*' }, policy: { trust: { enabled: true } } });
    });

    it('explains that the digest decided, with the winner of each form', () => {
      const result = lookup(set, image);
      expect(result.tagAndDigest).toEqual({
        rule: 'digest',
        byTag: { source: { kind: 'ClusterImagePolicy', name: 'releases', pattern: 'reg.example.com/it/app:debug' }, normalised: 'reg.example.com/it/app:debug', score: 28, exact: false },
        byDigest: { source: { kind: 'ClusterImagePolicy', name: 'releases', pattern: 'reg.example.com/it/*' }, normalised: 'reg.example.com/it/*', score: 19, exact: false },
      });
    });

    it('still lets the tag choose for the image written with the tag only', () => {
      const result = lookup(set, 'reg.example.com/it/app:debug');
      expect(result).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/app:debug' } });
      expect(result.tagAndDigest).toBeUndefined();
    });
  });

  describe('when the tag meets a policy enforcing a Notary check', () => {
    const set = yamlSet(clusterPolicy('releases', [['reg.example.com/it/*:v*', NOTARY], ['reg.example.com/it/*', NOTHING]]));

    it('lets the tag choose: the Notary check binds the tag to the digest', () => {
      const result = lookup(set, `reg.example.com/it/app:v1@${DIGEST}`);
      expect(result).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/*:v*' }, tagAndDigest: { rule: 'signed-tag' } });
    });
  });

  describe.each([
    ['a warn-mode policy', clusterPolicy('exempt', [['reg.example.com/it/app:debug', NOTARY]], 'trustgate.dev/mode: warn')],
    ['an audit-mode policy', clusterPolicy('exempt', [['reg.example.com/it/app:debug', NOTARY]], 'trustgate.dev/mode: audit')],
    [
      'a policy that accepts cosign instead of Notary (verification mode any)',
      clusterPolicy('exempt', [['reg.example.com/it/app:debug', '{trust: {enabled: true}, verification: {mode: any}, sigstore: {authorities: [{key: {secretName: k}}]}}']]),
    ],
    ['a policy requiring cosign only', clusterPolicy('exempt', [['reg.example.com/it/app:debug', '{sigstore: {authorities: [{key: {secretName: k}}]}}']])],
  ])('when the tag meets %s', (_, exempt) => {
    const set = yamlSet(`${exempt}---\n${clusterPolicy('releases', [['reg.example.com/it/*', NOTARY]])}`);

    it('judges the image by its digest', () => {
      expect(lookup(set, image)).toMatchObject({ matched: true, source: { name: 'releases', pattern: 'reg.example.com/it/*' }, tagAndDigest: { rule: 'digest' } });
    });
  });

  describe('when only the tag form matches a pattern', () => {
    const set = yamlSet(clusterPolicy('exempt', [['reg.example.com/it/*:debug', NOTHING]]));

    it('finds no policy for the digest the runtime pulls, and says why the tag did not count', () => {
      const result = lookup(set, image);
      expect(result).toMatchObject({ matched: false, tagAndDigest: { rule: 'digest', byTag: { source: { pattern: 'reg.example.com/it/*:debug' } } } });
      expect(result.matched ? '' : result.reason).toContain(`matching reg.example.com/it/app@${DIGEST}`);
      expect(result.matched ? '' : result.reason).toContain('its tag "debug" does not choose the policy');
      expect(result.tagAndDigest?.byDigest).toBeUndefined();
    });
  });

  describe('when both forms meet the same entry', () => {
    const set = yamlSet(clusterPolicy('open', [['reg.example.com/it/*', NOTHING]]));

    it('changes nothing and explains nothing', () => {
      const result = lookup(set, image);
      expect(result).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/*' } });
      expect(result.tagAndDigest).toBeUndefined();
    });
  });

  describe('when the entries are in an enforced ClusterImagePolicy', () => {
    const set = yamlSet(
      `${clusterPolicy('baseline', [['reg.example.com/*', NOTARY], ['reg.example.com/*:debug', NOTHING]], 'trustgate.dev/enforce: "true"')}---\n${OPEN_TEAM}`,
    );

    it('adds the entry the digest meets, not the tag-scoped exemption', () => {
      const result = lookup(set, image, 'team');
      expect(result.enforced.map((entry) => entry.source.pattern)).toEqual(['reg.example.com/*']);
    });

    it('adds the tag-scoped entry for the image written with the tag only', () => {
      expect(lookup(set, 'reg.example.com/it/app:debug', 'team').enforced.map((entry) => entry.source.pattern)).toEqual(['reg.example.com/*:debug']);
    });
  });
});

describe('lookupPolicy for an image pinned by digest under tag-scoped patterns only', () => {
  const set = yamlSet(clusterPolicy('releases', [['reg.example.com/it/*:v*', NOTARY]]));

  it('finds no policy: a pinned image is matched by repository-level patterns, as in Portieris', () => {
    expect(lookup(set, 'reg.example.com/it/app:v1').matched).toBe(true);
    expect(lookup(set, `reg.example.com/it/app@${DIGEST}`).matched).toBe(false);
  });

  it('is governed once the repository is covered too', () => {
    const covered = yamlSet(clusterPolicy('releases', [['reg.example.com/it/*:v*', NOTARY], ['reg.example.com/it/*', NOTARY]]));
    expect(lookup(covered, `reg.example.com/it/app@${DIGEST}`)).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/*' } });
  });
});

describe('lookupPolicy for a Docker Hub official image under a host-glob pattern', () => {
  const set = yamlSet(
    `${clusterPolicy('baseline', [['*/nginx', NOTARY]], 'trustgate.dev/enforce: "true"')}---\n${OPEN_TEAM}`,
  );

  it.each(['nginx:1.27', 'docker.io/nginx:1.27', 'docker.io/library/nginx', 'quay.io/nginx:1.27'])('adds the enforced */nginx entry for %s', (image) => {
    expect(lookup(set, image, 'team').enforced.map((entry) => entry.source.pattern)).toEqual(['*/nginx']);
  });

  it.each(['docker.io:1/library/nginx:1.27', 'docker.io:5000/library/nginx'])('adds the enforced */nginx entry for %s, docker.io on another port', (image) => {
    expect(lookup(set, image, 'team').enforced.map((entry) => entry.source.pattern)).toEqual(['*/nginx']);
  });

  it('does not add it for another repository of Docker Hub', () => {
    expect(lookup(set, 'docker.io/team/nginx', 'team').enforced).toEqual([]);
  });
});
