// Red Hat simple signing against the real docker-registry: images copied and signed by
// Debian's skopeo with throwaway GPG keys from Debian's gnupg, signatures in a lookaside
// store served over HTTP (behind basic auth) and in the registry signature extension that a
// small server in front of the registry adds. Verified through `trustgate verify --policies`
// and `trustgate serve`'s /admit.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleKeySecretYaml } from '../support/key-secrets.js';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { findClosedPort } from '../support/local-http-server.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import {
  createGpgKeys,
  isSkopeoInstalled,
  serveLookaside,
  skopeoCopy,
  startSignatureExtensionProxy,
  writeRegistriesDir,
  type GpgKeys,
  type HttpServer,
  type SignatureExtensionProxy,
} from './support/simple-signing.js';
import { eventuallyShowing } from './support/kube-suite.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const STORE_USER = 'sig-reader';
const STORE_PASSWORD = 'store-password-0f4e2a';

let scratch: string;
let registry: DockerRegistry;
let extension: SignatureExtensionProxy;
let lookaside: HttpServer;
let keys: GpgKeys;
let policiesDir: string;
let serve: ServeProcess;
// The real notary-server, for trust and simple signing required together.
let env: TrustEnvironment;
// Repository (on the registry or the extension proxy) -> manifest digest of its v1 tag.
const digests = new Map<string, string>();

function lookasidePath(repository: string, digest: string): string {
  return join(scratch, 'lookaside', `${repository}@${digest.replace(':', '=')}`);
}

// Moves the lookaside signature of one image to another image's place (a signature copied
// from where it was made to where an attacker wants it to count).
async function copySignature(from: { repository: string; digest: string }, to: { repository: string; digest: string }, change?: (bytes: Buffer) => Buffer): Promise<void> {
  const bytes = await readFile(join(lookasidePath(from.repository, from.digest), 'signature-1'));
  await mkdir(lookasidePath(to.repository, to.digest), { recursive: true });
  await writeFile(join(lookasidePath(to.repository, to.digest), 'signature-1'), change === undefined ? bytes : change(bytes));
}

