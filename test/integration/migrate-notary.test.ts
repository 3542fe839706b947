// Moving off Notary v1, end to end against the real notary-server and docker-registry: a
// repository with Notary-signed, unsigned, cosign-signed and doubly signed tags under a
// policy that accepts either kind (`verification.mode: any`); `trustgate migrate report`
// classifies each, `trustgate migrate sign` carries exactly the Notary-verified digests over
// to cosign signatures made with a key the team owns, and once the Notary server is gone the
// carried-over images are still admitted while the unsigned one stays denied.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
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
// The registry as seen through a network attacker who rewrites its answers.
let proxy: TamperProxy;
let proxyHost: string;
// Images of the attack tests: mig/hostile:v1 (reached through the proxy), and mig/moved:v1,
// whose tag was moved in the registry after Notary signed it.
const attacked = new Map<string, PushedImage>();

// Tag -> the image pushed at it, in repository mig/app.
const images = new Map<string, PushedImage>();
const TAGS = ['notary', 'unsigned', 'cosign', 'both'] as const;
// Tag -> the image pushed at it, in repository mig/bundled (carried over as v3 bundles).
const bundled = new Map<string, PushedImage>();
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

function image(tag: string, repository = 'mig/app'): string {
  return `${registry.host}/${repository}:${tag}`;
}

