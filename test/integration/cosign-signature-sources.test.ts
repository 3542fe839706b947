// Each place cosign signatures are listed fails alone: a registry answer over a bound in one
// place (a `.sig` tag manifest with too many layers or none usable, a referrers index full of
// other artifacts) does not hide a valid Sigstore v3 bundle signature of the same image. Anyone
// who may push to the repository can write the `.sig` tag or add referrers without any
// signing key. Through `trustgate verify --cosign-key` against a real docker registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_MEDIA_TYPE, OCI_INDEX, OCI_MANIFEST, bundleArtifact, keyBundle, sha256, statementFor, type Artifact } from '../support/sigstore-bundles.js';
import { createCosignKey, pushBundleReferrers, type CosignKeyPair } from './support/cosign-signatures.js';
import { pushBlob, pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

let scratch: string;
let registry: DockerRegistry;
let key: CosignKeyPair;

beforeAll(async () => {
  scratch = await makeTempDir('cosign-sources');
  registry = await startDockerRegistry();
  key = await createCosignKey(scratch, 'release');
});

afterAll(async () => {
  await registry?.stop();
  await removeDir(scratch);
});

async function putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<void> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { ...registry.pushHeaders, 'content-type': mediaType }, body });
  if (response.status !== 201) throw new Error(`PUT ${reference}: ${response.status} ${await response.text()}`);
}

// An image at v1 signed with a v3 bundle by the release key, listed in its referrers tag.
async function bundleSignedImage(repository: string): Promise<{ digest: string; artifact: Artifact }> {
  const image = await pushImage(registry, repository, 'v1');
  const bundle = await keyBundle(key.privateKey, key.publicKeyPem, statementFor(image.digest));
  const artifact = bundleArtifact(bundle, { digest: image.digest, size: image.size, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
  await pushBundleReferrers(registry, repository, image.digest, [artifact]);
  return { digest: image.digest, artifact };
}

// A classic `.sig` manifest for `digest` with `count` layers, none of them a signature by any key.
async function pushJunkSignatureManifest(repository: string, digest: string, count: number): Promise<void> {
  const config = Buffer.from('{}');
  await pushBlob(registry, repository, config);
  const layers = [];
  for (let index = 0; index < count; index += 1) {
    const junk = Buffer.from(`junk ${index}`);
    await pushBlob(registry, repository, junk);
    layers.push({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256(junk), size: junk.length, annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' } });
  }
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers }));
  await putManifest(repository, `${digest.replace(':', '-')}.sig`, manifest, OCI_MANIFEST);
}

const verify = (repository: string, keyFile = key.publicKeyFile): Promise<TrustgateRun> =>
  runTrustgate(['verify', `${registry.host}/${repository}:v1`, '--cosign-key', keyFile, '--json'], { stateDir: scratch });

describe('a valid cosign v3 signature beside a hostile signature listing', () => {
  it('is admitted when its referrers tag also lists more SBOMs than the bundle limit', async () => {
    const { digest, artifact } = await bundleSignedImage('sources/many-referrers');
    const empty = Buffer.from('{}');
    await pushBlob(registry, 'sources/many-referrers', empty);
    const sboms = [];
    for (let n = 0; n < 65; n += 1) {
      const sbom = Buffer.from(`{"sbom":${n}}`);
      await pushBlob(registry, 'sources/many-referrers', sbom);
      const body = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/spdx+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
        layers: [{ mediaType: 'application/spdx+json', digest: sha256(sbom), size: sbom.length }],
        subject: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest, size: 1 },
      }));
      await putManifest('sources/many-referrers', sha256(body), body, OCI_MANIFEST);
      sboms.push({ mediaType: OCI_MANIFEST, artifactType: 'application/spdx+json', digest: sha256(body), size: body.length });
    }
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [...sboms, { mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: artifact.digest, size: artifact.manifest.length }],
    }));
    await putManifest('sources/many-referrers', digest.replace(':', '-'), index, OCI_INDEX);

    const run = await verify('sources/many-referrers');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest, signers: ['cosign:release.pub'] });
  });

  it('is admitted after someone without the key pushes a `.sig` manifest over the layer limit', async () => {
    const { digest } = await bundleSignedImage('sources/sig-flood');
    await pushJunkSignatureManifest('sources/sig-flood', digest, 33);

    const run = await verify('sources/sig-flood');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest, signers: ['cosign:release.pub'] });
  });

  it('is admitted after someone without the key pushes a `.sig` tag that is no signature manifest', async () => {
    const { digest } = await bundleSignedImage('sources/sig-malformed');
    // An index, which the registry stores and the signature reader refuses (REGISTRY_RESPONSE_INVALID).
    await putManifest('sources/sig-malformed', `${digest.replace(':', '-')}.sig`, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })), OCI_INDEX);

    const run = await verify('sources/sig-malformed');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest });
  });

  it('still denies, with the `.sig` manifest\'s reason among the others, when no signature meets the policy', async () => {
    const { digest } = await bundleSignedImage('sources/sig-flood-other-key');
    await pushJunkSignatureManifest('sources/sig-flood-other-key', digest, 33);
    const other = await createCosignKey(scratch, 'other');

    const run = await verify('sources/sig-flood-other-key', other.publicKeyFile);

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_INVALID'] });
    expect(JSON.stringify(run.json)).toContain('REGISTRY_RESPONSE_TOO_LARGE');
  });
});
