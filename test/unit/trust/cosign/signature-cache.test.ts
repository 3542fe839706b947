// The cosign verifier over the trust cache, with an in-memory registry that counts requests
// and an authenticated in-memory store whose raw entries a test can rewrite (the hostile
// store): within the freshness window nothing reaches the registry; past it the registry is
// read again; an unavailable registry is answered stale within max-stale and denied after
// it; a policy change is honoured from the cached material; a forged, moved or corrupt entry
// is never used; a store that does not answer only costs a registry read.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { rejectionCodeOf, rejectionOf } from '../../../support/trustgate-errors.js';
import { createAuthenticatedStore } from '../../../../shared/cache/authenticated-store.js';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { silentLogger, type Fetch, type KvItem, type KvStore } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import { cosignSignaturesKey, cosignTagKey, createCosignSignatureCache, MAX_STORED_MATERIAL_BYTES, type CosignSignatureCache } from '../../../../shared/trust/cosign/signature-cache.js';
import { decodeMaterial, emptyMaterial, encodeMaterial } from '../../../../shared/trust/cosign/signature-material.js';
import { createCredentialKeyring, type RegistryCredentials } from '../../../../shared/registry/credential-keyring.js';
import type { CosignAuthority, CosignRequirement, VerifiedImage } from '../../../../shared/trust/verifier.js';
import { bundleArtifact, keyBundle, OCI_INDEX, OCI_MANIFEST, referrersIndex, sha256, statementFor } from '../../../support/sigstore-bundles.js';
import { clockFrom } from '../../../support/clocks.js';
import { fixture, MemoryRegistry } from './support/memory-registry.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const REGISTRY = 'registry.example.com';
const FRESHNESS_MS = 30_000;
const MAX_STALE_MS = 15 * 60_000;
const START = Date.parse('2031-03-01T00:00:00Z');

interface TestKey {
  readonly privateKey: KeyObject;
  readonly pem: string;
  readonly authority: CosignAuthority;
  sign(payload: Uint8Array): string;
}

function testKey(name: string): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, pem: publicKeyPem, authority: { name, publicKeyPem }, sign: (payload) => sign('sha256', payload, privateKey).toString('base64') };
}

const release = testKey('release');
const other = testKey('other');

function requirement(...keys: readonly TestKey[]): CosignRequirement {
  return { kind: 'cosign', authorities: keys.map((key) => key.authority), threshold: 1 };
}

function payloadFor(repository: string, digest: string): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': `${REGISTRY}/${repository}` }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: null }));
}


// One deployment: a registry, a raw store under the authenticated one, the cache over it and
// a clock the test moves; `verifier(freshness)` builds a verifier as a process would.
class Lab {
  nowMs = START;
  readonly clock = clockFrom(() => this.nowMs);
  readonly registry = new MemoryRegistry();
  readonly raw: KvStore = createMemoryStore({ clock: this.clock });
  readonly secret = randomBytes(32);
  readonly kv = createAuthenticatedStore(this.raw, this.secret);
  registryDown = false;
  // Requests whose URL this matches fail as an unreachable registry would.
  failing: ((url: string) => boolean) | undefined;
  storeDown = false;
  cache: CosignSignatureCache = this.newCache();

