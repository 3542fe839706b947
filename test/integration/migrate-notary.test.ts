// Moving off Notary v1, end to end against the real notary-server and docker-registry: a
// repository with Notary-signed, unsigned, cosign-signed and doubly signed tags under a
// policy that accepts either kind (`verification.mode: any`); `trustgate migrate report`
// classifies each, `trustgate migrate sign` carries exactly the Notary-verified digests over
// to cosign signatures made with a key the team owns, and once the Notary server is gone the
// carried-over images are still admitted while the unsigned one stays denied.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';

let env: TrustEnvironment;
let registry: DockerRegistry;
let releaseKey: CosignKeyPair;
// The carry-over key: its private half signs, its public half is a policy authority.
let carryOverPublicPem: string;
let carryOverKeyFile: string;
let policiesDir: string;
let stateDir: string;

// Tag -> the image pushed at it, in repository mig/app.
const images = new Map<string, PushedImage>();
const TAGS = ['notary', 'unsigned', 'cosign', 'both'] as const;

function image(tag: string, repository = 'mig/app'): string {
  return `${registry.host}/${repository}:${tag}`;
}

function digestOf(tag: string): string {
  const pushed = images.get(tag);
  if (pushed === undefined) throw new Error(`${tag} was not pushed`);
  return pushed.digest;
}

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

function policies(trustServer: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: moving-off-notary}
spec:
  repositories:
    - name: "${registry.host}/mig/*"
      policy:
        trust: {enabled: true, trustServer: "${trustServer}"}
        sigstore: {authorities: [{key: {secretName: release-key}}, {key: {secretName: carry-over-key}}]}
        verification: {mode: any}
---
apiVersion: v1
kind: Secret
metadata: {name: release-key, namespace: default}
stringData:
  cosign.pub: |
${indent(releaseKey.publicKeyPem)}
---
apiVersion: v1
kind: Secret
metadata: {name: carry-over-key, namespace: default}
stringData:
  cosign.pub: |
