// The cosign verifier on both places cosign writes signatures, through an in-memory registry:
// the real keyless Fulcio + Rekor vector in the classic tag, and v3 Sigstore bundles (made by
// @sigstore/sign with the test's key) found through the referrers API or, where the registry
// has none, the referrers tag. Attestations, bundles for another image and bundles whose
// artifact names another subject are refused with their reasons.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rejectionCodeOf } from '../../../support/trustgate-errors.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import { DEFAULT_REGISTRY_LIMITS } from '../../../../shared/trust/cosign/registry-client.js';
import type { CosignAuthority, CosignRequirement } from '../../../../shared/trust/verifier.js';
import { BUNDLE_MEDIA_TYPE, bundleArtifact, keyBundle, OCI_INDEX, OCI_MANIFEST, referrersIndex, sha256, statementFor, type Artifact } from '../../../support/sigstore-bundles.js';
import { fixture, MemoryRegistry } from './support/memory-registry.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const NOW = new Date('2026-12-01T00:00:00Z');


function requirement(...authorities: CosignAuthority[]): CosignRequirement {
  return { kind: 'cosign', authorities, threshold: 1 };
}

describe('a keyless classic signature (real Fulcio + Rekor vector) in the registry', () => {
  const REPOSITORY = 'cosign-signed/fulcio-rekor-1';
  const image = parseImageReference(`registry.example.com/${REPOSITORY}:v1`);
  const registry = new MemoryRegistry();
  const digest = registry.putManifest(REPOSITORY, 'v1', fixture('fulcio-rekor/manifest.json'), DOCKER_MANIFEST);
  const file = fixture('fulcio-rekor/signature-1');
  const json = JSON.parse(file.subarray(file.indexOf(10) + 1).toString('utf8')) as { payload: string; annotations: Record<string, string> };
  registry.putSignatures(REPOSITORY, digest, [{ payload: Buffer.from(json.payload, 'base64'), signature: undefined, annotations: json.annotations }]);
  const verifier = createCosignVerifier({ fetch: registry.fetch, logger: silentLogger });
  const keyless = (subject: string): CosignAuthority => ({ name: 'keyless', identities: [{ issuer: 'https://github.com/login/oauth', subject }] });

  it('admits the signed digest for the certificate identity, naming it', async () => {
    const verified = await verifier.verify(image, requirement(keyless('mitr@redhat.com')), NOW);
    expect(verified).toEqual({ digest, signers: ['cosign:keyless (mitr@redhat.com from https://github.com/login/oauth)'] });
  });

  it('denies another identity with COSIGN_IDENTITY_MISMATCH', async () => {
    expect(await rejectionCodeOf(verifier.verify(image, requirement(keyless('attacker@example.com')), NOW))).toBe(ErrorCode.COSIGN_IDENTITY_MISMATCH);
  });

  it('denies a key authority: the signature was made with a certificate', async () => {
    const key = { name: 'cosign.pub', publicKeyPem: fixture('cosign.pub').toString('utf8') };
    expect(await rejectionCodeOf(verifier.verify(image, requirement(key), NOW))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('refuses keyless authorities with tlog off before asking the registry', async () => {
    expect(await rejectionCodeOf(verifier.verify(image, { ...requirement(keyless('mitr@redhat.com')), tlog: 'off' }, NOW))).toBe(ErrorCode.POLICY_INVALID);
  });
});

describe('v3 bundles among the referrers', () => {
  const REPOSITORY = 'team/app';
  const image = parseImageReference(`registry.example.com/${REPOSITORY}:v1`);
  const imageManifest = fixture('valid/manifest.json');

  function keyPair(): { privateKey: KeyObject; pem: string; authority: CosignAuthority } {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    return { privateKey, pem, authority: { name: 'key/release', publicKeyPem: pem } };
  }
  const release = keyPair();
  const other = keyPair();

  // A registry with the image at v1 and the given artifacts listed for it, in the referrers
  // tag or (api) through the referrers API.
  function registryWith(artifacts: readonly Artifact[], api = false): { registry: MemoryRegistry; digest: string } {
    const registry = new MemoryRegistry();
    const digest = registry.putManifest(REPOSITORY, 'v1', imageManifest, DOCKER_MANIFEST);
    for (const artifact of artifacts) {
      registry.putManifest(REPOSITORY, artifact.digest, artifact.manifest, OCI_MANIFEST);
      for (const blob of artifact.blobs) registry.blobs.set(sha256(blob), blob);
    }
    const index = referrersIndex(artifacts);
    if (api) registry.referrers.set(`${REPOSITORY}/${digest}`, index);
    else if (artifacts.length > 0) registry.putManifest(REPOSITORY, digest.replace(':', '-'), index, OCI_INDEX);
    return { registry, digest };
  }

  const subjectOf = (digest: string) => ({ digest, size: imageManifest.length, mediaType: DOCKER_MANIFEST });
  const digestOfImage = new MemoryRegistry().putManifest(REPOSITORY, 'v1', imageManifest, DOCKER_MANIFEST);

  async function signed(statement: Buffer, key = release, subject = digestOfImage): Promise<Artifact> {
    return bundleArtifact(await keyBundle(key.privateKey, key.pem, statement), subjectOf(subject));
  }

  const verify = (registry: MemoryRegistry, authority: CosignAuthority = release.authority) =>
    createCosignVerifier({ fetch: registry.fetch, logger: silentLogger }).verify(image, requirement(authority), NOW);

  it('admits a bundle in the referrers tag (no referrers API)', async () => {
    const { registry, digest } = registryWith([await signed(statementFor(digestOfImage))]);
    expect(await verify(registry)).toEqual({ digest, signers: ['cosign:key/release'] });
    expect(registry.requests.some((url) => url.includes('/referrers/'))).toBe(true);
  });

  it('admits a bundle found through the referrers API', async () => {
    const { registry, digest } = registryWith([await signed(statementFor(digestOfImage))], true);
    expect(await verify(registry)).toEqual({ digest, signers: ['cosign:key/release'] });
    expect(registry.requests.some((url) => url.endsWith(`/manifests/${digest.replace(':', '-')}`))).toBe(false);
  });

  it('denies a bundle made with another key', async () => {
    const { registry } = registryWith([await signed(statementFor(digestOfImage), other)]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('denies an attestation in place of a signature, saying it is one', async () => {
    const { registry } = registryWith([await signed(statementFor(digestOfImage, 'https://slsa.dev/provenance/v1'))]);
    const error = await verify(registry).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.COSIGN_PAYLOAD_INVALID);
    expect((error as TrustgateError).message).toContain('attestation');
  });

  it('denies a genuine bundle of another image listed for this one (its statement names the other digest)', async () => {
    const otherDigest = `sha256:${'b'.repeat(64)}`;
    const { registry } = registryWith([await signed(statementFor(otherDigest))]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_DIGEST_MISMATCH);
  });

  it('denies an artifact whose subject is another image', async () => {
    const { registry } = registryWith([await signed(statementFor(digestOfImage), release, `sha256:${'c'.repeat(64)}`)]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_DIGEST_MISMATCH);
  });

  it('denies a bundle whose DSSE payload was changed after signing', async () => {
    const bundle = (await keyBundle(release.privateKey, release.pem, statementFor(`sha256:${'d'.repeat(64)}`))) as { dsseEnvelope: { payload: string } };
    bundle.dsseEnvelope.payload = statementFor(digestOfImage).toString('base64');
    const { registry } = registryWith([bundleArtifact(bundle, subjectOf(digestOfImage))]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
  });

  it('admits when one of several bundles is a valid signature, whatever comes before it', async () => {
    const artifacts = [await signed(statementFor(digestOfImage, 'https://spdx.dev/Document')), await signed(statementFor(digestOfImage), other), await signed(statementFor(digestOfImage))];
    const { registry, digest } = registryWith(artifacts);
    expect(await verify(registry)).toMatchObject({ digest });
  });

  it('looks at the first Sigstore bundles up to its limit and fetches none listed past them', async () => {
    const unchecked = await signed(statementFor(digestOfImage));
    const foreign = await Promise.all(Array.from({ length: DEFAULT_REGISTRY_LIMITS.maxReferrers }, () => signed(statementFor(digestOfImage), other)));
    const { registry } = registryWith([...foreign, unchecked]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
    expect(registry.requests.filter((url) => url.includes(unchecked.digest))).toEqual([]);
  });

  it('admits a valid bundle however many bundle entries anyone who may push lists after it', async () => {
    const junk = (n: number) => ({ mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: sha256(Buffer.from(`junk ${n}`)), size: 10 });
    const bundle = await signed(statementFor(digestOfImage));
    for (const api of [false, true]) {
      const { registry, digest } = registryWith([bundle], api);
      const listed = [{ mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: bundle.digest, size: bundle.manifest.length }, ...Array.from({ length: DEFAULT_REGISTRY_LIMITS.maxReferrers }, (_, n) => junk(n))];
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed }));
      if (api) registry.referrers.set(`${REPOSITORY}/${digest}`, index);
      else registry.putManifest(REPOSITORY, digest.replace(':', '-'), index, OCI_INDEX);
      expect(await verify(registry)).toEqual({ digest, signers: ['cosign:key/release'] });
    }
  });

  it('passes over a bundle entry it cannot fetch (a sha512 or upper-case digest) and admits the valid one', async () => {
    const bundle = await signed(statementFor(digestOfImage));
    for (const unusable of [`sha512:${'a'.repeat(128)}`, `sha256:${'A'.repeat(64)}`, 42]) {
      const { registry, digest } = registryWith([bundle], true);
      const listed = [{ mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: unusable, size: 10 }, { mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: bundle.digest, size: bundle.manifest.length }];
      registry.referrers.set(`${REPOSITORY}/${digest}`, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed })));
      expect(await verify(registry)).toEqual({ digest, signers: ['cosign:key/release'] });
    }
  });

  it('admits a bundle listed after more other artifacts (SBOMs, scan results) than the bundle limit', async () => {
    const sbom = (n: number) => ({ mediaType: OCI_MANIFEST, artifactType: 'application/spdx+json', digest: sha256(Buffer.from(`sbom ${n}`)), size: 10 });
    const bundle = await signed(statementFor(digestOfImage));
    for (const api of [false, true]) {
      const { registry, digest } = registryWith([bundle], api);
      const others = Array.from({ length: DEFAULT_REGISTRY_LIMITS.maxReferrers + 1 }, (_, n) => sbom(n));
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...others, { mediaType: OCI_MANIFEST, artifactType: BUNDLE_MEDIA_TYPE, digest: bundle.digest, size: bundle.manifest.length }] }));
      if (api) registry.referrers.set(`${REPOSITORY}/${digest}`, index);
      else registry.putManifest(REPOSITORY, digest.replace(':', '-'), index, OCI_INDEX);
      expect(await verify(registry)).toEqual({ digest, signers: ['cosign:key/release'] });
    }
  });

  it('asks the referrers API for Sigstore bundles only', async () => {
    const { registry } = registryWith([await signed(statementFor(digestOfImage))], true);
    await verify(registry);
    const asked = registry.requests.find((url) => url.includes('/referrers/'));
    expect(new URL(asked ?? 'http://x/').searchParams.get('artifactType')).toBe(BUNDLE_MEDIA_TYPE);
  });

  it('admits a valid bundle when the classic signature manifest is over its layer limit or malformed', async () => {
    const bundle = await signed(statementFor(digestOfImage));
    const junk = { payload: Buffer.from('junk'), signature: 'AAAA' };
    const tooMany = registryWith([bundle]);
    tooMany.registry.putSignatures(REPOSITORY, tooMany.digest, Array.from({ length: DEFAULT_REGISTRY_LIMITS.maxSignatures + 1 }, () => junk));
    expect(await verify(tooMany.registry)).toEqual({ digest: tooMany.digest, signers: ['cosign:key/release'] });
    const malformed = registryWith([bundle]);
    malformed.registry.putManifest(REPOSITORY, `${malformed.digest.replace(':', '-')}.sig`, Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":{}}'), OCI_MANIFEST);
    expect(await verify(malformed.registry)).toEqual({ digest: malformed.digest, signers: ['cosign:key/release'] });
  });

  it('denies with the classic signature manifest\'s reason when no other signature is valid', async () => {
    const junk = { payload: Buffer.from('junk'), signature: 'AAAA' };
    const { registry, digest } = registryWith([await signed(statementFor(digestOfImage), other)]);
    registry.putSignatures(REPOSITORY, digest, Array.from({ length: DEFAULT_REGISTRY_LIMITS.maxSignatures + 1 }, () => junk));
    const error = await verify(registry).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TrustgateError);
    expect((error as TrustgateError).code).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
    expect((error as TrustgateError).message).toContain(`[${ErrorCode.REGISTRY_RESPONSE_TOO_LARGE}] signature manifest of ${digest}`);
  });

  it('denies with COSIGN_SIGNATURE_MISSING when neither the classic tag nor the referrers hold anything', async () => {
    const { registry } = registryWith([]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.COSIGN_SIGNATURE_MISSING);
  });

  it('reads no bundle larger than its limit', async () => {
    const big = await signed(statementFor(digestOfImage));
    const manifest = JSON.parse(big.manifest.toString('utf8')) as { layers: { size: number }[] };
    const layer = manifest.layers[0];
    if (layer !== undefined) layer.size = DEFAULT_REGISTRY_LIMITS.maxBundleBytes + 1;
    const tampered = Buffer.from(JSON.stringify(manifest));
    const { registry } = registryWith([{ ...big, manifest: tampered, digest: sha256(tampered) }]);
    expect(await rejectionCodeOf(verify(registry))).toBe(ErrorCode.REGISTRY_RESPONSE_TOO_LARGE);
  });
});