  // A cache as a fresh process opens it: nothing in its memo.
  newCache(): CosignSignatureCache {
    const kv: KvStore = {
      get: (key) => (this.storeDown ? Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'store down')) : this.kv.get(key)),
      put: (key, item, options) => (this.storeDown ? Promise.reject(new TrustgateError(ErrorCode.STATE_STORE_FAILED, 'store down')) : this.kv.put(key, item, options)),
      delete: (key) => this.kv.delete(key),
    };
    return createCosignSignatureCache(kv, { retainMs: FRESHNESS_MS + MAX_STALE_MS });
  }

  readonly fetch: Fetch = (request) => {
    if (this.registryDown || this.failing?.(request.url) === true) return Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'connection refused'));
    return this.registry.fetch(request);
  };

  verifier(freshnessMs = FRESHNESS_MS) {
    return createCosignVerifier({ fetch: this.fetch, logger: silentLogger, cache: { store: this.cache, freshnessMs, maxStaleMs: MAX_STALE_MS } });
  }

  verify(image: string, required: CosignRequirement, freshnessMs = FRESHNESS_MS, credentials?: RegistryCredentials): Promise<VerifiedImage> {
    return this.verifier(freshnessMs).verify(parseImageReference(image), required, new Date(this.nowMs), undefined, credentials);
  }

  // Pushes an image at v1 of `repository`, signed classically by `keys` (one layer each).
  push(repository: string, keys: readonly TestKey[], manifest: Buffer = fixture('valid/manifest.json')): string {
    const digest = this.registry.putManifest(repository, 'v1', manifest, DOCKER_MANIFEST);
    this.sign(repository, digest, keys);
    return digest;
  }

  sign(repository: string, digest: string, keys: readonly TestKey[]): void {
    if (keys.length === 0) return;
    const payload = payloadFor(repository, digest);
    this.registry.putSignatures(repository, digest, keys.map((key) => ({ payload, signature: key.sign(payload) })));
  }

  requestCount(): number {
    return this.registry.requests.length;
  }
}

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});

