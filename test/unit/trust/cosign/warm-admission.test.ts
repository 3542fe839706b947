// A warm cosign admission through /admit is answered from memory (the cosign verifier's
// `known`): no registry read and no verification run, while a policy naming another key
// denies at once, a sign-callback refresh of the image (the always-reading verifier over the
// same cache) applies at once, and the kept verdict expires with the freshness window by the
// injected clock.
import { describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../../../support/key-secrets.js';
import { createAdmitEndpoint } from '../../../../infra/webhook-proxy/admit-endpoint.js';
import { startBudgetTimer } from '../../../../infra/webhook-proxy/budget-timer.js';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { createCredentialKeyring } from '../../../../shared/registry/credential-keyring.js';
import { ADMISSION_METRICS, TRUST_METRICS } from '../../../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry } from '../../../../shared/metrics/prometheus-registry.js';
import { decodePolicyDocuments } from '../../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../../shared/policy/model.js';
import { silentLogger, type Fetch } from '../../../../shared/ports.js';
import { createCosignVerifier } from '../../../../shared/trust/cosign/cosign-verifier.js';
import { createCosignSignatureCache } from '../../../../shared/trust/cosign/signature-cache.js';
import type { CosignRequirement, ImageVerifier, NotaryRequirement } from '../../../../shared/trust/verifier.js';
import { collectRequirements } from '../../../../shared/verify/policy-requirements.js';
import { knownVerification, verifyImage, type VerifyImageDeps } from '../../../../shared/verify/verify-image.js';
import { objectOfKind, podSpec, reviewFor } from '../../../support/admission-reviews.js';
import { clockFrom } from '../../../support/clocks.js';
import { fixture, MemoryRegistry, readSignatureFile } from './support/memory-registry.js';

const FRESHNESS_MS = 30_000;
const START = Date.parse('2031-06-01T00:00:00Z');
const IMAGE = 'registry.example.com/app:v1';
const SIGNING_KEY = fixture('cosign.pub').toString('utf8');
const OTHER_KEY = fixture('cosign2.pub').toString('utf8');

const notaryNeverAsked: ImageVerifier<NotaryRequirement> = {
  kind: 'notary',
  verify: () => Promise.reject(new Error('Notary is not part of this policy')),
};

function policiesFor(publicKeyPem: string): PolicySet {
  const text = [
    'apiVersion: portieris.cloud.ibm.com/v1',
    'kind: ClusterImagePolicy',
    'metadata: {name: cosign}',
    'spec:',
    '  repositories:',
    '    - name: "registry.example.com/*"',
    '      policy: {sigstore: {authorities: [{key: {secretName: signing-key}}]}}',
    '---',
    cosignKeySecretYaml('signing-key', 'default', publicKeyPem),
  ].join('\n');
  return decodePolicyDocuments([{ source: 'policies.yaml', text }]);
}

// serve's admission over a cosign verifier with its signature cache, an injected clock, and
// counts of registry requests and of verifications run.
function lab() {
  const registry = new MemoryRegistry();
  const digest = registry.putManifest('app', 'v1', fixture('valid/manifest.json'), 'application/vnd.docker.distribution.manifest.v2+json');
  registry.putSignatures('app', digest, [readSignatureFile('valid/signature-1')]);
  let now = START;
  const clock = clockFrom(() => now);
  const fetch: Fetch = (request) => registry.fetch(request);
  const store = createCosignSignatureCache(createMemoryStore({ clock }), { retainMs: FRESHNESS_MS });
  const cosign = createCosignVerifier({ fetch, logger: silentLogger, cache: { store, freshnessMs: FRESHNESS_MS, maxStaleMs: 0 } });
  // What sign-callback verifies with: always reads the registry, over the same cache.
  const refreshing = createCosignVerifier({ fetch, logger: silentLogger, cache: { store, freshnessMs: 0, maxStaleMs: 0 } });
  let policies = policiesFor(SIGNING_KEY);
  const deps: VerifyImageDeps = { notary: notaryNeverAsked, cosign, clock, logger: silentLogger, policies: () => Promise.resolve(policies), policiesNow: () => policies };
  let verifications = 0;
  const admit = createAdmitEndpoint({
    admission: {
      verify: (image, namespace, signal) => {
        verifications += 1;
        return verifyImage(deps, { kind: 'policy', image, namespace }, signal);
      },
      known: (image, namespace) => knownVerification(deps, { image, namespace }),
      budgetMs: 5_000,
      startTimer: startBudgetTimer,
    },
    metrics: createPrometheusRegistry({ ...ADMISSION_METRICS, ...TRUST_METRICS }),
    logger: silentLogger,
    elapsedMs: () => 0,
  });
  return {
    registry,
    digest,
    cosign,
    refreshing,
    reads: () => registry.requests.length,
    verifications: () => verifications,
    advance: (ms: number) => void (now += ms),
    now: () => new Date(now),
    usePolicies: (set: PolicySet) => void (policies = set),
    async admit(): Promise<{ allowed: boolean; message: string }> {
      const review = reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: IMAGE }] })));
      const answered = await admit(new TextEncoder().encode(JSON.stringify(review)));
      expect(answered.status).toBe(200);
      const body = answered.body as { response: { allowed: boolean; status?: { message?: string } } };
      return { allowed: body.response.allowed, message: body.response.status?.message ?? '' };
    },
  };
}

