// Registry credentials from pull secrets, against the real docker-registry in token mode
// (`auth.token`) whose token service grants pulls only with one user name and password:
// the workload's pull secret (a kubernetes.io/dockerconfigjson Secret of the policy files,
// named by the pod or by its service account) is what lets trustgate read the cosign
// signature. A wrong password is denied as REGISTRY_CREDENTIALS_REJECTED, and no secret
// value appears in any answer, log line or metric. Where the registry also serves anyone,
// serve's verdict on the anonymous reading (kept in memory) never answers a pod with pull
// secrets: its admission is decided from a read with its own credentials.
import { request } from 'node:https';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRegistryPolicy, pullSecretDocument, startPrivateRegistry, type PrivateRegistry } from './support/private-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';
import { admitPodImage, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

let registry: PrivateRegistry;
let scratch: string;
let policiesDir: string;
let serve: ServeProcess | undefined;
let stateDirs = 0;

function expectNoSecret(text: string): void {
  for (const spelling of registry.secretSpellings) expect(text).not.toContain(spelling);
}

beforeAll(async () => {
  registry = await startPrivateRegistry();
  scratch = await makeTempDir('registry-pull-secrets');
  policiesDir = join(scratch, 'policies');
  await mkdir(policiesDir);
  const documents = [
    ...privateRegistryPolicy(registry, ['team', 'by-account']),
    pullSecretDocument(registry, 'regcred', 'team', registry.password),
    pullSecretDocument(registry, 'wrongcred', 'team', registry.wrongPassword),
    pullSecretDocument(registry, 'regcred', 'by-account', registry.password),
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: by-account}\nimagePullSecrets: [{name: regcred}]',
  ];
  await writeFile(join(policiesDir, 'policies.yaml'), `${documents.join('\n---\n')}\n`);
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await registry?.stop();
  await removeDir(scratch);
});

async function verify(namespace: string, args: readonly string[] = [], env: Readonly<Record<string, string>> = registry.realmHostsEnv, policies = policiesDir): Promise<TrustgateRun> {
  registry.tokens.reset();
  stateDirs += 1;
  const stateDir = await makeTempDir(`pull-secrets-state-${stateDirs}`);
  try {
    return await runTrustgate(['verify', registry.image, '--policies', policies, '--namespace', namespace, ...args, '--json'], { stateDir, caFile: registry.ca.caFile, extra: env });
  } finally {
    await removeDir(stateDir);
  }
}

describe('trustgate verify with a pull secret against a registry that needs credentials', () => {
  it('reads the signature with the credentials of the pull secret the workload names', async () => {
    const run = await verify('team', ['--image-pull-secret', 'regcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: registry.signed.digest });
    const requests = registry.tokens.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((entry) => entry.username === registry.username && entry.status === 200)).toBe(true);
    expectNoSecret(run.stdout + run.stderr);
  });

  it("uses the pull secrets of the namespace's default service account", async () => {
    const run = await verify('by-account');
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: registry.signed.digest });
  });

  it('denies with REGISTRY_CREDENTIALS_REJECTED when the registry refuses the credentials, naming the Secret and no value', async () => {
    const run = await verify('team', ['--image-pull-secret', 'wrongcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['REGISTRY_CREDENTIALS_REJECTED'] });
    expect(run.json?.reasons.join(' ')).toContain('Secret team/wrongcred');
    expect(registry.tokens.requests().map((entry) => entry.status)).toContain(401);
    expectNoSecret(run.stdout + run.stderr);
  });

  it('tries the next matching credential when the first is refused', async () => {
    const run = await verify('team', ['--image-pull-secret', 'wrongcred', '--image-pull-secret', 'regcred']);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: registry.signed.digest });
  });

  it('reads a pull secret whose field names are spelled as the kubelet accepts them (Auths, Auth: Go matches them in any case)', async () => {
    const spelled = join(scratch, 'go-spelled-policies');
    await mkdir(spelled, { recursive: true });
    const config = JSON.stringify({ Auths: { [registry.registry.host]: { Auth: Buffer.from(`${registry.username}:${registry.password}`).toString('base64') } } });
    const secret = pullSecretDocument(registry, 'regcred', 'team', registry.password).replace(/\.dockerconfigjson: \S+\}$/, `.dockerconfigjson: ${Buffer.from(config).toString('base64')}}`);
    expect(secret).toContain(Buffer.from(config).toString('base64'));
    await writeFile(join(spelled, 'policies.yaml'), `${[...privateRegistryPolicy(registry, ['team']), secret].join('\n---\n')}\n`);
    const run = await verify('team', ['--image-pull-secret', 'regcred'], registry.realmHostsEnv, spelled);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: registry.signed.digest });
    expect(registry.tokens.requests().some((entry) => entry.username === registry.username && entry.status === 200)).toBe(true);
    expectNoSecret(run.stdout + run.stderr);
  });

  it('sends nothing to a token service on another port of the registry host unless the operator lists that host and port', async () => {
    const tokenHost = new URL(registry.tokens.realm).hostname;
    for (const env of [{}, { TRUSTGATE_TRUST_REALM_HOSTS: tokenHost }]) {
      const run = await verify('team', ['--image-pull-secret', 'regcred'], env);
      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['TRUST_AUTH_REALM_REFUSED'] });
      expect(registry.tokens.requests()).toEqual([]);
      expectNoSecret(run.stdout + run.stderr);
    }
  });

  it('asks anonymously without a pull secret, and is refused', async () => {
    const run = await verify('team');
    expect(run.json?.allowed).toBe(false);
    expect(registry.tokens.requests().every((entry) => entry.username === undefined)).toBe(true);
  });
});