describe('cosign verification with the trust cache', () => {
  describe('within the freshness window', () => {
    it('answers a repeated verification of the same image without a registry request', async () => {
      const digest = lab.push('team/app', [release]);
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'] });
      const before = lab.requestCount();
      lab.nowMs += FRESHNESS_MS - 1;
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'] });
      expect(lab.requestCount()).toBe(before);
    });

    it('answers from the store in another process (an empty memo) without a registry request', async () => {
      lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const before = lab.requestCount();
      lab.cache = lab.newCache();
      lab.nowMs += 1_000;
      expect((await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).stale).toBeUndefined();
      expect(lab.requestCount()).toBe(before);
    });

    it('answers an image pinned by digest from the store without a registry request', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app@${digest}`, requirement(release));
      const before = lab.requestCount();
      lab.cache = lab.newCache();
      expect((await lab.verify(`${REGISTRY}/team/app@${digest}`, requirement(release))).digest).toBe(digest);
      expect(lab.requestCount()).toBe(before);
    });

    it('denies an unsigned image again without a registry request', async () => {
      lab.push('team/unsigned', []);
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/unsigned:v1`, requirement(release)))).toBe(ErrorCode.COSIGN_SIGNATURE_MISSING);
      const before = lab.requestCount();
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/unsigned:v1`, requirement(release)))).toBe(ErrorCode.COSIGN_SIGNATURE_MISSING);
      expect(lab.requestCount()).toBe(before);
    });
  });

  describe('when the policy changes within the window', () => {
    it('denies under a key that did not sign, checking the cached signature again', async () => {
      lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const before = lab.requestCount();
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(other)))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
      expect(lab.requestCount()).toBe(before);
    });

    it('reads the registry when the new policy needs a signature the recording never looked at', async () => {
      const digest = lab.push('team/app', [release, other]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const before = lab.requestCount();
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(other))).toEqual({ digest, signers: ['cosign:other'] });
      expect(lab.requestCount()).toBeGreaterThan(before);
    });

    it('meets a raised threshold only with signatures that verify', async () => {
      lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const both = { ...requirement(release, other), threshold: 2 };
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, both))).toBe(ErrorCode.COSIGN_THRESHOLD_NOT_MET);
    });
  });

  describe('past the freshness window', () => {
    it('reads the registry again and sees a new signature', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.sign('team/app', digest, [other]);
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(other)))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
      const before = lab.requestCount();
      lab.nowMs += FRESHNESS_MS;
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(other))).toEqual({ digest, signers: ['cosign:other'] });
      expect(lab.requestCount()).toBeGreaterThan(before);
    });

    it('sees a tag moved to another image', async () => {
      lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const moved = lab.push('team/app', [release], Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: {}, layers: [{ moved: true }] })));
      lab.nowMs += FRESHNESS_MS;
      expect((await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).digest).toBe(moved);
    });
  });

  describe('with a verifier that always reads the registry (sign-callback)', () => {
    it('reads the registry within the window and refreshes what admission then answers from', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.sign('team/app', digest, [other]);
      lab.nowMs += 1_000;
      const before = lab.requestCount();
      expect((await lab.verify(`${REGISTRY}/team/app@${digest}`, requirement(other), 0)).digest).toBe(digest);
      expect(lab.requestCount()).toBeGreaterThan(before);
      const afterRefresh = lab.requestCount();
      lab.cache = lab.newCache();
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(other))).toEqual({ digest, signers: ['cosign:other'] });
      expect(lab.requestCount()).toBe(afterRefresh);
    });
  });

  describe('when the registry is unavailable', () => {
    it('answers stale within max-stale past the window, and denies with REGISTRY_UNAVAILABLE after it', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.registryDown = true;
      lab.nowMs += FRESHNESS_MS + MAX_STALE_MS - 1;
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'], stale: true });
      lab.nowMs += 1;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(release)))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    });

    it('never answers stale for a key that did not sign', async () => {
      lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.registryDown = true;
      lab.nowMs += FRESHNESS_MS;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(other)))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
    });

    it('never answers a moved tag with the image it named before when only the new image\'s signatures cannot be read', async () => {
      const before = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      const moved = lab.push('team/app', [], Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: {}, layers: [{ moved: true }] })));
      expect(moved).not.toBe(before);
      lab.failing = (url) => !url.includes('/manifests/v1');
      lab.nowMs += FRESHNESS_MS;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(release)))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
      lab.failing = undefined;
      lab.registryDown = true;
      expect(await lab.verify(`${REGISTRY}/team/app@${before}`, requirement(release))).toEqual({ digest: before, signers: ['cosign:release'], stale: true });
    });

    it('denies with REGISTRY_UNAVAILABLE when nothing was cached', async () => {
      lab.push('team/app', [release]);
      lab.registryDown = true;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(release)))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    });

    it('keeps the complete recording rather than an interrupted read', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.nowMs += FRESHNESS_MS;
      lab.registryDown = true;
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      lab.cache = lab.newCache();
      lab.nowMs += 1_000;
      expect(await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'], stale: true });
    });
  });

  describe('when the store is hostile', () => {
    // Replaces the raw value (MAC included) of `key`, as a writer of the table could.
    async function rewrite(key: string, change: (item: KvItem) => KvItem): Promise<void> {
      const item = await lab.raw.get(key);
      if (item === undefined) throw new Error(`nothing stored at ${key}`);
      await lab.raw.put(key, change(item));
    }

    it('refuses an altered entry and reads the registry again', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release));
      await rewrite(cosignSignaturesKey(REGISTRY, 'team/app', digest), (item) => {
        const value = Buffer.from(item.value);
        value.writeUInt8(value.readUInt8(value.length - 3) ^ 1, value.length - 3);
        return { ...item, value };
      });
      lab.cache = lab.newCache();
      const before = lab.requestCount();
      expect((await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).digest).toBe(digest);
      expect(lab.requestCount()).toBeGreaterThan(before);
    });

    it('never answers an unsigned image from a signed image\'s entry moved under its key, even with the registry down', async () => {
      const signed = lab.push('team/signed', [release]);
      const unsigned = lab.push('team/unsigned', []);
      await lab.verify(`${REGISTRY}/team/signed:v1`, requirement(release));
      await rejectionOf(lab.verify(`${REGISTRY}/team/unsigned:v1`, requirement(release)));
      const genuine = await lab.raw.get(cosignSignaturesKey(REGISTRY, 'team/signed', signed));
      if (genuine === undefined) throw new Error('the signed image was not cached');
      await lab.raw.put(cosignSignaturesKey(REGISTRY, 'team/unsigned', unsigned), genuine);
      await lab.raw.put(cosignTagKey(REGISTRY, 'team/unsigned', 'v1'), (await lab.raw.get(cosignTagKey(REGISTRY, 'team/signed', 'v1'))) ?? genuine);
      lab.cache = lab.newCache();
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/unsigned:v1`, requirement(release)))).toBe(ErrorCode.COSIGN_SIGNATURE_MISSING);
      lab.cache = lab.newCache();
      lab.registryDown = true;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/unsigned@${unsigned}`, requirement(release)))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    });

    it('refuses an entry given a later check time, so it cannot look fresh', async () => {
      const digest = lab.push('team/app', [release]);
      await lab.verify(`${REGISTRY}/team/app@${digest}`, requirement(release));
      await rewrite(cosignSignaturesKey(REGISTRY, 'team/app', digest), (item) => ({ ...item, version: item.version + 3_600_000 }));
      lab.cache = lab.newCache();
      lab.nowMs += FRESHNESS_MS + MAX_STALE_MS;
      lab.registryDown = true;
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app@${digest}`, requirement(release)))).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    });

    it('verifies against the registry when the store does not answer', async () => {
      const digest = lab.push('team/app', [release]);
      lab.storeDown = true;
      expect((await lab.verify(`${REGISTRY}/team/app:v1`, requirement(release))).digest).toBe(digest);
      lab.cache = lab.newCache();
      expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/app:v1`, requirement(other)))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
    });
  });
});

describe('cosign signatures read with a workload\'s pull-secret credentials', () => {
  const keyring = (password: string): RegistryCredentials => createCredentialKeyring([{ key: REGISTRY, source: 'Secret team/regcred', credential: { username: 'ci', password } }]);

  it('are answered again only for the same credentials, and never written to the shared store', async () => {
    const digest = lab.push('team/private', [release]);
    const team = keyring('right');
    await lab.verify(`${REGISTRY}/team/private:v1`, requirement(release), FRESHNESS_MS, team);
    const before = lab.requestCount();
    expect((await lab.verify(`${REGISTRY}/team/private:v1`, requirement(release), FRESHNESS_MS, team)).digest).toBe(digest);
    expect(lab.requestCount()).toBe(before);
    await lab.verify(`${REGISTRY}/team/private:v1`, requirement(release), FRESHNESS_MS, keyring('wrong'));
    expect(lab.requestCount()).toBeGreaterThan(before);
    const afterOther = lab.requestCount();
    await lab.verify(`${REGISTRY}/team/private:v1`, requirement(release));
    expect(lab.requestCount()).toBeGreaterThan(afterOther);
    expect(await lab.raw.get(cosignTagKey(REGISTRY, 'team/private', 'v1'))).toMatchObject({ version: lab.nowMs });
  });

  it('leave nothing in the store for another process', async () => {
    const digest = lab.push('team/private', [release]);
    await lab.verify(`${REGISTRY}/team/private@${digest}`, requirement(release), FRESHNESS_MS, keyring('right'));
    expect(await lab.raw.get(cosignSignaturesKey(REGISTRY, 'team/private', digest))).toBeUndefined();
  });
});

describe('cosign v3 bundles with the trust cache', () => {
  async function pushBundle(repository: string, key: TestKey): Promise<string> {
    const manifest = fixture('valid/manifest.json');
    const digest = lab.registry.putManifest(repository, 'v1', manifest, DOCKER_MANIFEST);
    const artifact = bundleArtifact(await keyBundle(key.privateKey, key.pem, statementFor(digest)), { digest, size: manifest.length, mediaType: DOCKER_MANIFEST });
    lab.registry.putManifest(repository, artifact.digest, artifact.manifest, OCI_MANIFEST);
    for (const blob of artifact.blobs) lab.registry.blobs.set(sha256(blob), blob);
    lab.registry.putManifest(repository, digest.replace(':', '-'), referrersIndex([artifact]), OCI_INDEX);
    return digest;
  }

  it('answers from the cached bundle within the window, and checks it again under a new key', async () => {
    const digest = await pushBundle('team/bundled', release);
    expect(await lab.verify(`${REGISTRY}/team/bundled:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'] });
    const before = lab.requestCount();
    lab.cache = lab.newCache();
    expect(await lab.verify(`${REGISTRY}/team/bundled:v1`, requirement(release))).toEqual({ digest, signers: ['cosign:release'] });
    expect(await rejectionCodeOf(lab.verify(`${REGISTRY}/team/bundled:v1`, requirement(other)))).toBe(ErrorCode.COSIGN_SIGNATURE_INVALID);
    expect(lab.requestCount()).toBe(before);
  });
});

