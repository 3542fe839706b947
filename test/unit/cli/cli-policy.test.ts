// `trustgate policy lint|lookup` and the policy form of `trustgate verify`, run in-process.
// Nothing here contacts a trust server: the policies used either need no verification or
// fail before any request (the real server is driven by test/integration/verify-policies).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../cli/main.js';
import { registryClusterPolicy } from '../../support/policy-fixtures.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/policies', import.meta.url));

const CLUSTER = registryClusterPolicy('reg.example.com/open/*');
const SANDBOX = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: open, namespace: sandbox}
spec:
  repositories: [{name: "*", policy: {mutateImage: false}}]
---
apiVersion: v1
kind: Secret
metadata: {name: unused, namespace: sandbox}
stringData: {name: alice}
`;
// Two bad documents in one file and one in another: every problem must be listed.
const BROKEN_A = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: Bad_Name}
spec:
  repositories: [{name: "x/*", policy: {trust: {enabled: "yes"}}}]
---
kind: Gadget
`;
const BROKEN_B = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: ok}
spec:
  repositories: [{name: "*", policy: {trusst: {}}}]
`;

let dir = '';
let valid = '';
let broken = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-cli-policy-'));
  valid = join(dir, 'valid');
  broken = join(dir, 'broken');
  await mkdir(valid);
  await mkdir(broken);
  await writeFile(join(valid, 'cluster.yaml'), CLUSTER);
  await writeFile(join(valid, 'sandbox.yaml'), SANDBOX);
  await writeFile(join(broken, 'a.yaml'), BROKEN_A);
  await writeFile(join(broken, 'b.yaml'), BROKEN_B);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: { TRUSTGATE_STATE_DIR: join(dir, 'state') }, clock: systemClock });
  return { code, stdout, stderr };
}

// `policy lookup IMAGE --policies POLICIES --namespace sandbox --json`, which must exit 0: its answer.
async function lookupInSandbox(policies: string, image: string): Promise<unknown> {
  const result = await cli('policy', 'lookup', image, '--policies', policies, '--namespace', 'sandbox', '--json');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

// A policies folder `name` under the scratch folder holding `text` as its one file.
async function policyDir(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'policy.yaml'), text);
  return path;
}

describe('trustgate policy lint', () => {
  describe('when every document is valid', () => {
    it('exits 0 with a one-line summary', async () => {
      const result = await cli('policy', 'lint', valid);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('valid: 1 ImagePolicies, 1 ClusterImagePolicies, 1 Secrets (2 files)\n');
    });
  });

  describe('when policies are in warn or audit mode', () => {
    it('names each of them after the summary, and lookup shows the mode', async () => {
      const modes = join(dir, 'modes');
      await mkdir(modes, { recursive: true });
      await writeFile(
        join(modes, 'rollout.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: rollout, namespace: team-a, annotations: {trustgate.dev/mode: warn}}
spec:
  repositories: [{name: "reg.example.com/*", policy: {trust: {enabled: true}}}]
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: quiet, annotations: {trustgate.dev/mode: audit}}
spec:
  repositories: [{name: "*"}]
`,
      );
      const lint = await cli('policy', 'lint', modes);
      expect(lint.code).toBe(0);
      expect(lint.stdout.split('\n').slice(1, 3)).toEqual(['mode audit: ClusterImagePolicy quiet', 'mode warn: ImagePolicy team-a/rollout']);
      const lookup = await cli('policy', 'lookup', '--policies', modes, '--namespace', 'team-a', 'reg.example.com/app:v1');
      expect(lookup.stdout).toContain('mode: warn');
      const json = await cli('policy', 'lookup', '--policies', modes, '--namespace', 'team-a', '--json', 'reg.example.com/app:v1');
      expect(JSON.parse(json.stdout)).toMatchObject({ matched: true, policy: { mode: 'warn' } });
    });

    it('exits 1 on a mode that is not enforce, warn or audit', async () => {
      const typo = join(dir, 'typo');
      await mkdir(typo, { recursive: true });
      await writeFile(join(typo, 'p.yaml'), `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: quiet, annotations: {trustgate.dev/mode: Warn}}
spec: {repositories: [{name: "*"}]}
`);
      const lint = await cli('policy', 'lint', typo);
      expect(lint.code).toBe(1);
      expect(lint.stdout).toContain('metadata.annotations.trustgate.dev/mode');
    });
  });

  describe('when documents are invalid', () => {
    it('exits 1 listing every problem, one per line, as file:document: field path: message', async () => {
      const result = await cli('policy', 'lint', broken);
      expect(result.code).toBe(1);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^a\.yaml:1: metadata\.name: \S/),
        expect.stringMatching(/^a\.yaml:1: spec\.repositories\[0\]\.policy\.trust\.enabled: \S/),
        expect.stringMatching(/^a\.yaml:2: kind: \S/),
        expect.stringMatching(/^b\.yaml:1: spec\.repositories\[0\]\.policy\.trusst: \S/),
      ]);
      expect(result.stderr).toContain('4 problems');
    });
  });

  describe('when repository patterns can never match an image', () => {
    it('exits 1 listing each one at its field, in every policy', async () => {
      const inert = join(dir, 'inert');
      await mkdir(inert, { recursive: true });
      await writeFile(
        join(inert, 'baseline.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: production-baseline
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
    - name: "registry.example.com/Prod/*"
      policy: {trust: {enabled: true}}
    - name: "registry.example.com:https/prod/*"
      policy: {trust: {enabled: true}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team, namespace: team-a}
spec:
  repositories: [{name: "registry.example.com/team/app "}]
`,
      );
      const result = await cli('policy', 'lint', inert);
      expect(result.code).toBe(1);
      expect(result.stdout.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/^baseline\.yaml:1: spec\.repositories\[0\]\.name: .*upper-case/),
        expect.stringMatching(/^baseline\.yaml:1: spec\.repositories\[1\]\.name: .*port/),
        expect.stringMatching(/^baseline\.yaml:2: spec\.repositories\[0\]\.name: .*whitespace/),
      ]);
      expect(result.stderr).toContain('3 problems');
    });
  });

  describe('when an ImagePolicy names another namespace\'s store Secret', () => {
    it('exits 1 at storeSecretNamespace: store credentials would go to a storeURL the namespace chose', async () => {
      const store = join(dir, 'store-elsewhere');
      await mkdir(store, { recursive: true });
      await writeFile(
        join(store, 'team.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: team, namespace: team-a}
spec:
  repositories:
    - name: "registry.example.com/team-a/*"
      policy:
        simple:
          storeURL: https://sigstore.team-a.example.com
          storeSecret: store-credentials
          storeSecretNamespace: team-b
          requirements: [{type: signedBy, keySecret: gpg}]
`,
      );
      const result = await cli('policy', 'lint', store);
      expect(result.code).toBe(1);
      expect(result.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/^team\.yaml:1: spec\.repositories\[0\]\.policy\.simple\.storeSecretNamespace: .*own namespace/)]);
    });
  });

  describe('when a simple signing policy can never be checked', () => {
    // Each would deny every image it governs with POLICY_INVALID: lint must say so first.
    it('exits 1 at each field: signedIdentity missing what its type needs, a store URL that is not http(s), signedBy without a key, no requirements', async () => {
      const simple = join(dir, 'simple-invalid');
      await mkdir(simple, { recursive: true });
      await writeFile(
        join(simple, 'simple.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: simple}
spec:
  repositories:
    - name: "registry.example.com/a/*"
      policy: {simple: {requirements: [{type: signedBy, keySecret: gpg, keySecretNamespace: keys, signedIdentity: {type: matchExactReference}}]}}
    - name: "registry.example.com/b/*"
      policy: {simple: {storeURL: "ftp://sigstore.example.com", requirements: [{type: signedBy, keySecret: gpg, keySecretNamespace: keys}]}}
    - name: "registry.example.com/c/*"
      policy: {simple: {requirements: [{type: signedBy, signedIdentity: {type: remapIdentity, prefix: "Nope!", signedPrefix: "docker.io"}}]}}
    - name: "registry.example.com/d/*"
      policy: {simple: {requirements: []}}
`,
      );
      const result = await cli('policy', 'lint', simple);
      expect(result.code).toBe(1);
      expect(result.stdout.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/^simple\.yaml:1: spec\.repositories\[0\]\.policy\.simple\.requirements\[0\]\.signedIdentity\.dockerReference: is required/),
        expect.stringMatching(/^simple\.yaml:1: spec\.repositories\[1\]\.policy\.simple\.storeURL: uses ftp:/),
        expect.stringMatching(/^simple\.yaml:1: spec\.repositories\[2\]\.policy\.simple\.requirements\[0\]\.keySecret: is required/),
        expect.stringMatching(/^simple\.yaml:1: spec\.repositories\[2\]\.policy\.simple\.requirements\[0\]\.signedIdentity\.prefix: /),
        expect.stringMatching(/^simple\.yaml:1: spec\.repositories\[3\]\.policy\.simple\.requirements: lists no requirements/),
      ]);
    });

    it('finds a remapIdentity whose prefix is a registry host valid (docker.io for a mirror of Docker Hub)', async () => {
      const remap = join(dir, 'simple-remap-host');
      await mkdir(remap, { recursive: true });
      await writeFile(
        join(remap, 'mirror.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: mirror}
spec:
  repositories:
    - name: "mirror.example.com/*"
      policy: {simple: {requirements: [{type: signedBy, keySecret: gpg, keySecretNamespace: keys, signedIdentity: {type: remapIdentity, prefix: "mirror.example.com", signedPrefix: "docker.io"}}]}}
`,
      );
      const result = await cli('policy', 'lint', remap);
      expect(result.stdout, result.stderr).toMatch(/^valid/);
      expect(result.code).toBe(0);
    });
  });

  describe('when a JSON policy file holds a key twice', () => {
    // JSON.parse keeps the last member: this file would read as trust required and mean
    // trust disabled. YAML refuses duplicate keys; JSON must too.
    const twice = `{"apiVersion":"portieris.cloud.ibm.com/v1","kind":"ClusterImagePolicy","metadata":{"name":"d"},
 "spec":{"repositories":[{"name":"registry.example.com/prod/*","policy":{"trust":{"enabled":true,"trustServer":"https://notary.example.com"},"trust":{"enabled":false}}}]}}`;

    it('exits 1 naming the object that holds it and the key', async () => {
      const duplicates = join(dir, 'duplicates');
      await mkdir(duplicates, { recursive: true });
      await writeFile(join(duplicates, 'd.json'), twice);
      const result = await cli('policy', 'lint', duplicates);
      expect(result.code).toBe(1);
      expect(result.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/^d\.json:1: spec\.repositories\[0\]\.policy: .*"trust"/)]);
    });

    it('refuses a key spelled twice differently ("tr\\u0075st" is "trust"), and so does verify --policies', async () => {
      const escaped = join(dir, 'escaped');
      await mkdir(escaped, { recursive: true });
      await writeFile(join(escaped, 'd.json'), twice.replace('"trust":{"enabled":false}', '"tr\\u0075st":{"enabled":false}'));
      const lint = await cli('policy', 'lint', escaped);
      expect(lint.code).toBe(1);
      expect(lint.stdout).toMatch(/^d\.json:1: spec\.repositories\[0\]\.policy: .*"trust"/);
      const verify = await cli('verify', 'registry.example.com/prod/app:v1', '--policies', escaped);
      expect(verify.code).toBe(2);
      expect(verify.stderr).toMatch(/d\.json:1: spec\.repositories\[0\]\.policy: .*"trust"/);
    });
  });

  describe('when a pattern host holds a letter that lower-cases to ASCII', () => {
    // U+212A KELVIN SIGN lower-cases to 'k': lint must not fold it into keg.example.com.
    it('exits 1 naming the pattern, and verify --policies refuses the policies', async () => {
      const kelvin = join(dir, 'kelvin');
      await mkdir(kelvin, { recursive: true });
      await writeFile(join(kelvin, 'k.yaml'), registryClusterPolicy('"\u212Aeg.example.com/prod/*"'));
      const lint = await cli('policy', 'lint', kelvin);
      expect(lint.code).toBe(1);
      expect(lint.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/^k\.yaml:1: spec\.repositories\[1\]\.name: .*ASCII/)]);
      const verify = await cli('verify', 'keg.example.com/prod/app:v1', '--policies', kelvin);
      expect(verify.code).toBe(2);
      expect(verify.stderr).toMatch(/k\.yaml:1: spec\.repositories\[1\]\.name: .*ASCII/);
    });

    it('refuses an image written with it rather than folding it', async () => {
      const verify = await cli('verify', '\u212Aeg.example.com/prod/app:v1', '--policies', valid, '--json');
      expect(verify.code).toBe(1);
      expect(JSON.parse(verify.stdout)).toMatchObject({ allowed: false, codes: ['IMAGE_REF_INVALID'] });
    });
  });

  describe('when pull secrets spell field names as the kubelet reads them', () => {
    // The kubelet decodes .dockerconfigjson with Go's encoding/json, which matches field names
    // in any case (the Kelvin sign folding to k): these Secrets work for it, so lint accepts them.
    const secret = (name: string, config: string, type = 'kubernetes.io/dockerconfigjson', key = '.dockerconfigjson'): string =>
      `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: team}\ntype: ${type}\ndata: {${key}: ${Buffer.from(config).toString('base64')}}\n`;
    const auth = Buffer.from('robot:pw').toString('base64');

    it('exits 0 on Auths, Auth, Username and Password, IdentityToken and the legacy dockercfg form', async () => {
      const spelled = join(dir, 'go-spellings');
      await mkdir(spelled, { recursive: true });
      const documents = [
        secret('capital-auth', `{"auths":{"reg.example.com":{"Auth":"${auth}"}}}`),
        secret('capital-auths', `{"Auths":{"reg.example.com":{"auth":"${auth}"}}}`),
        secret('capital-fields', '{"auths":{"reg.example.com":{"Username":"robot","Password":"pw"}}}'),
        secret('kelvin-token', '{"auths":{"reg.example.com":{"IdentityTo\u212Aen":"refresh"}}}'),
        secret('legacy', `{"reg.example.com":{"AUTH":"${auth}"}}`, 'kubernetes.io/dockercfg', '.dockercfg'),
      ];
      await writeFile(join(spelled, 'secrets.yaml'), documents.join('---\n'));
      const lint = await cli('policy', 'lint', spelled);
      expect(lint.stdout + lint.stderr).not.toContain('Secret team/');
      expect(lint.code).toBe(0);
    });

    it('exits 1 on a field spelled with a letter Go does not fold into it (dotless i)', async () => {
      const dotless = join(dir, 'go-dotless');
      await mkdir(dotless, { recursive: true });
      await writeFile(join(dotless, 'secrets.yaml'), secret('dotless', '{"auths":{"reg.example.com":{"\u0131dentitytoken":"refresh"}}}'));
      const lint = await cli('policy', 'lint', dotless);
      expect(lint.code).toBe(1);
      expect(lint.stdout).toContain('Secret team/dotless');
    });
  });

  describe('when the path cannot be read', () => {
    it('exits 2', async () => {
      const result = await cli('policy', 'lint', join(dir, 'missing'));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ENOENT');
    });
  });

  describe('when used wrongly', () => {
    it('exits 2 without a PATH or with an unknown subcommand', async () => {
      expect((await cli('policy', 'lint')).code).toBe(2);
      expect((await cli('policy')).code).toBe(2);
      expect((await cli('policy', 'frobnicate')).code).toBe(2);
    });
  });

  describe('on the shipped examples', () => {
    it('finds them valid', async () => {
      const result = await cli('policy', 'lint', EXAMPLES);
      expect(result.stdout).toBe('valid: 2 ImagePolicies, 2 ClusterImagePolicies, 1 Secrets (4 files)\n');
      expect(result.code).toBe(0);
    });
  });
});

