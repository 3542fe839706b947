// remapIdentity with a registry host as prefix: a registry that mirrors Docker Hub
// (`prefix: <mirror>`, `signedPrefix: docker.io`) accepts the signature Docker Hub's image
// carries, for the mirror's copy of that image and no other. `policy lint` calls the
// document valid, and `trustgate verify --policies` checks it against the real
// docker-registry, with the signature (made with OpenPGP.js) in a lookaside store.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleKeySecretYaml } from '../support/key-secrets.js';
import { pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { serveLookaside, type HttpServer } from './support/simple-signing.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, TRUSTGATE_BIN, type TrustgateRun } from './support/trustgate-cli.js';

let scratch: string;
let registry: DockerRegistry;
let lookaside: HttpServer;
let release: openpgp.PrivateKey;
let policyFile: string;

beforeAll(async () => {
  scratch = await makeTempDir('remap-host');
  registry = await startDockerRegistry();
  await mkdir(join(scratch, 'lookaside'), { recursive: true });
  lookaside = await serveLookaside(join(scratch, 'lookaside'));
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'release', email: 'release@example.com' }], date: new Date(Date.now() - 120_000), format: 'object' });
  release = privateKey;
  await mkdir(join(scratch, 'policies'), { recursive: true });
  policyFile = join(scratch, 'policies', 'mirror.yaml');
  await writeFile(policyFile, `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: mirror}
spec:
  repositories:
    - name: "${registry.host}/*"
      policy:
        simple:
          storeURL: "${lookaside.url}"
          requirements:
            - {type: signedBy, keySecret: release-gpg, keySecretNamespace: keys, signedIdentity: {type: remapIdentity, prefix: "${registry.host}", signedPrefix: "docker.io"}}
---
${simpleKeySecretYaml('release-gpg', 'keys', publicKey.armor())}
`);
});

afterAll(async () => {
  await lookaside?.close();
  await registry?.stop();
  await removeDir(scratch);
});

// Pushes `repository:v1` to the mirror and stores, in the lookaside store, the release key's
// signature of its digest naming `signedReference` (what Docker Hub's image would carry).
async function mirrorWithSignature(repository: string, signedReference: string): Promise<string> {
  const { digest } = await pushImage(registry, repository, 'v1');
  const payload = JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': digest }, identity: { 'docker-reference': signedReference } }, optional: {} });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(payload) });
  // OpenPGP.js's overloads leave the binary form's type unresolved: it is a Uint8Array.
  const signed: unknown = await openpgp.sign({ message, signingKeys: release, format: 'binary', date: new Date(Date.now() - 60_000) });
  const dir = join(scratch, 'lookaside', `${repository}@${digest.replace(':', '=')}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'signature-1'), signed as Uint8Array);
  return digest;
}

const verify = (image: string): Promise<TrustgateRun> => runTrustgate(['verify', image, '--policies', policyFile, '--json'], { stateDir: scratch });

describe('remapIdentity from a Docker Hub mirror to signedPrefix docker.io', () => {
  it('is a valid policy for policy lint', async () => {
    const lint = await promisify(execFile)(process.execPath, [TRUSTGATE_BIN, 'policy', 'lint', policyFile]);
    expect(lint.stdout).toMatch(/^valid/);
  });

  it('admits the mirror\'s copy of an image signed as docker.io/library/nginx', async () => {
    const digest = await mirrorWithSignature('library/nginx', 'docker.io/library/nginx:v1');
    const run = await verify(`${registry.host}/library/nginx:v1`);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest, verifiedBy: ['simple'] });
  });

  it('denies a mirrored image whose signature names another Docker Hub image (SIMPLE_IDENTITY_MISMATCH)', async () => {
    await mirrorWithSignature('library/redis', 'docker.io/library/nginx:v1');
    const run = await verify(`${registry.host}/library/redis:v1`);
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_IDENTITY_MISMATCH'] });
  });
});
