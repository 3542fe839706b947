// `trustgate migrate sign` carries an image over only where the carry-over signature keeps
// the trust it stands for, against the real notary-server and docker-registry. The signature
// is bound to the digest alone, so it admits the image wherever a policy trusts the key:
// - the dev namespace's own policy trusts any tag its repository owner signed in Notary,
//   while prod (the README's state 2: Notary signer `ci` OR the carry-over key) does not
//   admit the dev image; carrying it over would launder dev's weak trust into prod;
// - an image its own policy denies today (a cosign check of `verification.mode: all`
//   failing) must not be signed because its Notary check passes;
// - with no policy trusting the key yet, nothing is signed (the README's step 1 comes first);
// - a ClusterImagePolicy in another namespace that trusts the key without asking for Notary
//   trust would admit what it never checked in Notary.
// The README workflow still signs an image admitted on the `ci` signer's Notary trust, under
// the shipped example policies (examples/migration, pointed at these servers and keys), and
// the carried-over signature then admits it once Notary is gone from the policies.
import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml, notarySignerSecretYaml } from '../support/key-secrets.js';
import { createCosignKey } from './support/cosign-signatures.js';
import { createDelegateKey, type DelegateKey } from './support/delegate-keys.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';

let env: TrustEnvironment;
let registry: DockerRegistry;
let carryOverKeyFile: string;
let carryOverPublicPem: string;
let releasePublicPem: string;
let ci: DelegateKey;
// The policies during the move (prod, dev, strict), and the variants of the other tests.
let duringMove: string;
let beforeKey: string;
let clusterWithoutNotary: string;
let afterMove: string;
let exampleDuringMove: string;
let exampleAfterMove: string;
const pushed = new Map<string, PushedImage>();

function image(repository: string): string {
  return `${registry.host}/${repository}:v1`;
}

function digestOf(repository: string): string {
  const found = pushed.get(repository);
  if (found === undefined) throw new Error(`${repository} was not pushed`);
  return found.digest;
}

// Pushes `repository:v1` and signs it in Notary by the repository owner (targets) and/or the
// `ci` delegation.
async function pushSigned(repository: string, roles: { readonly owner: boolean; readonly ci: boolean }): Promise<void> {
  const target = await pushImage(registry, repository, 'v1');
  pushed.set(repository, target);
  const gun = `${registry.host}/${repository}`;
  const hex = target.digest.slice('sha256:'.length);
  await env.scenarios.cli.init(gun);
  if (roles.ci) {
    await env.scenarios.cli.addDelegation(gun, 'targets/ci', ci.delegationFile, { allPaths: true });
    await env.scenarios.cli.addHash(gun, 'v1', target.size, hex, { roles: ['targets/ci'] });
  }
  if (roles.owner) await env.scenarios.cli.addHash(gun, 'v1', target.size, hex);
  await env.scenarios.cli.publish(gun);
}

function ciSecret(namespace: string): string {
  return notarySignerSecretYaml('ci-signer', namespace, 'ci', ci.publicKeyPem);
}

// prod: Notary signer `ci`, and (during the move) OR the carry-over key.
function prodPolicy(withKey: boolean): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: prod-images, namespace: prod}
spec:
  repositories:
    - name: "${registry.host}/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}", signerSecrets: [{name: ci-signer}]}
${withKey ? '        sigstore: {authorities: [{key: {secretName: carry-over}}]}\n        verification: {mode: any}\n' : ''}---
${ciSecret('prod')}
---
${cosignKeySecretYaml('carry-over', 'prod', carryOverPublicPem)}
`;
}

// dev: any tag its repository owner signed in Notary.
function devPolicy(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: dev-images, namespace: dev}
spec:
  repositories:
    - name: "${registry.host}/dev/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
`;
}

// strict: Notary (the repository owner) AND a cosign signature by the release or the
// carry-over key.
function strictPolicy(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: strict-images, namespace: strict}
spec:
  repositories:
    - name: "${registry.host}/strict/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
        sigstore: {authorities: [{key: {secretName: release}}, {key: {secretName: carry-over}}]}
---
${cosignKeySecretYaml('release', 'strict', releasePublicPem)}
---
${cosignKeySecretYaml('carry-over', 'strict', carryOverPublicPem)}
`;
}

// batch has no ImagePolicy: a ClusterImagePolicy governs it, trusting the carry-over key
// (its Secret in batch) and nothing else.
function clusterKeyOnlyPolicy(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign-only}
spec:
  repositories:
    - name: "${registry.host}/*"
      policy:
        sigstore: {authorities: [{key: {secretName: carry-over}}]}
---
${cosignKeySecretYaml('carry-over', 'batch', carryOverPublicPem)}
`;
}

// prod after the move: only cosign signatures by the carry-over key admit.
function prodAfterMove(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: prod-images, namespace: prod}
spec:
  repositories:
    - name: "${registry.host}/*"
      policy:
        sigstore: {authorities: [{key: {secretName: carry-over}}]}