describe('trustgate policy lookup', () => {
  describe('when a policy matches', () => {
    it('exits 0 and prints the policy and where it comes from', async () => {
      const result = await cli('policy', 'lookup', 'reg.example.com/team/app:v1', '--policies', valid);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('matched: ClusterImagePolicy registry (pattern "reg.example.com/*")');
      expect(result.stdout).toContain('https://notary.example.com');
    });

    it('prints exactly the policy-lookup function answer with --json', async () => {
      const result = await cli('policy', 'lookup', 'reg.example.com/open/app', '--policies', valid, '--json');
      expect(JSON.parse(result.stdout)).toEqual({
        matched: true,
        policy: { mode: 'enforce', mutateImage: true, trust: { enabled: false, signerSecrets: [], rootKeyIds: [] } },
        source: { kind: 'ClusterImagePolicy', name: 'registry', pattern: 'reg.example.com/open/*' },
        enforced: [],
        precedence: {
          rule: 'score',
          winner: {
            source: { kind: 'ClusterImagePolicy', name: 'registry', pattern: 'reg.example.com/open/*' },
            normalised: 'reg.example.com/open/*',
            score: 'reg.example.com/open/'.length,
            exact: false,
          },
          runnersUp: [
            {
              source: { kind: 'ClusterImagePolicy', name: 'registry', pattern: 'reg.example.com/*' },
              normalised: 'reg.example.com/*',
              score: 'reg.example.com/'.length,
              exact: false,
            },
          ],
        },
      });
    });

    it('uses the namespace given', async () => {
      const result = await cli('policy', 'lookup', 'reg.example.com/team/app', '--policies', valid, '--namespace', 'sandbox', '--json');
      expect(JSON.parse(result.stdout)).toMatchObject({ matched: true, source: { kind: 'ImagePolicy', namespace: 'sandbox', name: 'open' } });
    });
  });

  describe('when no policy matches', () => {
    it('exits 1 with the reason', async () => {
      const result = await cli('policy', 'lookup', 'other.example.com/app', '--policies', valid);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^no match: .*other\.example\.com\/app:latest/);
    });
  });

  describe('when an enforced ClusterImagePolicy applies (shipped examples)', () => {
    it('lists it after the namespace policy', async () => {
      expect(await lookupInSandbox(EXAMPLES, 'registry.example.com/prod/api:1.0')).toMatchObject({
        matched: true,
        source: { kind: 'ImagePolicy', name: 'allow-all', namespace: 'sandbox', pattern: '*' },
        enforced: [{ source: { kind: 'ClusterImagePolicy', name: 'production-baseline' }, policy: { trust: { enabled: true } } }],
      });
    });
  });

  describe('when the registry is written with its default port (shipped examples)', () => {
    it.each(['registry.example.com:443/prod/app', 'registry.example.com:0443/prod/app:1.0', 'registry.example.com:5000/prod/app'])(
      'adds the enforced baseline for %s in a namespace that allows everything',
      async (image) => {
        expect(await lookupInSandbox(EXAMPLES, image)).toMatchObject({
          source: { kind: 'ImagePolicy', name: 'allow-all' },
          enforced: [{ source: { kind: 'ClusterImagePolicy', name: 'production-baseline' }, policy: { trust: { enabled: true } } }],
        });
      },
    );
  });

  // glibc's resolver (a cgo-built container runtime) reads these hosts as 127.0.0.1.
  describe('when the registry is a numeric spelling of an enforced IPv4 registry', () => {
    const BASELINE = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: loopback-baseline
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
    - name: "127.0.0.1:5000/prod/*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: allow-all, namespace: sandbox}
spec:
  repositories: [{name: "*", policy: {mutateImage: false}}]
`;

    it.each(['127.1:5000/prod/app', '0x7f.0.0.1:5000/prod/app:v1', '0177.0.0.1:5000/prod/app', '2130706433:5000/prod/app', '0x7f000001:05000/prod/app'])(
      'adds the enforced 127.0.0.1:5000/prod/* baseline for %s in a namespace that allows everything',
      async (image) => {
        expect(await lookupInSandbox(await policyDir('ipv4-baseline', BASELINE), image)).toMatchObject({
          source: { kind: 'ImagePolicy', name: 'allow-all' },
          enforced: [{ source: { kind: 'ClusterImagePolicy', name: 'loopback-baseline' }, policy: { trust: { enabled: true } } }],
        });
      },
    );
  });

  // Go's resolver, which containerd, CRI-O and dockerd use by default, looks `127.1` up as a
  // DNS name (search list included): a permissive policy for the address 127.0.0.1:5000 must
  // not govern it, or an unsigned image from whoever answers for that name is admitted.
  describe('when a numeric IPv4 spelling meets a permissive policy for its address and an enforced baseline', () => {
    const POLICIES = `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: baseline
  annotations: {trustgate.dev/enforce: "true"}
spec:
  repositories:
    - name: "*"
      policy: {trust: {enabled: true, trustServer: "https://notary.example.com"}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: local-dev-registry}
spec:
  repositories:
    - name: "127.0.0.1:5000/*"
      policy: {mutateImage: false}
`;
    const lookup = async (image: string): Promise<unknown> => lookupInSandbox(await policyDir('ipv4-name', POLICIES), image);

    it.each(['127.1:5000/evil/app', '2130706433:5000/evil/app', '0x7f000001:5000/evil/app', '127.000.000.001:5000/evil/app'])(
      'governs %s by the enforced baseline alone, not by the permissive 127.0.0.1:5000/* policy',
      async (image) => {
        const answer = await lookup(image);
        expect(answer).toMatchObject({
          matched: true,
          source: { kind: 'ClusterImagePolicy', name: 'baseline', pattern: '*' },
          policy: { trust: { enabled: true, trustServer: 'https://notary.example.com' } },
          enforced: [],
        });
        expect(answer).not.toHaveProperty('precedence');
        expect(JSON.stringify(answer)).not.toContain('local-dev-registry');
      },
    );

    it('governs 127.0.0.1:5000/evil/app, the address as written, by the permissive policy under the enforced baseline', async () => {
      expect(await lookup('127.0.0.1:5000/evil/app')).toMatchObject({
        source: { kind: 'ClusterImagePolicy', name: 'local-dev-registry' },
        enforced: [{ source: { kind: 'ClusterImagePolicy', name: 'baseline', pattern: '*' }, policy: { trust: { enabled: true } } }],
      });
    });
  });

  describe('when several patterns match', () => {
    it('explains why the winner won and lists the runners-up', async () => {
      const precedence = join(dir, 'precedence');
      await mkdir(precedence, { recursive: true });
      await writeFile(
        join(precedence, 'hello.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: hello}
spec:
  repositories:
    - name: "icr.io/hello/world:*"
      policy: {trust: {enabled: true}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: open}
spec:
  repositories:
    - name: "icr.io/hello/world"
`,
      );
      const result = await cli('policy', 'lookup', 'icr.io/hello/world:1.0', '--policies', precedence);
      expect(result.code).toBe(0);
      expect(result.stdout.split('\n')).toEqual(
        expect.arrayContaining([
          'matched: ClusterImagePolicy hello (pattern "icr.io/hello/world:*")',
          expect.stringMatching(/^ {2}why: it has the highest score .*: "icr\.io\/hello\/world:\*" scores 19$/),
          '  runner-up: ClusterImagePolicy open (pattern "icr.io/hello/world"): "icr.io/hello/world" scores 18',
        ]),
      );
      const exact = await cli('policy', 'lookup', 'icr.io/hello/world', '--policies', precedence);
      expect(exact.stdout).toContain('matched: ClusterImagePolicy open (pattern "icr.io/hello/world")');
      expect(exact.stdout).toMatch(/ {2}why: it is the image itself \(exact match\): "icr\.io\/hello\/world" is exact, scores 18/);
    });
  });

  describe('when the image has a tag and a digest whose forms meet different policies', () => {
    const digest = `sha256:${'e'.repeat(64)}`;
    let tagged = '';
    beforeAll(async () => {
      tagged = join(dir, 'tagged');
      await mkdir(tagged, { recursive: true });
      await writeFile(
        join(tagged, 'releases.yaml'),
        `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: releases}
spec:
  repositories:
    - name: "reg.example.com/it/*:v*"
      policy: {trust: {enabled: true}}
    - name: "reg.example.com/it/*"
      policy: {trust: {enabled: true}}
    - name: "reg.example.com/it/app:debug"
      policy: {}
    - name: "reg.example.com/only/*:debug"
      policy: {}
`,
      );
    });

    it('says the digest decided when the tag meets a policy without a Notary check', async () => {
      const result = await cli('policy', 'lookup', `reg.example.com/it/app:debug@${digest}`, '--policies', tagged);
      expect(result.code).toBe(0);
      expect(result.stdout.split('\n')).toEqual(
        expect.arrayContaining([
          'matched: ClusterImagePolicy releases (pattern "reg.example.com/it/*")',
          expect.stringMatching(/^tag and digest: judged by its digest, as the runtime pulls it/),
          '  by tag: ClusterImagePolicy releases (pattern "reg.example.com/it/app:debug")',
          '  by digest: ClusterImagePolicy releases (pattern "reg.example.com/it/*")',
        ]),
      );
      const json = JSON.parse((await cli('policy', 'lookup', `reg.example.com/it/app:debug@${digest}`, '--policies', tagged, '--json')).stdout) as Record<string, unknown>;
      expect(json['tagAndDigest']).toMatchObject({
        rule: 'digest',
        byTag: { source: { pattern: 'reg.example.com/it/app:debug' } },
        byDigest: { source: { pattern: 'reg.example.com/it/*' } },
      });
    });

    it('says the tag decided when its policy enforces a Notary check', async () => {
      const result = await cli('policy', 'lookup', `reg.example.com/it/app:v1@${digest}`, '--policies', tagged, '--json');
      expect(JSON.parse(result.stdout)).toMatchObject({ matched: true, source: { pattern: 'reg.example.com/it/*:v*' }, tagAndDigest: { rule: 'signed-tag' } });
    });

    it('exits 1 when no pattern matches the digest, and says the tag did not count', async () => {
      const result = await cli('policy', 'lookup', `reg.example.com/only/app:debug@${digest}`, '--policies', tagged);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`no match: no ClusterImagePolicy has a repository pattern matching reg.example.com/only/app@${digest}`);
      expect(result.stdout).toContain('  by digest: no pattern matches');
    });
  });

  describe('when used wrongly or pointed at unusable policies', () => {
    it.each([
      ['no --policies', ['nginx']],
      ['no IMAGE', ['--policies', 'POLICIES']],
      ['an invalid image', ['UPPER/Case', '--policies', 'POLICIES']],
      ['an invalid namespace', ['nginx', '--policies', 'POLICIES', '--namespace', 'Not_A_Name']],
      ['an unreadable path', ['nginx', '--policies', 'MISSING']],
    ])('exits 2 with %s', async (_situation, args) => {
      const resolved = args.map((arg) => (arg === 'POLICIES' ? valid : arg === 'MISSING' ? join(dir, 'missing') : arg));
      expect((await cli('policy', 'lookup', ...resolved)).code).toBe(2);
    });

    it('exits 2 with every problem on stderr when the policies are invalid', async () => {
      const result = await cli('policy', 'lookup', 'nginx', '--policies', broken);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('a.yaml:1: metadata.name: ');
      expect(result.stderr).toContain('b.yaml:1: spec.repositories[0].policy.trusst: ');
    });
  });
});

