import { describe, expect, it } from 'vitest';
import { anyString, stringContaining } from '../../support/matchers.js';
import { ErrorCode, TrustgateError, type FieldProblem } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';

const IMAGE_POLICY = `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata:
  name: signed-only
  namespace: team-a
spec:
  repositories:
    - name: "icr.io/team/*"
      policy:
        trust:
          enabled: true
          trustServer: https://notary.example.com
          signerSecrets:
            - name: alice
    - name: "docker.io/library/*"
      policy:
`;

const CLUSTER_POLICY = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: default
spec:
  repositories:
    - name: "*"
      policy:
        mutateImage: false
`;

const ALICE_PEM = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';

// Decode and return the POLICY_INVALID problems; fails the test if decoding succeeds.
function problemsOf(text: string, source = 'policies.yaml'): readonly FieldProblem[] {
  try {
    decodePolicyDocuments([{ source, text }]);
  } catch (error) {
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.POLICY_INVALID);
    return (error as TrustgateError).problems;
  }
  return expect.fail('expected POLICY_INVALID, nothing was thrown');
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

describe('decodePolicyDocuments', () => {
  describe('when a YAML stream holds several documents', () => {
    const set = decodePolicyDocuments([{ source: 'policies.yaml', text: `${IMAGE_POLICY}---\n${CLUSTER_POLICY}---\n` }]);

    it('decodes the ImagePolicy with its namespace and patterns as written', () => {
      expect(set.imagePolicies).toHaveLength(1);
      const policy = set.imagePolicies[0];
      expect(policy?.namespace).toBe('team-a');
      expect(policy?.repositories.map((repository) => repository.name)).toEqual(['icr.io/team/*', 'docker.io/library/*']);
    });

    it('decodes the trust section', () => {
      expect(set.imagePolicies[0]?.repositories[0]?.policy).toEqual({
        mutateImage: true,
        trust: { enabled: true, trustServer: 'https://notary.example.com', signerSecrets: [{ name: 'alice' }], rootKeyIds: [] },
      });
    });

    it('applies the defaults to an empty policy (mutateImage true, trust disabled)', () => {
      expect(set.imagePolicies[0]?.repositories[1]?.policy).toEqual({
        mutateImage: true,
        trust: { enabled: false, signerSecrets: [], rootKeyIds: [] },
      });
    });

    it('decodes the ClusterImagePolicy, not enforced without the annotation', () => {
      expect(set.clusterPolicies).toEqual([
        {
          kind: 'ClusterImagePolicy',
          name: 'default',
          enforce: false,
          repositories: [{ name: '*', policy: { mutateImage: false, trust: { enabled: false, signerSecrets: [], rootKeyIds: [] } } }],
        },
      ]);
    });
  });

  describe('when an ImagePolicy has no namespace', () => {
    it('places it in the default namespace', () => {
      const set = decodePolicyDocuments([{ source: 'p.yaml', text: IMAGE_POLICY.replace('  namespace: team-a\n', '') }]);
      expect(set.imagePolicies[0]?.namespace).toBe('default');
    });
  });

  describe('when the documents come as a kind: List', () => {
    it('decodes every item', () => {
      const list = {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'portieris.cloud.ibm.com/v1', kind: 'ClusterImagePolicy', metadata: { name: 'a' }, spec: { repositories: [] } },
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'x' }, stringData: { name: 'alice' } },
        ],
      };
      const set = decodePolicyDocuments([{ source: 'list.json', text: JSON.stringify(list) }]);
      expect(set.clusterPolicies.map((policy) => policy.name)).toEqual(['a']);
      expect(set.secrets.map((secret) => `${secret.namespace}/${secret.name}`)).toEqual(['x/s']);
    });

    it('reports a bad item with its index', () => {
      const problems = problemsOf('apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n');
      expect(problems).toEqual([{ path: 'policies.yaml:1: items[0].kind', message: anyString() }]);
    });

    it('refuses a List inside a List', () => {
      const problems = problemsOf('apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: List, items: []}\n');
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:1: items[0].kind']);
    });
  });

  describe('when a Secret carries data and stringData', () => {
    const text = `apiVersion: v1
kind: Secret
metadata: {name: alice, namespace: team-a}
type: Opaque
data:
  name: ${base64('alice')}
  publicKey: ${base64('old')}
stringData:
  publicKey: |