// Signs `repository:v1` with Notary (the real notary client) for the image whose manifest
// has `digest` in `sizedFrom` (the repository holding that manifest).
async function notarySign(repository: string, digest: string, sizedFrom = repository): Promise<void> {
  const manifest = await fetch(`${registry.url}/v2/${sizedFrom}/manifests/${digest}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  const size = (await manifest.arrayBuffer()).byteLength;
  const gun = `${registry.host}/${repository}`;
  await env.scenarios.cli.init(gun);
  await env.scenarios.cli.addHash(gun, 'v1', size, digest.slice('sha256:'.length));
  await env.scenarios.cli.publish(gun);
}

function policies(releaseKey: string, storeClosedUrl: string): string {
  const host = registry.host;
  const signedBy = (identity = '') => `[{type: signedBy, keySecret: release-gpg${identity}}]`;
  const store = `storeURL: "${lookaside.url}", storeSecret: store-creds`;
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: simple-lab}
spec:
  repositories:
    - name: "${host}/simple/*"
      policy: {simple: {${store}, requirements: ${signedBy()}}}
    - name: "${host}/mirror/*"
      policy: {simple: {${store}, requirements: ${signedBy(`, signedIdentity: {type: remapIdentity, prefix: "${host}/mirror", signedPrefix: "${host}/upstream"}`)}}}
    - name: "${host}/reject/*"
      policy: {simple: {${store}, requirements: [{type: insecureAcceptAnything}, {type: reject}]}}
    - name: "${host}/anything/*"
      policy: {simple: {requirements: [{type: insecureAcceptAnything}]}}
    - name: "${host}/badcreds/*"
      policy: {simple: {storeURL: "${lookaside.url}", storeSecret: wrong-creds, requirements: ${signedBy()}}}
    - name: "${host}/nostore/*"
      policy: {simple: {storeURL: "${storeClosedUrl}", requirements: ${signedBy()}}}
    - name: "${host}/badkey/*"
      policy: {simple: {${store}, requirements: [{type: signedBy, keySecret: not-a-keyring}]}}
    - name: "${extension.host}/ext/*"
      policy: {simple: {requirements: ${signedBy()}}}
    - name: "${host}/both/*"
      policy: {trust: {enabled: true, trustServer: "${env.server.url}"}, simple: {${store}, requirements: ${signedBy()}}}
    - name: "${host}/either/*"
      policy: {trust: {enabled: true, trustServer: "${env.server.url}"}, simple: {${store}, requirements: ${signedBy()}}, verification: {mode: any}}
---
${simpleKeySecretYaml('release-gpg', 'default', releaseKey)}
---
apiVersion: v1
kind: Secret
metadata: {name: not-a-keyring, namespace: default}
stringData: {key: "this is not an OpenPGP key"}
---
apiVersion: v1
kind: Secret
metadata: {name: store-creds, namespace: default}
stringData: {username: "${STORE_USER}", password: "${STORE_PASSWORD}"}
---
apiVersion: v1
kind: Secret
metadata: {name: wrong-creds, namespace: default}
stringData: {username: "${STORE_USER}", password: "not-the-password"}
`;
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  if (!isSkopeoInstalled()) throw new Error('skopeo or gpg is missing: run scripts/install-test-servers.sh');
  scratch = await makeTempDir('simple-signing');
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  extension = await startSignatureExtensionProxy(registry.url);
  await mkdir(join(scratch, 'lookaside'), { recursive: true });
  lookaside = await serveLookaside(join(scratch, 'lookaside'), { username: STORE_USER, password: STORE_PASSWORD });
  keys = await createGpgKeys(join(scratch, 'gnupg'));
  const release = await keys.generate('release');
  const other = await keys.generate('other');
  const toLookaside = await writeRegistriesDir(join(scratch, 'registries.d'), registry.host, join(scratch, 'lookaside'));
  const toExtension = await writeRegistriesDir(join(scratch, 'registries-ext.d'), extension.host);

  await pushImage(registry, 'source/app', 'v1');
  await pushImage(registry, 'source/other', 'v1');
  const copy = async (to: string, signBy?: string, from = 'source/app', target = registry.host, registriesDir = toLookaside) => {
    const digest = await skopeoCopy(keys, { from: `${registry.host}/${from}:v1`, to: `${target}/${to}:v1`, registriesDir, ...(signBy === undefined ? {} : { signBy }) }, scratch);
    digests.set(`${target}/${to}`, digest);
    return digest;
  };
  await copy('simple/signed', release);
  await copy('simple/wrong-key', other);
  await copy('simple/unsigned');
  await copy('reject/signed', release);
  await copy('anything/unsigned');
  await copy('badcreds/signed', release);
  await copy('nostore/signed', release);
  await copy('badkey/signed', release);
  // The same image signed under its upstream name, then mirrored unsigned.
  const upstream = await copy('upstream/app', release);
  await copy('mirror/app');
  await copySignature({ repository: 'upstream/app', digest: upstream }, { repository: 'mirror/app', digest: upstream });
  // A genuine signature of the same image under another name, placed where simple/renamed's
  // signatures are looked up.
  const renamed = await copy('simple/renamed');
  const origin = await copy('simple/renamed-origin', release, 'simple/renamed');
  if (origin !== renamed) throw new Error(`skopeo changed the manifest: ${origin} != ${renamed}`);
  await copySignature({ repository: 'simple/renamed-origin', digest: origin }, { repository: 'simple/renamed', digest: renamed });
  // A genuine signature for simple/moved's first image, kept after the tag moved to another image.
  const first = await copy('simple/moved', release);
  const second = await copy('simple/moved', undefined, 'source/other');
  await copySignature({ repository: 'simple/moved', digest: first }, { repository: 'simple/moved', digest: second });
  // A genuine signature with one byte changed.
  const tampered = await copy('simple/tampered', release);
  await copySignature({ repository: 'simple/tampered', digest: tampered }, { repository: 'simple/tampered', digest: tampered }, (bytes) => {
    const changed = Buffer.from(bytes);
    const at = Math.floor(changed.length / 2);
    changed[at] = (changed[at] ?? 0) ^ 0xff;
    return changed;
  });
  // A hostile store: a decompression bomb before a genuine signature (skipped, the genuine one
  // admits), a signature past the size cap alone, and more signatures than are read.
  const bombed = await copy('simple/bombed', release);
  const genuine = await readFile(join(lookasidePath('simple/bombed', bombed), 'signature-1'));
  const bomb = Buffer.concat([Buffer.from([0xa3, 0x01]), deflateRawSync(Buffer.alloc(32 * 1024 * 1024))]);
  await writeFile(join(lookasidePath('simple/bombed', bombed), 'signature-1'), bomb);
  await writeFile(join(lookasidePath('simple/bombed', bombed), 'signature-2'), genuine);
  const huge = await copy('simple/huge');
  await mkdir(lookasidePath('simple/huge', huge), { recursive: true });
  await writeFile(join(lookasidePath('simple/huge', huge), 'signature-1'), Buffer.concat([genuine, Buffer.alloc(128 * 1024)]));
  const many = await copy('simple/many', release);
  const manySignature = await readFile(join(lookasidePath('simple/many', many), 'signature-1'));
  for (let index = 1; index <= 40; index += 1) {
    await writeFile(join(lookasidePath('simple/many', many), `signature-${index}`), index === 40 ? manySignature : Buffer.from('garbage'));
  }
  // Trust and simple signing together: both signed for the same digest; Notary signed for
  // another image than the tag and the simple signature name; only simple-signed.
  const both = await copy('both/agree', release);
  await notarySign('both/agree', both);
  const disagree = await copy('both/disagree', release);
  const otherImage = digests.get(`${registry.host}/simple/moved`) ?? '';
  await notarySign('both/disagree', otherImage, 'simple/moved');
  if (otherImage === disagree) throw new Error('both/disagree: expected two different images');
  await copy('both/simple-only', release);
  await copy('either/simple-only', release);
  // Signatures in the registry's signature extension, as skopeo PUTs them.
  await copy('ext/signed', release, 'source/app', extension.host, toExtension);
  await copy('ext/wrong-key', other, 'source/app', extension.host, toExtension);
  await copy('ext/unsigned', undefined, 'source/app', extension.host, toExtension);

  policiesDir = join(scratch, 'policies');
  await mkdir(policiesDir);
  await writeFile(join(policiesDir, 'simple.yaml'), policies(await keys.exportPublic(release), `http://127.0.0.1:${await findClosedPort()}`));
  serve = await startTrustgateServe({ policiesDir, stateDir: join(scratch, 'serve-state'), caFile: env.caFile });
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await lookaside?.close();
  await extension?.close();
  await registry?.stop();
  await env?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

async function verify(image: string): Promise<TrustgateRun> {
  const run = await runTrustgate(['verify', `${image}:v1`, '--policies', policiesDir, '--json'], { stateDir: await env.makeDir('state'), caFile: env.caFile });
  expect(run.stdout + run.stderr).not.toContain(STORE_PASSWORD);
  return run;
}

interface AdmitAnswer {
  response: { allowed: boolean; status?: { message: string }; patch?: string };
}

async function admit(image: string): Promise<AdmitAnswer> {
  const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${image}:v1` }] }));
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(reviewFor('Pod', object)) });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.text).not.toContain(STORE_PASSWORD);
  return JSON.parse(answer.text) as AdmitAnswer;
}

const on = (repository: string): string => `${registry.host}/${repository}`;

describe('trustgate verify --policies with simple signing in a lookaside store', () => {
  it('allows an image skopeo signed with the policy key, with its manifest digest and signer', async () => {
    const run = await verify(on('simple/signed'));
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: digests.get(on('simple/signed')), verifiedBy: ['simple'], signers: [expect.stringMatching(/^simple:[0-9A-F]{40}$/)] });
    expect(run.exitCode).toBe(0);
  });

  it('denies an image signed with another key with SIMPLE_SIGNATURE_INVALID', async () => {
    expect((await verify(on('simple/wrong-key'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
  });

  it('denies a signature changed after signing with SIMPLE_SIGNATURE_INVALID', async () => {
    expect((await verify(on('simple/tampered'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
  });

  it('denies an unsigned image with SIMPLE_SIGNATURE_MISSING', async () => {
    expect((await verify(on('simple/unsigned'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_MISSING'] });
  });

  it('denies a genuine signature for another name of the same image with SIMPLE_IDENTITY_MISMATCH', async () => {
    expect((await verify(on('simple/renamed'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_IDENTITY_MISMATCH'] });
  });

  it('denies a genuine signature of the image the tag named before with SIMPLE_DIGEST_MISMATCH', async () => {
    expect((await verify(on('simple/moved'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_DIGEST_MISMATCH'] });
  });

  it('denies under a reject requirement with SIMPLE_REJECTED, although the image is signed', async () => {
    expect((await verify(on('reject/signed'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_REJECTED'] });
  });

  it('allows a mirrored image whose signature names the upstream, under remapIdentity', async () => {
    expect((await verify(on('mirror/app'))).json).toMatchObject({ allowed: true, digest: digests.get(on('mirror/app')) });
  });

  it('allows under insecureAcceptAnything alone, pinning the digest the registry serves', async () => {
    expect((await verify(on('anything/unsigned'))).json).toMatchObject({ allowed: true, digest: digests.get(on('anything/unsigned')), signers: [] });
  });

  it('skips a decompression bomb with its reason and admits on the genuine signature after it', async () => {
    const run = await verify(on('simple/bombed'));
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: digests.get(on('simple/bombed')) });
  });

  it('denies a signature larger than the cap with SIMPLE_SIGNATURE_INVALID', async () => {
    const run = await verify(on('simple/huge'));
    expect(run.json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
    expect(run.json?.reasons.join(' ')).toContain('larger than');
  });

  it('reads a bounded number of signatures from the store: a genuine 40th is never reached', async () => {
    const run = await verify(on('simple/many'));
    expect(run.json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
    expect(run.json?.reasons.join(' ')).toContain('no signature of 16');
  });

  it('denies with SIMPLE_STORE_UNAVAILABLE when the store refuses the credentials, without showing them', async () => {
    const run = await verify(on('badcreds/signed'));
    expect(run.json).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    expect(run.stdout).not.toContain('not-the-password');
  });

  it('denies with SIMPLE_STORE_UNAVAILABLE when the store cannot be reached', async () => {
    expect((await verify(on('nostore/signed'))).json).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
  });

  it('denies with POLICY_INVALID naming the field when the key Secret is not a keyring', async () => {
    const run = await verify(on('badkey/signed'));
    expect(run.json).toMatchObject({ allowed: false, codes: ['POLICY_INVALID'] });
    expect(run.json?.reasons.join(' ')).toContain('simple.requirements[0].keySecret');
  });
});

describe('trustgate verify --policies with simple signing in the registry signature extension', () => {
  it('allows an image whose signature skopeo stored in the extension', async () => {
    expect(extension.stored.size).toBeGreaterThan(0);
    const run = await verify(`${extension.host}/ext/signed`);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: digests.get(`${extension.host}/ext/signed`), verifiedBy: ['simple'] });
  });

  it('denies a signature by another key with SIMPLE_SIGNATURE_INVALID', async () => {
    expect((await verify(`${extension.host}/ext/wrong-key`)).json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
  });

  it('denies an image without signatures with SIMPLE_SIGNATURE_MISSING', async () => {
    expect((await verify(`${extension.host}/ext/unsigned`)).json).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_MISSING'] });
  });
});

describe('trustgate verify --policies with trust and simple signing together', () => {
  it('allows an image both Notary and simple signing vouch for, naming both', async () => {
    const run = await verify(on('both/agree'));
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: digests.get(on('both/agree')), verifiedBy: ['notary', 'simple'] });
  });

  it('denies with TRUST_DIGEST_MISMATCH when Notary signed another image than the simple signature', async () => {
    expect((await verify(on('both/disagree'))).json).toMatchObject({ allowed: false, codes: ['TRUST_DIGEST_MISMATCH'] });
  });

  it('denies when only simple signing holds', async () => {
    const run = await verify(on('both/simple-only'));
    expect(run.json).toMatchObject({ allowed: false });
    expect(run.json?.codes).toHaveLength(1);
    expect(run.json?.codes[0]).toMatch(/^TRUST_/);
  });

  it('in mode any, allows on simple signing alone and names it', async () => {
    expect((await verify(on('either/simple-only'))).json).toMatchObject({ allowed: true, digest: digests.get(on('either/simple-only')), verifiedBy: ['simple'] });
  });
});

describe("trustgate serve's /admit with simple signing", () => {
  it('admits a signed image and pins it to the signed digest', async () => {
    const answer = await admit(on('simple/signed'));
    expect(answer.response.allowed, answer.response.status?.message).toBe(true);
    const patch = JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as { value: string }[];
    expect(patch[0]?.value).toBe(`${on('simple/signed')}@${digests.get(on('simple/signed'))}`);
  });

  it("keeps the store credentials out of serve's log", async () => {
    await admit(on('badcreds/signed'));
    await admit(on('simple/signed'));
    // Log lines are written in batches: wait until the refused store's line is out.
    await eventuallyShowing(() => serve.output())('serve logs the refused store', () => Promise.resolve(serve.output().includes('SIMPLE_STORE_UNAVAILABLE')));
    expect(serve.output()).not.toContain(STORE_PASSWORD);
    expect(serve.output()).not.toContain('not-the-password');
  });

  it('admits a signed image from the signature extension', async () => {
    expect((await admit(`${extension.host}/ext/signed`)).response.allowed).toBe(true);
  });

  it.each([
    ['simple/wrong-key', 'SIMPLE_SIGNATURE_INVALID'],
    ['simple/renamed', 'SIMPLE_IDENTITY_MISMATCH'],
    ['simple/moved', 'SIMPLE_DIGEST_MISMATCH'],
    ['reject/signed', 'SIMPLE_REJECTED'],
    ['badcreds/signed', 'SIMPLE_STORE_UNAVAILABLE'],
  ])('denies %s with %s', async (repository, code) => {
    const answer = await admit(on(repository));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.message).toContain(code);
  });
});