${indent(carryOverPublicPem)}
`;
}

async function notarySign(repository: string, tags: readonly string[], pushed: ReadonlyMap<string, PushedImage>): Promise<void> {
  const gun = `${registry.host}/${repository}`;
  await env.scenarios.cli.init(gun);
  for (const tag of tags) {
    const target = pushed.get(tag);
    if (target === undefined) throw new Error(`${tag} was not pushed`);
    await env.scenarios.cli.addHash(gun, tag, target.size, target.digest.slice('sha256:'.length));
  }
  await env.scenarios.cli.publish(gun);
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  const keysDir = await env.makeDir('keys');
  releaseKey = await createCosignKey(keysDir, 'release');
  const carryOver = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  carryOverPublicPem = carryOver.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  carryOverKeyFile = join(keysDir, 'carry-over.key');
  await writeFile(carryOverKeyFile, carryOver.privateKey.export({ type: 'pkcs8', format: 'pem' }));

  for (const tag of TAGS) images.set(tag, await pushImage(registry, 'mig/app', tag));
  await notarySign('mig/app', ['notary', 'both'], images);
  for (const tag of ['cosign', 'both']) {
    await pushCosignSignatures(registry, 'mig/app', digestOf(tag), [signPayload(releaseKey, cosignPayload(`${registry.host}/mig/app`, digestOf(tag)))]);
  }
  policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'policies.yaml'), policies(env.server.url));
  stateDir = await env.makeDir('state');
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  await env?.stop();
});

interface ReportLine {
  readonly image: string;
  readonly namespace: string;
  readonly policy: { readonly name: string } | null;
  readonly notary: { readonly state: string; readonly signers?: readonly string[]; readonly digest?: string; readonly codes?: readonly string[] };
  readonly cosign: { readonly state: string; readonly signers?: readonly string[]; readonly digest?: string };
  readonly signedWith: string;
  readonly allowedNow: boolean;
  readonly allowedWithoutNotary: boolean;
  readonly breaksWithoutNotary: boolean;
}

function run(args: readonly string[], extra?: Readonly<Record<string, string>>, state = stateDir): Promise<TrustgateRun> {
  return runTrustgate(args, { stateDir: state, caFile: env.caFile, ...(extra === undefined ? {} : { extra }) });
}

async function report(...extra: readonly string[]): Promise<{ run: TrustgateRun; lines: Map<string, ReportLine> }> {
  const result = await run(['migrate', 'report', '--policies', policiesDir, ...TAGS.map((tag) => image(tag)), ...extra]);
  const lines = new Map<string, ReportLine>();
  if (extra.includes('--json')) {
    for (const line of result.stdout.trim().split('\n')) {
      const parsed = JSON.parse(line) as ReportLine;
      lines.set(parsed.image, parsed);
    }
  }
  return { run: result, lines };
}

describe('trustgate migrate report', () => {
  it('classifies each tag by the signatures that verify and names the policy', async () => {
    const { run: result, lines } = await report('--json');

    expect(result.stderr).toContain('4 images: 1 signed with both, 1 with Notary only, 1 with cosign only, 1 with neither');
    expect(lines.get(image('notary'))).toMatchObject({
      namespace: 'default',
      policy: { name: 'moving-off-notary' },
      notary: { state: 'signed', signers: ['targets'], digest: digestOf('notary') },
      cosign: { state: 'not-signed' },
      signedWith: 'notary',
    });
    expect(lines.get(image('unsigned'))).toMatchObject({ notary: { state: 'not-signed', codes: ['TRUST_NO_SIGNED_TARGET'] }, cosign: { state: 'not-signed' }, signedWith: 'neither' });
    expect(lines.get(image('cosign'))).toMatchObject({ notary: { state: 'not-signed' }, cosign: { state: 'signed', signers: ['cosign:key/release-key'], digest: digestOf('cosign') }, signedWith: 'cosign' });
    expect(lines.get(image('both'))).toMatchObject({ notary: { state: 'signed' }, cosign: { state: 'signed' }, signedWith: 'both' });
  });

  it('names the images that Notary v1 alone admits as the ones that would be denied without it', async () => {
    const { run: result, lines } = await report('--json');

    const breaking = [...lines.values()].filter((line) => line.breaksWithoutNotary).map((line) => line.image);
    expect(breaking).toEqual([image('notary')]);
    expect(lines.get(image('unsigned'))).toMatchObject({ allowedNow: false, allowedWithoutNotary: false, breaksWithoutNotary: false });
    expect(lines.get(image('both'))).toMatchObject({ allowedNow: true, allowedWithoutNotary: true });
    expect(result.stderr).toContain('1 would be denied without Notary v1');
    expect(result.exitCode).toBe(1);
  });

  it('prints a table with one row per image and the summary line on a terminal', async () => {
    const { run: result } = await report();

    const rows = result.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^IMAGE\s+NAMESPACE\s+NOTARY\s+COSIGN\s+NOW\s+WITHOUT NOTARY\s+POLICY$/);
    expect(rows.find((row) => row.startsWith(`${image('notary')} `))).toMatch(/signed \(targets\).*allowed\s+DENIED \(breaks\)\s+ClusterImagePolicy moving-off-notary/);
    expect(rows.find((row) => row.startsWith(`${image('unsigned')} `))).toMatch(/not-signed \[TRUST_NO_SIGNED_TARGET\]\s+not-signed \[COSIGN_SIGNATURE_MISSING\]\s+denied\s+denied/);
    expect(rows.at(-1)).toBe('4 images: 1 signed with both, 1 with Notary only, 1 with cosign only, 1 with neither; 1 denied now; 1 would be denied without Notary v1');
  });

  it('reads every image of the workloads in a kubectl dump, in their namespaces', async () => {
    const dumpDir = await env.makeDir('dump');
    const dump = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: { template: { spec: { initContainers: [{ name: 'setup', image: image('cosign') }], containers: [{ name: 'web', image: image('notary') }] } } } },
        { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'default' }, spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: image('unsigned') }] } } } } } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: {} },
      ],
    };
    const file = join(dumpDir, 'workloads.json');
    await writeFile(file, JSON.stringify(dump));

    const result = await run(['migrate', 'report', '--policies', policiesDir, '--from-file', file, '--json']);

    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as ReportLine & { source: string });
    expect(lines.map((line) => [line.image, line.source, line.signedWith])).toEqual([
      [image('cosign'), 'deployment default/web init container "setup"', 'cosign'],
      [image('notary'), 'deployment default/web container "web"', 'notary'],
      [image('unsigned'), 'cronjob default/nightly container "job"', 'neither'],
    ]);
  });

  it('answers offline from the trust cache without asking the trust server or the registry', async () => {
    const warm = await env.makeDir('state');
    await run(['migrate', 'report', '--policies', policiesDir, image('notary'), '--json'], undefined, warm);
    const before = env.server.log().length;

    const result = await run(['migrate', 'report', '--policies', policiesDir, image('notary'), '--json', '--offline'], undefined, warm);

    expect(JSON.parse(result.stdout)).toMatchObject({ notary: { state: 'signed', digest: digestOf('notary') }, cosign: { state: 'unknown', codes: ['REGISTRY_UNAVAILABLE'] } });
    expect(env.server.log().length).toBe(before);
  });
});
