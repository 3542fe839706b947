// Registry credentials from pull secrets, against the real docker-registry in token mode
// (`auth.token`) whose token service grants pulls only with one user name and password:
// the workload's pull secret (a kubernetes.io/dockerconfigjson Secret of the policy files,
// named by the pod or by its service account) is what lets trustgate read the cosign
// signature. A wrong password is denied as REGISTRY_CREDENTIALS_REJECTED, and no secret
// value appears in any answer, log line or metric.
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './support/cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './support/docker-registry.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTokenService, type TokenService } from './support/token-service.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { admitPodImage, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const USERNAME = 'puller';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(12).toString('hex')}`;

let ca: TestCa;
let tokens: TokenService;
let registry: DockerRegistry;
let scratch: string;
let policiesDir: string;
let key: CosignKeyPair;
let signed: PushedImage;
let serve: ServeProcess | undefined;
let stateDirs = 0;

// Every spelling of a secret value that could leak: as written, and base64 of user:password.
function secretSpellings(): string[] {
  return [PASSWORD, WRONG_PASSWORD, ...[PASSWORD, WRONG_PASSWORD].map((password) => Buffer.from(`${USERNAME}:${password}`).toString('base64'))];
}

function expectNoSecret(text: string): void {
  for (const spelling of secretSpellings()) expect(text).not.toContain(spelling);
}

// A token the way `docker login` + `docker push` gets one: Basic credentials to the realm.
function publisherToken(scope: string): Promise<string> {
  const url = `${tokens.realm}?service=${tokens.service}&scope=${encodeURIComponent(scope)}`;
  const authorization = `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { ca: readFileSync(ca.caFile), headers: { authorization } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token: string }).token));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function dockerConfigSecret(name: string, namespace: string, password: string): string {
  const config = { auths: { [registry.host]: { auth: Buffer.from(`${USERNAME}:${password}`).toString('base64') } } };
  return [
    'apiVersion: v1',
    'kind: Secret',
    `metadata: {name: ${name}, namespace: ${namespace}}`,
    'type: kubernetes.io/dockerconfigjson',
    `data: {.dockerconfigjson: ${Buffer.from(JSON.stringify(config)).toString('base64')}}`,
  ].join('\n');
}

function keySecret(namespace: string): string {
  return ['apiVersion: v1', 'kind: Secret', `metadata: {name: release-key, namespace: ${namespace}}`, 'stringData:', '  cosign.pub: |', ...key.publicKeyPem.trim().split('\n').map((line) => `    ${line}`)].join('\n');
}

beforeAll(async () => {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  ca = await createTestCa();
  tokens = await startTokenService({ ca, issuer: 'auth.trustgate.test', service: 'registry.trustgate.test', credentials: { username: USERNAME, password: PASSWORD } });
  registry = await startDockerRegistry(undefined, { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundleFile: tokens.rootCertBundleFile });
  scratch = await makeTempDir('registry-pull-secrets');
  key = await createCosignKey(scratch, 'release');
  const publisher = { ...registry, pushHeaders: { authorization: `Bearer ${await publisherToken('repository:private/app:pull,push')}` } };
  signed = await pushImage(publisher, 'private/app', 'v1');
  await pushCosignSignatures(publisher, 'private/app', signed.digest, [signPayload(key, cosignPayload(`${registry.host}/private/app`, signed.digest))]);
  policiesDir = join(scratch, 'policies');
  await import('node:fs/promises').then((fs) => fs.mkdir(policiesDir));
  const policy = [
    'apiVersion: portieris.cloud.ibm.com/v1',
    'kind: ClusterImagePolicy',
    'metadata: {name: private-registry}',
    'spec:',
    '  repositories:',
    `    - name: "${registry.host}/*"`,
    '      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}',
  ].join('\n');
  const documents = [
    policy,
    keySecret('team'),
    dockerConfigSecret('regcred', 'team', PASSWORD),
    dockerConfigSecret('wrongcred', 'team', WRONG_PASSWORD),
    keySecret('by-account'),
    dockerConfigSecret('regcred', 'by-account', PASSWORD),
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: by-account}\nimagePullSecrets: [{name: regcred}]',
  ];
  await writeFile(join(policiesDir, 'policies.yaml'), `${documents.join('\n---\n')}\n`);
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await registry?.stop();
  await tokens?.stop();
  await removeDir(scratch);
  await ca?.remove();
});

async function verify(namespace: string, args: readonly string[] = []): Promise<TrustgateRun> {
  tokens.reset();
  stateDirs += 1;
  const stateDir = await makeTempDir(`pull-secrets-state-${stateDirs}`);
  try {
    return await runTrustgate(['verify', `${registry.host}/private/app:v1`, '--policies', policiesDir, '--namespace', namespace, ...args, '--json'], { stateDir, caFile: ca.caFile });
  } finally {
    await removeDir(stateDir);
  }
}

describe('trustgate verify with a pull secret against a registry that needs credentials', () => {
  it('reads the signature with the credentials of the pull secret the workload names', async () => {
    const run = await verify('team', ['--image-pull-secret', 'regcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: signed.digest });
    const requests = tokens.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((entry) => entry.username === USERNAME && entry.status === 200)).toBe(true);
    expectNoSecret(run.stdout + run.stderr);
  });

  it('uses the pull secrets of the namespace\'s default service account', async () => {
    const run = await verify('by-account');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: signed.digest });
  });

  it('denies with REGISTRY_CREDENTIALS_REJECTED when the registry refuses the credentials, naming the Secret and no value', async () => {
    const run = await verify('team', ['--image-pull-secret', 'wrongcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['REGISTRY_CREDENTIALS_REJECTED'] });
    expect(run.json?.reasons.join(' ')).toContain('Secret team/wrongcred');
    expect(tokens.requests().map((entry) => entry.status)).toContain(401);
    expectNoSecret(run.stdout + run.stderr);
  });

  it('tries the next matching credential when the first is refused', async () => {
    const run = await verify('team', ['--image-pull-secret', 'wrongcred', '--image-pull-secret', 'regcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: signed.digest });
  });

  it('asks anonymously without a pull secret, and is refused', async () => {
    const run = await verify('team');
    expect(run.json?.allowed).toBe(false);
    expect(tokens.requests().every((entry) => entry.username === undefined)).toBe(true);
  });
});

describe('trustgate serve admitting a pod whose pull secret holds the only working credential', () => {
  beforeAll(async () => {
    serve = await startTrustgateServe({ policiesDir, stateDir: await makeTempDir('pull-secrets-serve'), caFile: ca.caFile });
  }, 30_000);

  it('admits the pod naming the pull secret and pins the signed digest', async () => {
    const answer = await admitPodImage(serve as ServeProcess, `${registry.host}/private/app:v1`, 'team', { imagePullSecrets: [{ name: 'regcred' }] });
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
    expect(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')).toContain(signed.digest);
  });

  it('denies the same pod with the wrong pull secret, and no secret value reaches the answer, the log or the metrics', async () => {
    const answer = await admitPodImage(serve as ServeProcess, `${registry.host}/private/app:v1`, 'team', { imagePullSecrets: [{ name: 'wrongcred' }] });
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.message).toContain('REGISTRY_CREDENTIALS_REJECTED');
    expectNoSecret(JSON.stringify(answer));
    const metrics = await fetchText(`${(serve as ServeProcess).url}/metrics`, (serve as ServeProcess).caPem);
    expectNoSecret(metrics);
    expectNoSecret((serve as ServeProcess).output());
  });
});

function fetchText(url: string, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { ca: caPem }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}
