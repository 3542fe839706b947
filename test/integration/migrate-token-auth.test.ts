// `trustgate migrate sign` pushing to the real docker-registry in token mode, whose token
// service (loopback, HTTPS) grants tokens only for the right Basic credentials: the push
// credentials come from `--registry-username` and TRUSTGATE_REGISTRY_PASSWORD, and without
// them nothing is written.
import { request } from 'node:https';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignKeySecretYaml } from '../support/key-secrets.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { NotaryCli } from './support/notary-cli.js';
import { startNotaryServer, type NotaryServer } from './support/notary-server.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTokenService, type TokenService } from './support/token-service.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

const CREDENTIALS = { username: 'ci', password: 'push-secret' };
let ca: TestCa;
let tokens: TokenService;
let registry: DockerRegistry;
let notary: NotaryServer;
let publisher: NotaryCli;
let scratch: string;
let signed: PushedImage;
let policiesDir: string;
let keyFile: string;
let states = 0;

// A token for the publisher, fetched with the credentials as `docker login` would.
function publisherToken(scope: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${tokens.realm}?service=${tokens.service}&scope=${encodeURIComponent(scope)}`);
    const authorization = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;
    request(url, { ca: readFileSync(ca.caFile), headers: { authorization } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString()) as { token: string }).token));
    })
      .on('error', reject)
      .end();
  });
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  ca = await createTestCa();
  tokens = await startTokenService({ ca, issuer: 'auth.trustgate.test', service: 'registry.trustgate.test', credentials: CREDENTIALS });
  registry = await startDockerRegistry(undefined, { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundleFile: tokens.rootCertBundleFile });
  notary = await startNotaryServer({ tls: true, ca });
  publisher = await NotaryCli.create(notary);
  scratch = await makeTempDir('migrate-token-auth');
  const token = await publisherToken('repository:mig/private:pull,push');
  signed = await pushImage({ ...registry, pushHeaders: { authorization: `Bearer ${token}` } }, 'mig/private', 'v1');
  const gun = `${registry.host}/mig/private`;
  await publisher.init(gun);
  await publisher.addHash(gun, 'v1', signed.size, signed.digest.slice('sha256:'.length));
  await publisher.publish(gun);
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  keyFile = join(scratch, 'carry-over.key');
  await writeFile(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  policiesDir = join(scratch, 'policies.yaml');
  await writeFile(
    policiesDir,
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: private}
spec:
  repositories:
    - name: "${registry.host}/mig/*"
      policy:
        trust: {enabled: true, trustServer: "${notary.url}"}
        sigstore: {authorities: [{key: {secretName: carry-over}}]}
        verification: {mode: any}
---
${cosignKeySecretYaml('carry-over', 'default', key.publicKey.export({ type: 'spki', format: 'pem' }).toString())}
`,
  );
}, 120_000);

afterAll(async () => {
  await publisher?.remove();
  await notary?.stop();
  await registry?.stop();
  await tokens?.stop();
  await removeDir(scratch);
  await ca?.remove();
});

// The token service listens on another port of the registry's host: the operator lists that
// host and port for the push password to be sent there.
const realmHostsEnv = (): Record<string, string> => ({ TRUSTGATE_REGISTRY_REALM_HOSTS: new URL(tokens.realm).host });

async function sign(extra: Readonly<Record<string, string>>, ...args: readonly string[]): Promise<TrustgateRun> {
  tokens.reset();
  states += 1;
  const stateDir = join(scratch, `state-${states}`);
  return runTrustgate(['migrate', 'sign', '--policies', policiesDir, '--cosign-key', keyFile, `${registry.host}/mig/private:v1`, '--format', 'classic', '--json', ...args], { stateDir, caFile: ca.caFile, extra });
}

describe('trustgate migrate sign against a registry with token auth', () => {
  it('writes nothing without push credentials (REGISTRY_PUSH_FAILED)', async () => {
    const result = await sign({});

    expect(JSON.parse(result.stdout), result.stderr).toMatchObject({ outcome: 'failed', digest: signed.digest, codes: ['REGISTRY_PUSH_FAILED'] });
    expect(tokens.requests().every((entry) => entry.username === undefined)).toBe(true);
  });

  it('sends the push password nowhere while the token service, on another port of the registry host, is not listed', async () => {
    const result = await sign({ TRUSTGATE_REGISTRY_PASSWORD: CREDENTIALS.password, TRUSTGATE_REGISTRY_REALM_HOSTS: new URL(tokens.realm).hostname }, '--registry-username', CREDENTIALS.username);

    expect(JSON.parse(result.stdout), result.stderr).toMatchObject({ outcome: 'failed', digest: signed.digest });
    expect(tokens.requests().map((entry) => entry.username)).not.toContain(CREDENTIALS.username);
  });

  it('signs with --registry-username and the password from TRUSTGATE_REGISTRY_PASSWORD, sent only to the token service', async () => {
    const result = await sign({ TRUSTGATE_REGISTRY_PASSWORD: CREDENTIALS.password, ...realmHostsEnv() }, '--registry-username', CREDENTIALS.username);

    expect(JSON.parse(result.stdout), result.stderr).toMatchObject({ outcome: 'signed', digest: signed.digest });
    // The registry names the actions in its challenge; their order is the registry's.
    const pushes = (scope: string): boolean => (scope.split(':').pop() ?? '').split(',').includes('push');
    expect(tokens.requests().some((entry) => entry.username === CREDENTIALS.username && entry.scopes.some(pushes)), JSON.stringify(tokens.requests())).toBe(true);
  });

  it('skips on a second run with the same credentials', async () => {
    const result = await sign({ TRUSTGATE_REGISTRY_PASSWORD: CREDENTIALS.password, ...realmHostsEnv() }, '--registry-username', CREDENTIALS.username);

    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'skipped' });
  });
});