${ALICE_PEM.split('\n').filter(Boolean).map((line) => `    ${line}`).join('\n')}
`;
    const secret = decodePolicyDocuments([{ source: 's.yaml', text }]).secrets[0];

    it('base64-decodes data', () => {
      expect(new TextDecoder().decode(secret?.data.get('name'))).toBe('alice');
    });

    it('lets stringData override data for the same key', () => {
      expect(new TextDecoder().decode(secret?.data.get('publicKey'))).toBe(ALICE_PEM);
    });
  });

  describe('when a Secret value is not valid base64', () => {
    it.each([['not base64!'], ['YWxpY2U'], ['YW xpY2U=']])('rejects %j with POLICY_INVALID at data.name', (value) => {
      const problems = problemsOf(`apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {name: "${value}"}\n`);
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:1: data.name']);
    });
  });

  describe('when documents have many bad fields', () => {
    const text = `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: ok}
spec:
  repositories:
    - name: 5
      policy:
        mutateImage: "yes"
        trust: {enable: true}
        simple:
          requirements:
            - type: signedByAnyone
            - keySecret: k
    - policy: {}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: Bad_Name, namespace: x}
---
kind: Deployment
`;
    const problems = problemsOf(text);

    it('reports every bad field with source, document number and field path', () => {
      expect(problems.map((problem) => problem.path)).toEqual([
        'policies.yaml:1: spec.repositories[0].name',
        'policies.yaml:1: spec.repositories[0].policy.mutateImage',
        'policies.yaml:1: spec.repositories[0].policy.trust.enable',
        'policies.yaml:1: spec.repositories[0].policy.simple.requirements[0].type',
        'policies.yaml:1: spec.repositories[0].policy.simple.requirements[1].type',
        'policies.yaml:1: spec.repositories[1].name',
        'policies.yaml:2: metadata.name',
        'policies.yaml:2: metadata.namespace',
        'policies.yaml:2: spec',
        'policies.yaml:3: kind',
      ]);
    });

    it('says what a wrong type should be', () => {
      expect(problems[0]).toEqual({ path: 'policies.yaml:1: spec.repositories[0].name', message: 'must be string' });
    });
  });

  describe('when a repository pattern can never match a normalised image', () => {
    const withPatterns = (...patterns: string[]): string => `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: baseline
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
${patterns.map((pattern) => `    - name: ${JSON.stringify(pattern)}\n      policy: {trust: {enabled: true}}\n`).join('')}`;

    it.each([
      ['upper case in the repository path', 'registry.example.com/Prod/*'],
      ['upper case in a Docker Hub path', 'MyTeam/app'],
      ['a space', 'registry.example.com/prod/ *'],
      ['a trailing space', 'registry.example.com/prod/*  '],
      ['a tab', 'registry.example.com/prod\t/*'],
      ['a port that is not a number', 'registry.example.com:https/prod/*'],
      ['an empty port', 'registry.example.com:/prod/*'],
      ['an empty repository path', 'registry.example.com/'],
      ['an empty tag', 'registry.example.com/prod/app:'],
      ['a tag with characters no tag has', 'registry.example.com/prod/app:1+2'],
      ['an upper-case digest', `registry.example.com/prod/app@sha256:${'AB'.repeat(32)}`],
    ])('rejects a pattern with %s at its field', (_why, pattern) => {
      expect(problemsOf(withPatterns(pattern))).toEqual([{ path: 'policies.yaml:1: spec.repositories[0].name', message: stringContaining(JSON.stringify(pattern).slice(1, 10)) }]);
    });

    it('lists every such pattern, in every policy, with the other problems', () => {
      const text = `${withPatterns('ok.example.com/*', 'Bad.example.com/Team/*', 'reg.example.com:44x/*')}---
${withPatterns('fine/*').replace('baseline', 'other').replace('enabled: true', 'enabled: "yes"')}---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team, namespace: team-a}
spec:
  repositories: [{name: "team/ App"}]