// Admits the image once: that admission reads the registry, verifies, and keeps the verdict.
async function warmed(): Promise<ReturnType<typeof lab>> {
  const warm = lab();
  expect((await warm.admit()).allowed).toBe(true);
  expect(warm.verifications()).toBe(1);
  return warm;
}

describe('a warm cosign admission through /admit', () => {
  it('is answered from memory from the second admission on: the verification that read the registry keeps its verdict', async () => {
    const warm = await warmed();
    const reads = warm.reads();
    expect(reads).toBeGreaterThan(0);
    expect(await warm.admit()).toMatchObject({ allowed: true });
    expect(warm.verifications()).toBe(1);
    expect(warm.reads()).toBe(reads);
  });

  it('is not answered for another key by the verdict a first verification kept under one key', async () => {
    const warm = await warmed();
    const reads = warm.reads();
    warm.usePolicies(policiesFor(OTHER_KEY));
    const denied = await warm.admit();
    expect(denied.allowed).toBe(false);
    expect(denied.message).toContain('COSIGN_SIGNATURE_INVALID');
    expect(warm.verifications()).toBe(2);
    // Denied from the signatures the first verification recorded, checked under the new key.
    expect(warm.reads()).toBe(reads);
  });

  it('is answered from memory: no registry read and no verification run', async () => {
    const warm = await warmed();
    const reads = warm.reads();
    const verifications = warm.verifications();
    expect(reads).toBeGreaterThan(0);
    for (let round = 0; round < 3; round += 1) expect(await warm.admit()).toMatchObject({ allowed: true });
    expect(warm.reads()).toBe(reads);
    expect(warm.verifications()).toBe(verifications);
  });

  it('is never given to a request with credentials for the image\'s repository, which verify reads with them', async () => {
    const warm = await warmed();
    const image = parseImageReference(IMAGE);
    // The requirement admission asks for, as the policy gives it.
    const requirement = collectRequirements(policiesFor(SIGNING_KEY), image, 'default', IMAGE).checks[0]?.requirement as CosignRequirement;
    const credentialsFor = (key: string) => createCredentialKeyring([{ key, source: 'Secret default/regcred', credential: { username: 'puller', password: 'pw' } }]);
    const anonymous = warm.cosign.known?.(image, requirement, warm.now());
    expect(anonymous).toMatchObject({ digest: warm.digest, signers: ['cosign:key/signing-key'] });
    expect(warm.cosign.known?.(image, requirement, warm.now(), credentialsFor('registry.example.com'))).toBeUndefined();
    expect(warm.cosign.known?.(image, requirement, warm.now(), credentialsFor('https://registry.example.com/v1/'))).toBeUndefined();
    // Credentials for another registry change nothing: verify reads this one anonymously.
    expect(warm.cosign.known?.(image, requirement, warm.now(), credentialsFor('other.example.com'))).toBe(anonymous);
  });

  it('denies at once once the policy names another key', async () => {
    const warm = await warmed();
    warm.usePolicies(policiesFor(OTHER_KEY));
    const verifications = warm.verifications();
    const denied = await warm.admit();
    expect(denied.allowed).toBe(false);
    expect(denied.message).toContain('COSIGN_SIGNATURE_INVALID');
    expect(warm.verifications()).toBe(verifications + 1);
    warm.usePolicies(policiesFor(SIGNING_KEY));
    expect((await warm.admit()).allowed).toBe(true);
  });

  it('applies a sign-callback refresh of the image at once', async () => {
    const warm = await warmed();
    // The signatures are removed, and sign-callback reads the image again.
    warm.registry.putSignatures('app', warm.digest, []);
    const requirement = { kind: 'cosign' as const, authorities: [{ name: 'key/signing-key', publicKeyPem: SIGNING_KEY }], threshold: 1 };
    await warm.refreshing.verify(parseImageReference(IMAGE), requirement, warm.now()).catch(() => undefined);
    const reads = warm.reads();
    const verifications = warm.verifications();
    const denied = await warm.admit();
    expect(denied.allowed).toBe(false);
    expect(denied.message).toContain('COSIGN_SIGNATURE_MISSING');
    expect(warm.verifications()).toBe(verifications + 1);
    expect(warm.reads()).toBe(reads);
  });

  it('is checked again once the freshness window has passed by the injected clock', async () => {
    const warm = await warmed();
    warm.advance(FRESHNESS_MS - 1);
    const verifications = warm.verifications();
    expect((await warm.admit()).allowed).toBe(true);
    expect(warm.verifications()).toBe(verifications);
    warm.advance(1);
    const reads = warm.reads();
    expect((await warm.admit()).allowed).toBe(true);
    expect(warm.verifications()).toBe(verifications + 1);
    expect(warm.reads()).toBeGreaterThan(reads);
  });
});
