// cosign verification against the real docker-registry in token mode (`auth.token`, Docker's
// token auth, the loopback token service): the 401 challenge is answered with an anonymous
// token and the signature read; the operator's trust-server credentials are never sent to a
// registry's token service, since the registry is named by the image being verified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { httpGet } from './support/http-get.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTokenService, type TokenService } from './support/token-service.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

let ca: TestCa;
let tokens: TokenService;
let registry: DockerRegistry;
let scratch: string;
let key: CosignKeyPair;
let signed: PushedImage;
let stateDirs = 0;

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  ca = await createTestCa();
  tokens = await startTokenService({ ca, issuer: 'auth.trustgate.test', service: 'registry.trustgate.test' });
  registry = await startDockerRegistry(undefined, { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundleFile: tokens.rootCertBundleFile });
  scratch = await makeTempDir('cosign-token-auth');
  key = await createCosignKey(scratch, 'release');
  // The publisher's own token, as `docker push` would fetch it.
  const scope = encodeURIComponent('repository:cosign/private:pull,push repository:cosign/unsigned:pull,push');
  const answer = await httpGet(`${tokens.realm}?service=${tokens.service}&scope=${scope}`, ca.caFile);
  const publisher = { ...registry, pushHeaders: { authorization: `Bearer ${(JSON.parse(answer.body.toString('utf8')) as { token: string }).token}` } };
  signed = await pushImage(publisher, 'cosign/private', 'v1');
  await pushImage(publisher, 'cosign/unsigned', 'v1');
  await pushCosignSignatures(publisher, 'cosign/private', signed.digest, [signPayload(key, cosignPayload(`${registry.host}/cosign/private`, signed.digest))]);
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  await tokens?.stop();
  await removeDir(scratch);
  await ca?.remove();
});

async function verify(repository: string, extra: Readonly<Record<string, string>> = {}): Promise<TrustgateRun> {
  tokens.reset();
  stateDirs += 1;
  const stateDir = await makeTempDir(`cosign-token-state-${stateDirs}`);
  try {
    return await runTrustgate(['verify', `${registry.host}/${repository}:v1`, '--cosign-key', key.publicKeyFile, '--json'], { stateDir, caFile: ca.caFile, extra });
  } finally {
    await removeDir(stateDir);
  }
}

describe('trustgate verify --cosign-key against a registry with token auth', () => {
  it('answers the challenge with an anonymous pull token and verifies the signature', async () => {
    const run = await verify('cosign/private');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: signed.digest });
    const requests = tokens.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((request) => request.username === undefined && request.status === 200)).toBe(true);
    expect(requests[0]?.scopes).toEqual(['repository:cosign/private:pull']);
  });

  it('never sends the trust-server credentials to a registry\'s token service', async () => {
    const run = await verify('cosign/private', { TRUSTGATE_TRUST_USERNAME: 'operator', TRUSTGATE_TRUST_PASSWORD: 'secret-for-notary-only' });
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: signed.digest });
    expect(tokens.requests().map((request) => request.username)).not.toContain('operator');
  });

  it('denies an unsigned image behind token auth', async () => {
    expect((await verify('cosign/unsigned')).json).toMatchObject({ allowed: false, codes: ['COSIGN_SIGNATURE_MISSING'] });
  });
});