describe('the stored signature material', () => {
  const image = parseImageReference(`${REGISTRY}/team/app:v1`);
  const digest = `sha256:${'a'.repeat(64)}`;

  it('decodes what it encodes, for exactly its repository and digest', () => {
    const material = emptyMaterial(image, digest);
    material.layers = {
      ok: true,
      value: [
        { index: 1, digest: `sha256:${'b'.repeat(64)}`, size: 3, mediaType: 'x', signature: 'c2ln' },
        // Every annotation a classic layer can carry survives, the RFC 3161 timestamp included.
        { index: 2, digest: `sha256:${'d'.repeat(64)}`, size: 4, mediaType: 'x', signature: 'c2ln', certificate: 'cert', chain: 'chain', rekorBundle: '{}', rfc3161Timestamp: '{"SignedRFC3161Timestamp":"dHM="}' },
      ],
    };
    material.payloads.set(1, { ok: false, error: new TrustgateError(ErrorCode.REGISTRY_DIGEST_MISMATCH, 'bad payload') });
    const bytes = encodeMaterial(material);
    const decoded = decodeMaterial(bytes, image, digest);
    expect(decoded?.layers).toEqual(material.layers);
    expect(decoded?.payloads.get(1)).toMatchObject({ ok: false, error: { code: ErrorCode.REGISTRY_DIGEST_MISMATCH } });
    expect(decodeMaterial(bytes, image, `sha256:${'c'.repeat(64)}`)).toBeUndefined();
    expect(decodeMaterial(bytes, parseImageReference(`${REGISTRY}/team/other:v1`), digest)).toBeUndefined();
  });

  it('refuses a record of another shape or naming an unknown error code', () => {
    const material = emptyMaterial(image, digest);
    material.referrers = { ok: false, error: new TrustgateError(ErrorCode.REGISTRY_RESPONSE_INVALID, 'bad index') };
    const text = new TextDecoder().decode(encodeMaterial(material));
    expect(decodeMaterial(new TextEncoder().encode(text.replace('REGISTRY_RESPONSE_INVALID', 'NOT_A_CODE')), image, digest)).toBeUndefined();
    expect(decodeMaterial(new TextEncoder().encode('{"format":1}'), image, digest)).toBeUndefined();
    expect(decodeMaterial(new TextEncoder().encode('not json'), image, digest)).toBeUndefined();
  });

  it('keeps material too large for the store in process only', async () => {
    const digestOfImage = lab.push('team/app', []);
    const material = emptyMaterial(image, digestOfImage);
    material.payloads.set(1, { ok: true, value: new Uint8Array(MAX_STORED_MATERIAL_BYTES) });
    await lab.cache.save(image, digestOfImage, material, lab.nowMs, '');
    expect(await lab.raw.get(cosignSignaturesKey(REGISTRY, 'team/app', digestOfImage))).toBeUndefined();
    expect((await lab.cache.material(image, digestOfImage, lab.nowMs, ''))?.value).toBe(material);
  });
});