describe('trustgate serve admitting a pod whose pull secret holds the only working credential', () => {
  beforeAll(async () => {
    serve = await startTrustgateServe({ policiesDir, stateDir: await makeTempDir('pull-secrets-serve'), caFile: registry.ca.caFile, env: registry.realmHostsEnv });
  }, 30_000);

  it('admits the pod naming the pull secret and pins the signed digest', async () => {
    const answer = await admitPodImage(serve as ServeProcess, registry.image, 'team', { imagePullSecrets: [{ name: 'regcred' }] });
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
    expect(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')).toContain(registry.signed.digest);
  });

  it('denies the same pod with the wrong pull secret, and no secret value reaches the answer, the log or the metrics', async () => {
    const answer = await admitPodImage(serve as ServeProcess, registry.image, 'team', { imagePullSecrets: [{ name: 'wrongcred' }] });
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.message).toContain('REGISTRY_CREDENTIALS_REJECTED');
    expectNoSecret(JSON.stringify(answer));
    expectNoSecret(await fetchText(`${(serve as ServeProcess).url}/metrics`, (serve as ServeProcess).caPem));
    expectNoSecret((serve as ServeProcess).output());
  });
});

describe('trustgate serve admitting pods with and without pull secrets from a registry that also serves anyone', () => {
  let open: PrivateRegistry | undefined;
  let openServe: ServeProcess | undefined;
  const started = (): { registry: PrivateRegistry; serve: ServeProcess } => {
    if (open === undefined || openServe === undefined) throw new Error('the registry or serve did not start');
    return { registry: open, serve: openServe };
  };

  beforeAll(async () => {
    open = await startPrivateRegistry({ anonymousPulls: true });
    const dir = join(scratch, 'open-policies');
    await mkdir(dir);
    const documents = [
      ...privateRegistryPolicy(open, ['team']),
      pullSecretDocument(open, 'regcred', 'team', open.password),
      pullSecretDocument(open, 'wrongcred', 'team', open.wrongPassword),
    ];
    await writeFile(join(dir, 'policies.yaml'), `${documents.join('\n---\n')}\n`);
    openServe = await startTrustgateServe({ policiesDir: dir, stateDir: await makeTempDir('pull-secrets-open-serve'), caFile: open.ca.caFile, env: { TRUSTGATE_FRESHNESS: '1h', ...open.realmHostsEnv } });
  }, 60_000);

  afterAll(async () => {
    await openServe?.stop();
    await open?.stop();
  });

  // Admits a pod without pull secrets until its verdict is answered from memory (no token
  // request on the last admission).
  async function warmAnonymously(): Promise<void> {
    const { registry, serve } = started();
    for (let round = 0; round < 2; round += 1) {
      const answer = await admitPodImage(serve, registry.image, 'team');
      expect(answer.response.allowed, answer.response.status.message).toBe(true);
    }
    registry.tokens.reset();
    expect((await admitPodImage(serve, registry.image, 'team')).response.allowed).toBe(true);
    expect(registry.tokens.requests()).toEqual([]);
  }

  it('denies a pod whose pull secret the registry refuses, though the anonymous verdict is kept', async () => {
    const { registry, serve } = started();
    await warmAnonymously();
    const answer = await admitPodImage(serve, registry.image, 'team', { imagePullSecrets: [{ name: 'wrongcred' }] });
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.message).toContain('REGISTRY_CREDENTIALS_REJECTED');
    expect(registry.tokens.requests().some((entry) => entry.username === registry.username && entry.status === 401)).toBe(true);
    expectNoSecret(JSON.stringify(answer));
  });

  it('admits a pod with a working pull secret from a read with its credentials, not from the anonymous verdict', async () => {
    const { registry, serve } = started();
    await warmAnonymously();
    const answer = await admitPodImage(serve, registry.image, 'team', { imagePullSecrets: [{ name: 'regcred' }] });
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
    expect(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')).toContain(registry.signed.digest);
    const requests = registry.tokens.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((entry) => entry.username === registry.username && entry.status === 200)).toBe(true);
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