---
${cosignKeySecretYaml('carry-over', 'prod', carryOverPublicPem)}
`;
}

const EXAMPLES = fileURLToPath(new URL('../../examples/migration', import.meta.url));

// An example policy set with this registry, this trust server and these keys in place of
// the example's.
async function examplePolicies(state: string): Promise<string> {
  let text = await readFile(join(EXAMPLES, state, 'policies.yaml'), 'utf8');
  text = text.replaceAll('registry.example.com', registry.host).replaceAll('https://notary.example.com', env.server.url);
  const keys: Record<string, string> = { 'team-a-ci-signer': ci.publicKeyPem, 'team-a-carry-over': carryOverPublicPem, 'team-a-release': releasePublicPem };
  for (const [secret, pem] of Object.entries(keys)) {
    const at = text.indexOf(`name: ${secret}\n  namespace`);
    if (at < 0) continue;
    const start = text.indexOf('-----BEGIN PUBLIC KEY-----', at);
    const endMarker = '-----END PUBLIC KEY-----';
    const end = text.indexOf(endMarker, start) + endMarker.length;
    const lineStart = text.lastIndexOf('\n', start) + 1;
    const padding = ' '.repeat(start - lineStart);
    const replacement = pem.trim().split('\n').join(`\n${padding}`);
    text = text.slice(0, start) + replacement + text.slice(end);
  }
  const dir = await env.makeDir('policies');
  await writeFile(join(dir, 'policies.yaml'), text);
  return dir;
}

async function policiesDir(...documents: readonly string[]): Promise<string> {
  const dir = await env.makeDir('policies');
  await writeFile(join(dir, 'policies.yaml'), documents.join('---\n'));
  return dir;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  const keysDir = await env.makeDir('keys');
  const carryOver = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  carryOverPublicPem = carryOver.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  carryOverKeyFile = join(keysDir, 'carry-over.key');
  await writeFile(carryOverKeyFile, carryOver.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  releasePublicPem = (await createCosignKey(keysDir, 'release')).publicKeyPem;
  ci = await createDelegateKey(keysDir, 'ci', 'public-key');
  await env.scenarios.cli.importKey(ci.privateKeyFile, 'targets/ci');

  // The dev team signs its own image with its own repository keys: all dev's policy asks.
  await pushSigned('dev/tool', { owner: true, ci: false });
  // CI's release, signed by the ci delegation: what prod admits.
  await pushSigned('app/api', { owner: false, ci: true });
  await pushSigned('app/worker', { owner: false, ci: true });
  await pushSigned('app/batch', { owner: false, ci: true });
  await pushSigned('team-a/api', { owner: false, ci: true });
  // Signed in Notary for every policy, but never cosign-signed as strict also asks.
  await pushSigned('strict/job', { owner: true, ci: true });

  duringMove = await policiesDir(prodPolicy(true), devPolicy(), strictPolicy());
  beforeKey = await policiesDir(prodPolicy(false), devPolicy());
  clusterWithoutNotary = await policiesDir(prodPolicy(true), clusterKeyOnlyPolicy());
  afterMove = await policiesDir(prodAfterMove());
  exampleDuringMove = await examplePolicies('2-carry-over');
  exampleAfterMove = await examplePolicies('3-cosign');
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  await env?.stop();
});

async function run(args: readonly string[]): Promise<TrustgateRun> {
  return runTrustgate(args, { stateDir: await env.makeDir('state'), caFile: env.caFile });
}

interface SignLine {
  readonly image: string;
  readonly namespace: string;
  readonly outcome: string;
  readonly digest?: string;
  readonly codes?: readonly string[];
  readonly reasons?: readonly string[];
}

// `migrate sign` over a workload dump (the README's step 3), one Deployment per image.
async function signWorkloads(policies: string, workloads: readonly { readonly namespace: string; readonly image: string }[], ...extra: readonly string[]): Promise<{ run: TrustgateRun; lines: SignLine[] }> {
  const dump = join(await env.makeDir('dump'), 'workloads.json');
  const items = workloads.map((workload, index) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `app-${index}`, namespace: workload.namespace },
    spec: { template: { spec: { containers: [{ name: 'app', image: workload.image }] } } },
  }));
  await writeFile(dump, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const result = await run(['migrate', 'sign', '--policies', policies, '--cosign-key', carryOverKeyFile, '--from-file', dump, '--format', 'classic', '--json', ...extra]);
  if (result.stdout.trim() === '') throw new Error(`no output: ${result.stderr}`);
  return { run: result, lines: result.stdout.trim().split('\n').map((line) => JSON.parse(line) as SignLine) };
}

// The status of the classic signature manifest of `repository`'s image.
async function signatureStatus(repository: string): Promise<number> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${digestOf(repository).replace(':', '-')}.sig`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('trustgate migrate sign, for an image another namespace trusts less than a policy trusting the key', () => {
  it('refuses to carry the dev image over, naming the prod policy whose Notary trust it lacks', async () => {
    const { run: result, lines } = await signWorkloads(duringMove, [{ namespace: 'dev', image: image('dev/tool') }]);

    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatchObject({ namespace: 'dev', outcome: 'refused', codes: ['CARRY_OVER_WIDENS_TRUST'] });
    expect(lines[0]?.reasons?.[0]).toContain('prod/prod-images');
    expect(result.stderr).toContain('1 refused');
    expect(result.exitCode).toBe(1);
    expect(await signatureStatus('dev/tool')).toBe(404);
  });

  it('leaves prod denying the dev image', async () => {
    const result = await run(['verify', image('dev/tool'), '--policies', duringMove, '--namespace', 'prod', '--json']);

    expect(result.json, result.stderr).toMatchObject({ allowed: false });
    expect(result.exitCode).toBe(1);
  });

  it('refuses the dry run too', async () => {
    const { lines } = await signWorkloads(duringMove, [{ namespace: 'dev', image: image('dev/tool') }], '--dry-run');

    expect(lines[0]).toMatchObject({ outcome: 'refused', codes: ['CARRY_OVER_WIDENS_TRUST'] });
  });
});