`;
      expect(problemsOf(text).map((problem) => problem.path)).toEqual([
        'policies.yaml:1: spec.repositories[1].name',
        'policies.yaml:1: spec.repositories[2].name',
        'policies.yaml:2: spec.repositories[0].policy.trust.enabled',
        'policies.yaml:3: spec.repositories[0].name',
      ]);
    });

    it.each([
      'Registry.Example.COM/prod/*',
      'registry.example.com:0443/prod/*',
      'registry.example.com:*/prod/*',
      '*',
      '*:latest',
      '[::1]:5000/app',
      'nginx:V1_x*',
      `nginx@sha256:${'ab'.repeat(32)}`,
      'nginx@sha256:*',
    ])('accepts %j, which images can match', (pattern) => {
      expect(() => decodePolicyDocuments([{ source: 'policies.yaml', text: withPatterns(pattern) }])).not.toThrow();
    });
  });

  describe('when a field is misspelt', () => {
    it('rejects it instead of silently disabling the check', () => {
      const problems = problemsOf(CLUSTER_POLICY.replace('mutateImage: false', 'trust: {enabeld: true}'));
      expect(problems).toEqual([{ path: 'policies.yaml:1: spec.repositories[0].policy.trust.enabeld', message: 'is not a known field' }]);
    });
  });

  describe('when the kind is unknown', () => {
    it('rejects the document with POLICY_INVALID at kind', () => {
      expect(problemsOf('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n').map((problem) => problem.path)).toEqual([
        'policies.yaml:1: kind',
      ]);
    });
  });

  describe('when the apiVersion is wrong', () => {
    it('rejects the document', () => {
      const problems = problemsOf(CLUSTER_POLICY.replace('portieris.cloud.ibm.com/v1', 'portieris.cloud.ibm.com/v1beta1'));
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:1: apiVersion']);
    });
  });

  describe('when a document carries a __proto__ key where no field is expected', () => {
    it('rejects it in YAML as an unknown field', () => {
      const problems = problemsOf(CLUSTER_POLICY.replace('mutateImage: false', '__proto__: {mutateImage: false}'));
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:1: spec.repositories[0].policy.__proto__']);
    });

    it('rejects it in JSON as an unknown field', () => {
      const json = '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"__proto__":{"x":1}}';
      expect(problemsOf(json, 'secret.json')).toHaveLength(1);
    });

    it('does not pollute Object.prototype', () => {
      problemsOf('apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  __proto__: {polluted: "yes"}\n');
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });
  });

  describe('when a Secret holds keys named like properties of Object.prototype', () => {
    it.each([
      ['YAML', 'secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: team-a}\nstringData:\n  __proto__: a\n  constructor: b\n  prototype: c\n  toString: d\n'],
      ['JSON', 'secret.json', '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"team-a"},"stringData":{"__proto__":"a","constructor":"b","prototype":"c","toString":"d"}}'],
    ])('keeps each as a key of its own in %s', (_format, source, text) => {
      const set = decodePolicyDocuments([{ source, text }]);
      const secret = set.secrets.find((candidate) => candidate.name === 's');
      expect([...(secret?.data.keys() ?? [])].sort()).toEqual(['__proto__', 'constructor', 'prototype', 'toString']);
      expect(new TextDecoder().decode(secret?.data.get('__proto__'))).toBe('a');
      expect(({} as Record<string, unknown>)['a']).toBeUndefined();
    });
  });

  describe('when a policy has labels and annotations named like properties of Object.prototype', () => {
    it('decodes it like any other', () => {
      const text = CLUSTER_POLICY.replace('  name: default\n', '  name: default\n  labels: {__proto__: a, constructor: b}\n  annotations: {prototype: c, toString: d}\n');
      const set = decodePolicyDocuments([{ source: 'policies.yaml', text }]);
      expect(set.clusterPolicies.map((policy) => policy.name)).toEqual(['default']);
    });
  });

  describe('when a YAML document nests far too deep', () => {
    it('reports the document as invalid instead of crashing', () => {
      const problems = problemsOf(`${CLUSTER_POLICY}---\n${'['.repeat(600)}${']'.repeat(600)}\n`);
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:2']);
    });
  });

  describe('when the YAML is malformed', () => {
    it('reports the broken document by number and still checks the others', () => {
      const problems = problemsOf(`${CLUSTER_POLICY}---\nkey: [unclosed\n---\nkind: Nope\n`);
      expect(problems.map((problem) => problem.path)).toEqual(['policies.yaml:2', 'policies.yaml:3: kind']);
    });

    it('rejects duplicate keys', () => {
      expect(problemsOf('kind: Secret\nkind: Secret\n')).not.toHaveLength(0);
    });
  });

  describe('when a JSON file holds a key twice in one object', () => {
    // JSON.parse would keep the last: trust required as read, trust disabled as decoded.
    const policy = (trust: string): string =>
      `{"apiVersion":"portieris.cloud.ibm.com/v1","kind":"ClusterImagePolicy","metadata":{"name":"d"},"spec":{"repositories":[{"name":"reg.example.com/*","policy":{${trust}}}]}}`;

    it('rejects the document as YAML rejects duplicate keys, at the object that holds them', () => {
      const problems = problemsOf(policy('"trust":{"enabled":true},"trust":{"enabled":false}'), 'policies.json');
      expect(problems).toEqual([{ path: 'policies.json:1: spec.repositories[0].policy', message: stringContaining('"trust"') }]);
    });

    it('rejects a key written once plainly and once with escapes', () => {
      expect(problemsOf(policy('"trust":{"enabled":true},"\\u0074rust":{"enabled":false}'), 'policies.json')).toHaveLength(1);
    });

    it('accepts the same key in different objects', () => {
      const set = decodePolicyDocuments([{ source: 'policies.json', text: policy('"trust":{"enabled":true,"trustServer":"https://notary.example.com"}').replace('"name":"d"', '"name":"d","annotations":{"enabled":"x"}') }]);
      expect(set.clusterPolicies.map((decoded) => decoded.name)).toEqual(['d']);
    });
  });

  describe('when the same object is defined twice', () => {
    it('rejects the second definition', () => {
      const problems = problemsOf(`${CLUSTER_POLICY}---\n${CLUSTER_POLICY}`);
      expect(problems).toEqual([{ path: 'policies.yaml:2: metadata.name', message: stringContaining('policies.yaml:1') }]);
    });
  });

  describe('when the enforce annotation is set', () => {
    const annotate = (value: string, policy = CLUSTER_POLICY): string =>
      policy.replace(/metadata:\n {2}name: (\S+)\n/, `metadata:\n  name: $1\n  annotations:\n    trustgate.dev/enforce: "${value}"\n`);

    it('marks a ClusterImagePolicy annotated "true" as enforced', () => {
      expect(decodePolicyDocuments([{ source: 'p.yaml', text: annotate('true') }]).clusterPolicies[0]?.enforce).toBe(true);
    });

    it('rejects a value other than "true" or "false"', () => {
      expect(problemsOf(annotate('yes')).map((problem) => problem.path)).toEqual([
        'policies.yaml:1: metadata.annotations.trustgate.dev/enforce',
      ]);
    });

    it('rejects it on an ImagePolicy, where it has no meaning', () => {
      expect(problemsOf(annotate('true', IMAGE_POLICY))).toHaveLength(1);
    });
  });

  describe('when the root-key-ids annotation is set', () => {
    const KEY_A = 'a'.repeat(64);
    const KEY_B = '0123456789abcdef'.repeat(4);
    const annotate = (value: string, policy = IMAGE_POLICY): string =>
      policy.replace(/metadata:\n {2}name: (\S+)\n/, `metadata:\n  name: $1\n  annotations:\n    trustgate.dev/root-key-ids: "${value}"\n`);

    it('pins every repository of an ImagePolicy to the listed keys, each once', () => {
      const set = decodePolicyDocuments([{ source: 'p.yaml', text: annotate(`${KEY_A}, ${KEY_B},${KEY_A}`) }]);
      expect(set.imagePolicies[0]?.repositories.map((repository) => repository.policy.trust.rootKeyIds)).toEqual([
        [KEY_A, KEY_B],
        [KEY_A, KEY_B],
      ]);
    });

    it('pins the repositories of a ClusterImagePolicy too', () => {
      const set = decodePolicyDocuments([{ source: 'p.yaml', text: annotate(KEY_B, CLUSTER_POLICY) }]);
      expect(set.clusterPolicies[0]?.repositories[0]?.policy.trust.rootKeyIds).toEqual([KEY_B]);
    });

    it('pins nothing without the annotation', () => {
      expect(decodePolicyDocuments([{ source: 'p.yaml', text: IMAGE_POLICY }]).imagePolicies[0]?.repositories[0]?.policy.trust.rootKeyIds).toEqual([]);
    });

    it.each([
      ['an empty value', ''],
      ['a short ID', 'abc123'],
      ['upper-case hex', 'A'.repeat(64)],
      ['an empty entry', `${KEY_A},,${KEY_B}`],
      ['more than 32 IDs', Array.from({ length: 33 }, (_, index) => index.toString(16).padStart(64, '0')).join(',')],
    ])('rejects %s instead of falling back to trust on first use', (_label, value) => {
      expect(problemsOf(annotate(value)).map((problem) => problem.path)).toEqual(['policies.yaml:1: metadata.annotations.trustgate.dev/root-key-ids']);
    });
  });

  describe('when files are empty or hold only comments', () => {
    it('returns an empty policy set', () => {
      expect(decodePolicyDocuments([{ source: 'a.yaml', text: '' }, { source: 'b.yaml', text: '# nothing\n---\n' }])).toEqual({
        imagePolicies: [],
        clusterPolicies: [],
        secrets: [],
      });
    });
  });

  describe('when a simple signing policy is given', () => {
    it('maps an empty signedIdentity type to matchRepoDigestOrExact', () => {
      const set = decodePolicyDocuments([
        {
          source: 'p.yaml',
          text: CLUSTER_POLICY.replace(
            'mutateImage: false',
            'simple:\n          requirements:\n            - type: signedBy\n              keySecret: k\n              signedIdentity: {type: ""}',
          ),
        },
      ]);
      expect(set.clusterPolicies[0]?.repositories[0]?.policy.simple).toEqual({
        requirements: [{ type: 'signedBy', keySecret: 'k', signedIdentity: { type: 'matchRepoDigestOrExact' } }],
      });
    });
  });
});