function digestOf(tag: string): string {
  const pushed = images.get(tag);
  if (pushed === undefined) throw new Error(`${tag} was not pushed`);
  return pushed.digest;
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
    - name: "${proxyHost}/mig/*"
      policy:
        trust: {enabled: true, trustServer: "${trustServer}"}
        sigstore: {authorities: [{key: {secretName: carry-over-key}}]}
        verification: {mode: any}
---
${cosignKeySecretYaml('release-key', 'default', releaseKey.publicKeyPem)}
---
${cosignKeySecretYaml('carry-over-key', 'default', carryOverPublicPem)}
`;
}

async function notarySign(repository: string, tags: readonly string[], pushed: ReadonlyMap<string, PushedImage>, host = registry.host): Promise<void> {
  const gun = `${host}/${repository}`;
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
  for (const tag of ['notary', 'unsigned']) bundled.set(tag, await pushImage(registry, 'mig/bundled', tag));
  await notarySign('mig/bundled', ['notary'], bundled);
  proxy = await startTamperProxy({ upstream: { url: registry.url } });
  proxyHost = new URL(proxy.url).host;
  attacked.set('hostile', await pushImage(registry, 'mig/hostile', 'v1'));
  await notarySign('mig/hostile', ['v1'], new Map([['v1', attacked.get('hostile') as PushedImage]]), proxyHost);
  attacked.set('signed-as-v1', await pushImage(registry, 'mig/moved', 'v1'));
  await notarySign('mig/moved', ['v1'], new Map([['v1', attacked.get('signed-as-v1') as PushedImage]]));
  attacked.set('moved-to', await pushImage(registry, 'mig/moved', 'v1'));
  attacked.set('twice', await pushImage(registry, 'mig/twice', 'v1'));
  await notarySign('mig/twice', ['v1'], new Map([['v1', attacked.get('twice') as PushedImage]]));
  policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'policies.yaml'), policies(env.server.url));
  stateDir = await env.makeDir('state');
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
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

    expect(JSON.parse(result.stdout)).toMatchObject({ notary: { state: 'signed', digest: digestOf('notary') }, cosign: { state: 'not-signed', codes: ['COSIGN_SIGNATURE_MISSING'] } });
    expect(env.server.log().length).toBe(before);
  });

  it('shows cosign as unknown offline for an image whose signatures were never read', async () => {
    const result = await run(['migrate', 'report', '--policies', policiesDir, image('notary'), '--json', '--offline'], undefined, await env.makeDir('state'));
    expect(JSON.parse(result.stdout)).toMatchObject({ cosign: { state: 'unknown', codes: ['REGISTRY_UNAVAILABLE'] } });
  });
});

// --- registry reads for the checks -----------------------------------------------------------

async function registryGet(path: string, accept: string): Promise<{ status: number; body: Buffer }> {
  const response = await fetch(`${registry.url}/v2/${path}`, { headers: { accept } });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

async function signatureManifest(digest: string): Promise<{ layers: { digest: string; annotations: Record<string, string> }[] } | undefined> {
  const { status, body } = await registryGet(`mig/app/manifests/${digest.replace(':', '-')}.sig`, OCI_MANIFEST);
  return status === 404 ? undefined : (JSON.parse(body.toString()) as { layers: { digest: string; annotations: Record<string, string> }[] });
}

function sign(tags: readonly string[], repository: string, ...extra: readonly string[]): Promise<TrustgateRun> {
  return run(['migrate', 'sign', '--policies', policiesDir, '--cosign-key', carryOverKeyFile, ...tags.map((tag) => image(tag, repository)), '--json', ...extra]);
}

function outcomes(result: TrustgateRun): Record<string, string> {
  if (result.stdout.trim() === '') throw new Error(`no output: ${result.stderr}`);
  const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { image: string; outcome: string });
  return Object.fromEntries(lines.map((line) => [line.image.slice(line.image.lastIndexOf(':') + 1), line.outcome]));
}

describe('trustgate migrate sign --format classic', () => {
  it('prints what it would sign in a dry run and writes nothing', async () => {
    const result = await sign(TAGS, 'mig/app', '--format', 'classic', '--dry-run');

    expect(outcomes(result), result.stderr).toEqual({ notary: 'would-sign', unsigned: 'refused', cosign: 'refused', both: 'would-sign' });
    expect(await signatureManifest(digestOf('notary'))).toBeUndefined();
    expect((await signatureManifest(digestOf('both')))?.layers).toHaveLength(1);
  });

  it('signs exactly the digests Notary verified, records their signers, and keeps earlier signatures', async () => {
    const result = await sign(TAGS, 'mig/app', '--format', 'classic');

    expect(outcomes(result), result.stderr).toEqual({ notary: 'signed', unsigned: 'refused', cosign: 'refused', both: 'signed' });
    expect(result.stderr).toContain('4 images: 2 signed, 0 would be signed, 0 already signed, 2 refused');
    expect(result.exitCode).toBe(1);
    expect(await signatureManifest(digestOf('unsigned'))).toBeUndefined();
    const both = await signatureManifest(digestOf('both'));
    expect(both?.layers).toHaveLength(2);
    const added = both?.layers[1];
    const { body } = await registryGet(`mig/app/blobs/${added?.digest ?? ''}`, '*/*');
    const payload = JSON.parse(body.toString()) as { critical: { image: Record<string, string> }; optional: Record<string, string> };
    expect(payload.critical.image['docker-manifest-digest']).toBe(digestOf('both'));
    expect(payload.optional['trustgate.dev/notary-signers']).toBe('targets');
    expect(Date.parse(payload.optional['trustgate.dev/notary-verified-at'] ?? '')).not.toBeNaN();
  });

  it('skips on a second run: the images already carry a valid signature by the key', async () => {
    const result = await sign(['notary', 'both'], 'mig/app', '--format', 'classic');

    expect(outcomes(result)).toEqual({ notary: 'skipped', both: 'skipped' });
    expect((await signatureManifest(digestOf('both')))?.layers).toHaveLength(2);
    expect(result.exitCode).toBe(0);
  });

  it('leaves the report with nothing that would be denied without Notary v1', async () => {
    const { run: result, lines } = await report('--json');

    expect(lines.get(image('notary'))).toMatchObject({ notary: { state: 'signed' }, cosign: { state: 'signed', signers: ['cosign:key/carry-over-key'] }, breaksWithoutNotary: false });
    expect(result.stderr).toContain('0 would be denied without Notary v1');
    expect(result.exitCode).toBe(0);
  });
});

describe('trustgate migrate sign (v3 bundle, the default)', () => {
  const subject = (tag: string): string => bundled.get(tag)?.digest ?? '';
  const referrersTag = (tag: string): string => `mig/bundled/manifests/${subject(tag).replace(':', '-')}`;

  it('pushes a bundle artifact with the image as subject and lists it in the referrers tag index, keeping existing entries', async () => {
    // Another tool's referrer, listed before the carry-over runs.
    const foreign = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: subject('unsigned'), size: bundled.get('unsigned')?.size ?? 0, artifactType: 'application/spdx+json' };
    const seeded = await fetch(`${registry.url}/v2/${referrersTag('notary')}`, { method: 'PUT', headers: { 'content-type': OCI_INDEX }, body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [foreign] }) });
    expect(seeded.status).toBe(201);

    const result = await sign(['notary', 'unsigned'], 'mig/bundled');

    expect(outcomes(result), result.stderr).toEqual({ notary: 'signed', unsigned: 'refused' });
    const index = JSON.parse((await registryGet(referrersTag('notary'), OCI_INDEX)).body.toString()) as { manifests: { digest: string; artifactType?: string }[] };
    expect(index.manifests.map((entry) => entry.artifactType)).toEqual(['application/spdx+json', BUNDLE_TYPE]);
    const artifact = JSON.parse((await registryGet(`mig/bundled/manifests/${index.manifests[1]?.digest ?? ''}`, OCI_MANIFEST)).body.toString()) as Record<string, unknown>;
    expect(artifact).toMatchObject({
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 },
      layers: [{ mediaType: BUNDLE_TYPE }],
      subject: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: subject('notary'), size: bundled.get('notary')?.size },
    });
    expect((await registryGet(referrersTag('unsigned'), OCI_INDEX)).status).toBe(404);
  });

  it('makes a bundle that sigstore-js verifies with the carry-over key, over a statement naming the Notary-signed digest', async () => {
    const { Verifier, toSignedEntity } = await import('@sigstore/verify');
    const { bundleFromJSON } = await import('@sigstore/bundle');
    const index = JSON.parse((await registryGet(referrersTag('notary'), OCI_INDEX)).body.toString()) as { manifests: { digest: string }[] };
    const artifact = JSON.parse((await registryGet(`mig/bundled/manifests/${index.manifests[1]?.digest ?? ''}`, OCI_MANIFEST)).body.toString()) as { layers: { digest: string }[] };
    const bundleJson = JSON.parse((await registryGet(`mig/bundled/blobs/${artifact.layers[0]?.digest ?? ''}`, '*/*')).body.toString()) as unknown;
    const publicKey = createPublicKey(carryOverPublicPem);
    const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    const trustMaterial = {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: (hint: string) => {
        if (hint !== keyId) throw new Error(`unknown key hint ${hint}`);
        return { publicKey, validFor: () => true };
      },
    };
    const bundle = bundleFromJSON(bundleJson);

    const signer = new Verifier(trustMaterial, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));

    expect(signer.key.export({ type: 'spki', format: 'pem' })).toBe(carryOverPublicPem);
    const envelope = (bundleJson as { dsseEnvelope: { payload: string; payloadType: string } }).dsseEnvelope;
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { subject: { digest: { sha256: string } }[]; predicateType: string; predicate: { annotations: Record<string, string> } };
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(statement.subject[0]?.digest.sha256).toBe(subject('notary').slice('sha256:'.length));
    expect(statement.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
    expect(statement.predicate.annotations['trustgate.dev/notary-signers']).toBe('targets');
  });

  it('refuses to verify a bundle under another key', async () => {
    const { Verifier, toSignedEntity } = await import('@sigstore/verify');
    const { bundleFromJSON } = await import('@sigstore/bundle');
    const index = JSON.parse((await registryGet(referrersTag('notary'), OCI_INDEX)).body.toString()) as { manifests: { digest: string }[] };
    const artifact = JSON.parse((await registryGet(`mig/bundled/manifests/${index.manifests[1]?.digest ?? ''}`, OCI_MANIFEST)).body.toString()) as { layers: { digest: string }[] };
    const bundle = bundleFromJSON(JSON.parse((await registryGet(`mig/bundled/blobs/${artifact.layers[0]?.digest ?? ''}`, '*/*')).body.toString()));
    const other = createPublicKey(releaseKey.publicKeyPem);
    const trustMaterial = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: other, validFor: () => true }) };

    expect(() => new Verifier(trustMaterial, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle))).toThrow(/signature/i);
  });

  it('skips on a second run and leaves the referrers index as it was', async () => {
    const before = (await registryGet(referrersTag('notary'), OCI_INDEX)).body.toString();

    const result = await sign(['notary'], 'mig/bundled');

    expect(outcomes(result)).toEqual({ notary: 'skipped' });
    expect((await registryGet(referrersTag('notary'), OCI_INDEX)).body.toString()).toBe(before);
  });
});

describe('trustgate migrate sign against a hostile registry', () => {
  const hostile = (): string => attacked.get('hostile')?.digest ?? '';
  const signHostile = (...extra: readonly string[]): Promise<TrustgateRun> =>
    run(['migrate', 'sign', '--policies', policiesDir, '--cosign-key', carryOverKeyFile, `${proxyHost}/mig/hostile:v1`, '--json', ...extra]);
  const sigManifestStatus = async (digest: string, repository: string): Promise<number> => (await registryGet(`${repository}/manifests/${digest.replace(':', '-')}.sig`, OCI_MANIFEST)).status;

  it('signs the digest Notary verified, not the one the registry tag was moved to', async () => {
    const result = await run(['migrate', 'sign', '--policies', policiesDir, '--cosign-key', carryOverKeyFile, `${registry.host}/mig/moved:v1`, '--format', 'classic', '--json']);

    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'signed', digest: attacked.get('signed-as-v1')?.digest });
    expect(await sigManifestStatus(attacked.get('signed-as-v1')?.digest ?? '', 'mig/moved')).toBe(200);
    expect(await sigManifestStatus(attacked.get('moved-to')?.digest ?? '', 'mig/moved')).toBe(404);
  });

  it('signs an image named twice in one run (by tag and by digest) once', async () => {
    const digest = attacked.get('twice')?.digest ?? '';

    const result = await run(['migrate', 'sign', '--policies', policiesDir, '--cosign-key', carryOverKeyFile, `${registry.host}/mig/twice:v1`, `${registry.host}/mig/twice@${digest}`, '--format', 'classic', '--json']);

    const results = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { outcome: string });
    expect(results.map((entry) => entry.outcome).sort()).toEqual(['signed', 'skipped']);
    const manifest = JSON.parse((await registryGet(`mig/twice/manifests/${digest.replace(':', '-')}.sig`, OCI_MANIFEST)).body.toString()) as { layers: unknown[] };
    expect(manifest.layers).toHaveLength(1);
  });

  it('writes nothing when the registry serves another manifest for the verified digest (REGISTRY_DIGEST_MISMATCH)', async () => {
    proxy.reset();
    proxy.onResponse((response) => (response.path.includes(`/manifests/${hostile()}`) ? { body: Buffer.concat([response.body, Buffer.from(' ')]) } : undefined));

    const result = await signHostile('--format', 'classic');

    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'failed', digest: hostile(), codes: ['REGISTRY_DIGEST_MISMATCH'] });
    expect(proxy.requests.filter((path) => path.includes('/blobs/uploads/'))).toEqual([]);
    expect(await sigManifestStatus(hostile(), 'mig/hostile')).toBe(404);
  });

  it('refuses an upload location on another origin, so nothing reaches it (REGISTRY_RESPONSE_INVALID)', async () => {
    proxy.reset();
    // The registry behind the proxy names its own origin in the upload Location.

    const result = await signHostile('--format', 'classic');

    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'failed', codes: ['REGISTRY_RESPONSE_INVALID'] });
    expect(await sigManifestStatus(hostile(), 'mig/hostile')).toBe(404);
  });

  it('stops at a referrers index listing more artifacts than are looked at (REGISTRY_RESPONSE_TOO_LARGE)', async () => {
    proxy.reset();
    const entry = { mediaType: OCI_MANIFEST, digest: hostile(), size: 1, artifactType: BUNDLE_TYPE };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 33 }, () => entry) }));
    proxy.onResponse((response) => (response.path.endsWith(`/manifests/${hostile().replace(':', '-')}`) ? { status: 200, body: index } : undefined));

    const result = await signHostile();

    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'failed', codes: ['REGISTRY_RESPONSE_TOO_LARGE'] });
    expect(proxy.requests.filter((path) => path.includes('/blobs/uploads/'))).toEqual([]);
  });
});

describe('once the Notary server is gone', () => {
  beforeAll(async () => {
    await env.server.stop();
  });

  async function verifyNow(tag: string): Promise<TrustgateRun> {
    return run(['verify', image(tag), '--policies', policiesDir, '--json'], undefined, await env.makeDir('state'));
  }

  it('still admits the carried-over images through their cosign signature (mode: any)', async () => {
    for (const tag of ['notary', 'both']) {
      const result = await verifyNow(tag);

      expect(result.json, result.stderr).toMatchObject({ allowed: true, digest: digestOf(tag), verifiedBy: ['cosign'] });
      expect(result.json?.signers).toContain('cosign:key/carry-over-key');
    }
  });

  it("admits the image carried over as a v3 bundle through trustgate's own Sigstore verifier", async () => {
    const result = await run(['verify', image('notary', 'mig/bundled'), '--policies', policiesDir, '--json'], undefined, await env.makeDir('state'));

    expect(result.json, result.stderr).toMatchObject({ allowed: true, digest: bundled.get('notary')?.digest, verifiedBy: ['cosign'] });
    expect(result.json?.signers).toContain('cosign:key/carry-over-key');
  });

  it('keeps denying the image of the bundle repository that Notary never signed', async () => {
    const result = await run(['verify', image('unsigned', 'mig/bundled'), '--policies', policiesDir, '--json'], undefined, await env.makeDir('state'));

    expect(result.json).toMatchObject({ allowed: false });
    expect(result.exitCode).toBe(1);
  });

  it('keeps denying the unsigned image', async () => {
    const result = await verifyNow('unsigned');

    expect(result.json).toMatchObject({ allowed: false });
    expect(result.json?.codes).toEqual(expect.arrayContaining(['COSIGN_SIGNATURE_MISSING']));
    expect(result.exitCode).toBe(1);
  });
});