describe('trustgate migrate sign, for an image its own policy denies today', () => {
  it('does not sign it when a cosign check of its policy fails, even though its Notary checks pass', async () => {
    const { run: result, lines } = await signWorkloads(duringMove, [{ namespace: 'strict', image: image('strict/job') }]);

    expect(lines[0], result.stderr).toMatchObject({ namespace: 'strict', outcome: 'refused', codes: ['COSIGN_SIGNATURE_MISSING'] });
    expect(await signatureStatus('strict/job')).toBe(404);
  });
});

describe('trustgate migrate sign before any policy trusts the carry-over key', () => {
  it('refuses to sign (CARRY_OVER_KEY_UNTRUSTED): the key is added to the policies first', async () => {
    const { lines } = await signWorkloads(beforeKey, [{ namespace: 'prod', image: image('app/batch') }]);

    expect(lines[0]).toMatchObject({ outcome: 'refused', codes: ['CARRY_OVER_KEY_UNTRUSTED'] });
    expect(await signatureStatus('app/batch')).toBe(404);
  });
});

describe('trustgate migrate sign, where a ClusterImagePolicy trusts the key without Notary trust', () => {
  it('refuses to sign, naming the policy and the namespace where it trusts the key', async () => {
    const { lines } = await signWorkloads(clusterWithoutNotary, [{ namespace: 'prod', image: image('app/worker') }]);

    expect(lines[0]).toMatchObject({ outcome: 'refused', codes: ['CARRY_OVER_WIDENS_TRUST'] });
    expect(lines[0]?.reasons?.[0]).toMatch(/ClusterImagePolicy cosign-only .*namespace "batch".*no Notary trust/);
    expect(await signatureStatus('app/worker')).toBe(404);
  });
});

describe('trustgate migrate sign, the README workflow under the example policies', () => {
  it('signs the team-a image Notary signer ci signed, with the digest Notary verified', async () => {
    const { run: result, lines } = await signWorkloads(exampleDuringMove, [{ namespace: 'team-a', image: image('team-a/api') }]);

    expect(lines[0], result.stderr).toMatchObject({ namespace: 'team-a', outcome: 'signed', digest: digestOf('team-a/api') });
    expect(result.exitCode).toBe(0);
  });

  it('leaves the report with nothing that would be denied without Notary v1', async () => {
    const result = await run(['migrate', 'report', '--policies', exampleDuringMove, '--namespace', 'team-a', image('team-a/api'), '--json']);

    expect(JSON.parse(result.stdout), result.stderr).toMatchObject({ notary: { state: 'signed' }, cosign: { state: 'signed' }, breaksWithoutNotary: false });
    expect(result.exitCode).toBe(0);
  });

  it('has the image admitted by its carried-over signature once Notary is gone from the policies', async () => {
    const result = await run(['verify', image('team-a/api'), '--policies', exampleAfterMove, '--namespace', 'team-a', '--json']);

    expect(result.json, result.stderr).toMatchObject({ allowed: true, digest: digestOf('team-a/api'), verifiedBy: ['cosign'] });
  });
});

describe('trustgate migrate sign, an image prod admits on its own Notary trust', () => {
  it('signs the prod image Notary signer ci signed, with the digest Notary verified', async () => {
    const { run: result, lines } = await signWorkloads(duringMove, [{ namespace: 'prod', image: image('app/api') }]);

    expect(lines[0], result.stderr).toMatchObject({ namespace: 'prod', outcome: 'signed', digest: digestOf('app/api') });
    expect(result.exitCode).toBe(0);
    expect(await signatureStatus('app/api')).toBe(200);
  });

  it('has prod admit the carried-over image once its policy trusts only the carry-over key', async () => {
    const result = await run(['verify', image('app/api'), '--policies', afterMove, '--namespace', 'prod', '--json']);

    expect(result.json, result.stderr).toMatchObject({ allowed: true, digest: digestOf('app/api'), verifiedBy: ['cosign'] });
  });
});