describe('trustgate verify --policies', () => {
  describe('when used wrongly', () => {
    it.each([
      ['--trust-server', ['--trust-server', 'https://n.example.com']],
      ['--signer', ['--signer', 'alice=alice.pem']],
      ['--root-key-id', ['--root-key-id', 'a'.repeat(64)]],
    ])('exits 2 when combined with %s', async (flag, extra) => {
      const result = await cli('verify', 'nginx', '--policies', valid, ...extra);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--policies cannot be combined with ${flag}`);
    });

    it('exits 2 with --namespace but no --policies', async () => {
      expect((await cli('verify', 'nginx', '--namespace', 'team-a')).code).toBe(2);
    });

    it('exits 2 with a namespace that is not a Kubernetes name', async () => {
      expect((await cli('verify', 'nginx', '--policies', valid, '--namespace', 'Team_A')).code).toBe(2);
    });
  });

  describe('when the policy path is unreadable or invalid', () => {
    it('exits 2 when it cannot be read', async () => {
      const result = await cli('verify', 'nginx', '--policies', join(dir, 'missing'));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('cannot read policy files');
    });

    it('exits 2 with every problem on stderr when it is invalid', async () => {
      const result = await cli('verify', 'nginx', '--policies', broken, '--json');
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('a.yaml:2: kind: ');
      expect(result.stderr).toContain('b.yaml:1: spec.repositories[0].policy.trusst: ');
    });
  });

  describe('when the matching policy needs no verification', () => {
    it('exits 0 and names the policy and mutateImage in the JSON answer', async () => {
      const result = await cli('verify', 'reg.example.com/team/app:v1', '--policies', valid, '--namespace', 'sandbox', '--json');
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({
        allowed: true,
        image: 'reg.example.com/team/app:v1',
        digest: null,
        reasons: [],
        codes: [],
        signers: [],
        policy: { kind: 'ImagePolicy', name: 'open', namespace: 'sandbox', pattern: '*' },
        mutateImage: false,
      });
    });

    it('prints the policy in the human answer', async () => {
      const result = await cli('verify', 'reg.example.com/open/app:v1', '--policies', valid);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('allowed: reg.example.com/open/app:v1 (no signature required)\n  policy: ClusterImagePolicy registry (pattern "reg.example.com/open/*")\n');
    });
  });

  describe('when no policy matches in the default namespace', () => {
    it('exits 1 with POLICY_NO_MATCH', async () => {
      const result = await cli('verify', 'other.example.com/app:v1', '--policies', valid, '--json');
      expect(result.code).toBe(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'], policy: null });
    });
  });
});

describe('trustgate policy lint and lookup with sigstore fields', () => {
  const SIGSTORE = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign}
spec:
  repositories:
    - name: "reg.example.com/signed/*"
      policy:
        trust: {enabled: true, trustServer: "https://notary.example.com"}
        sigstore: {authorities: [{key: {secretName: release-key}}]}
        verification: {mode: any}
`;
  const KEYLESS = `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  repositories:
    - name: "reg.example.com/*"
      policy: {sigstore: {authorities: [{keyless: {identities: [{issuer: "https://token.actions.githubusercontent.com", subject: "repo:org/app"}]}}]}}
`;

  it('lint finds a key-based sigstore policy valid and lookup shows its fields', async () => {
    const path = await policyDir('sigstore', SIGSTORE);
    expect((await cli('policy', 'lint', path)).code).toBe(0);
    const human = await cli('policy', 'lookup', 'reg.example.com/signed/app:v1', '--policies', path);
    expect(human.stdout).toContain('sigstore: cosign signatures (classic or v3 bundles; transparency log: auto) by 1 of: key secret release-key');
    expect(human.stdout).toContain('verification mode: any');
    const json = await cli('policy', 'lookup', 'reg.example.com/signed/app:v1', '--policies', path, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ policy: { sigstore: { keySecrets: [{ name: 'release-key' }], keyless: [], threshold: 1, tlog: 'auto' }, verification: { mode: 'any' } } });
  });

  it('lint finds a keyless policy valid and lookup shows its identities', async () => {
    const path = await policyDir('keyless', KEYLESS);
    expect((await cli('policy', 'lint', path)).code).toBe(0);
    const human = await cli('policy', 'lookup', 'reg.example.com/app:v1', '--policies', path);
    expect(human.stdout).toContain('keyless repo:org/app from https://token.actions.githubusercontent.com (public-good root)');
    const json = await cli('policy', 'lookup', 'reg.example.com/app:v1', '--policies', path, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      policy: { sigstore: { keySecrets: [], keyless: [{ identities: [{ issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:org/app' }] }], tlog: 'auto' } },
    });
  });

  it('lint refuses a keyless authority with tlog off, naming the field', async () => {
    const result = await cli('policy', 'lint', await policyDir('keyless-off', KEYLESS.replace('{sigstore: {', '{sigstore: {tlog: "off", ')));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('sigstore.authorities[0].keyless');
  });
});
