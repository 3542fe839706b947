// Docker token auth end to end: the real notary-server in token mode (docker/distribution's
// token verifier), a loopback token service issuing ES256 JWTs with an x5c chain to the
// server's root bundle, the real notary client publishing through it with Basic
// credentials, and trustgate (the built CLI, and `trustgate serve`) reading through it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNotaryServer, type NotaryServer } from './support/notary-server.js';
import { runCommandOrThrow } from './support/run-command.js';
import { randomTarget, uniqueGun, type TargetDigest } from './support/scenarios.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTokenService, type TokenRequestRecord, type TokenService } from './support/token-service.js';
import { runTrustgate, runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { REGISTRY_HOST } from './support/scenarios.js';
import { httpsRequest, startTrustgateServe } from './support/trustgate-serve.js';

const ACCOUNT = { username: 'ci-account', password: 'account-password-1' };
const PASSPHRASE = 'trustgate-token-auth-passphrase';

let ca: TestCa;
let tokens: TokenService;
let server: NotaryServer;
let scratch: string;
let gun: string;
let target: TargetDigest;
// What the token service saw while the notary client published.
let publisherRequests: readonly TokenRequestRecord[];
let stateDirs = 0;

beforeAll(async () => {
  ca = await createTestCa();
  tokens = await startTokenService({ ca, issuer: 'auth.trustgate.test', service: 'notary.trustgate.test', credentials: ACCOUNT });
  server = await startNotaryServer({
    ca,
    auth: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundleFile: tokens.rootCertBundleFile },
  });
  scratch = await makeTempDir('token-auth');
  gun = uniqueGun('token-auth');
  target = randomTarget();
  await publish(gun, target);
  publisherRequests = tokens.requests();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await tokens?.stop();
  await removeDir(scratch);
  await ca?.remove();
});

beforeEach(() => {
  tokens.reset();
});

// Signs `v1` in targets with the real notary client. The client authenticates to the token
// service itself: on the server's challenge it sends the Basic credentials of NOTARY_AUTH
// (base64 user:password), which is how it runs without prompting.
async function publish(name: string, signed: TargetDigest): Promise<void> {
  const trustDir = join(scratch, 'publisher');
  const env = {
    PATH: process.env['PATH'],
    HOME: trustDir,
    NOTARY_ROOT_PASSPHRASE: PASSPHRASE,
    NOTARY_TARGETS_PASSPHRASE: PASSPHRASE,
    NOTARY_SNAPSHOT_PASSPHRASE: PASSPHRASE,
    NOTARY_AUTH: Buffer.from(`${ACCOUNT.username}:${ACCOUNT.password}`).toString('base64'),
  };
  const notary = (args: readonly string[]): Promise<unknown> =>
    runCommandOrThrow('notary', ['-d', trustDir, '-s', server.url, '--tlscacert', ca.caFile, ...args], { env });
  await notary(['init', name]);
  await notary(['key', 'rotate', name, 'snapshot', '-r']);
  await notary(['addhash', name, 'v1', String(signed.size), '--sha256', signed.digestHex]);
  await notary(['publish', name]);
}

// The token service listens on another port of the trust server's host: the operator lists
// that host and port for the credentials to be sent there.
const realmHostsEnv = (): Record<string, string> => ({ TRUSTGATE_TRUST_REALM_HOSTS: new URL(tokens.realm).host });

// `trustgate verify GUN:v1` with a fresh state directory and the given token credentials.
async function verify(credentials?: { username: string; password: string }): Promise<TrustgateRun> {
  stateDirs += 1;
  const stateDir = join(scratch, `state-${stateDirs}`);
  return runTrustgateVerify({
    image: `${gun}:v1`,
    trustServer: server.url,
    caFile: ca.caFile,
    stateDir,
    ...(credentials === undefined
      ? {}
      : { env: { TRUSTGATE_TRUST_USERNAME: credentials.username, TRUSTGATE_TRUST_PASSWORD: credentials.password, ...realmHostsEnv() } }),
  });
}

function expectUnavailable(run: TrustgateRun): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null });
  expect(run.json?.codes).toEqual(['TRUST_SERVER_UNAVAILABLE']);
  expect(run.exitCode).toBe(1);
}

// The server log lines of requests trustgate made for this GUN's metadata, after `from`.
function trustgateMetadataRequests(from: number): { uri: string; status: number }[] {
  return server
    .log()
    .slice(from)
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        const uri = entry['http.request.uri'];
        const status = entry['http.response.status'];
        const ok = entry['http.request.useragent'] === 'trustgate' && typeof uri === 'string' && typeof status === 'number';
        return ok && uri.startsWith(`/v2/${gun}/_trust/tuf/`) ? [{ uri, status }] : [];
      } catch {
        return [];
      }
    });
}

describe('notary-server with token auth', () => {
  it('refuses an anonymous metadata read with a Bearer challenge for the pull scope', async () => {
    const response = await httpsRequest(server.metadataUrl(gun, 'timestamp.json'), await readFile(ca.caFile, 'utf8'));
    expect(response.status).toBe(401);
    const challenge = String(response.headers['www-authenticate']);
    expect(challenge).toContain(`realm="${tokens.realm}"`);
    expect(challenge).toContain(`service="${tokens.service}"`);
    expect(challenge).toContain(`scope="repository:${gun}:pull"`);
  });

  it('accepted the tokens the real notary client fetched with Basic credentials to publish', () => {
    expect(publisherRequests.length).toBeGreaterThan(0);
    expect(publisherRequests.every(({ username, status }) => username === ACCOUNT.username && status === 200)).toBe(true);
    expect(publisherRequests.map(({ scopes }) => scopes)).toContainEqual([`repository:${gun}:push,pull`]);
  });
});

describe('trustgate verify through token auth', () => {
  describe('when the token service accepts the configured credentials', () => {
    it('allows with the published digest after asking for the pull scope with Basic credentials', async () => {
      const run = await verify(ACCOUNT);

      expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${target.digestHex}`, signers: ['targets'], codes: [] });
      expect(tokens.requests()).toEqual([
        {
          service: tokens.service,
          scopes: [`repository:${gun}:pull`],
          username: ACCOUNT.username,
          status: 200,
          granted: [{ type: 'repository', name: gun, actions: ['pull'] }],
        },
      ]);
    });

    it('fetches one token for every metadata file it reads', async () => {
      const logStart = server.log().length;

      const run = await verify(ACCOUNT);

      expect(run.json?.allowed, run.stderr).toBe(true);
      expect(tokens.requests()).toHaveLength(1);
      const requests = trustgateMetadataRequests(logStart);
      // One challenge, then root, timestamp, snapshot and targets all with the same token.
      expect(requests.filter((request) => request.status === 401)).toHaveLength(1);
      expect(requests.filter((request) => request.status === 200).length).toBeGreaterThanOrEqual(4);
    });
  });

  describe('when the password is wrong', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE after the token service answers 401', async () => {
      const run = await verify({ username: ACCOUNT.username, password: 'not-the-password' });

      expectUnavailable(run);
      expect(tokens.requests().map(({ username, status }) => ({ username, status }))).toEqual([{ username: ACCOUNT.username, status: 401 }]);
    });
  });

  describe('when no credentials are configured', () => {
    it('asks anonymously and denies with TRUST_SERVER_UNAVAILABLE', async () => {
      const run = await verify();

      expectUnavailable(run);
      expect(tokens.requests().map(({ username, status }) => ({ username, status }))).toEqual([{ username: undefined, status: 401 }]);
    });
  });

  describe('when the token is signed by a certificate outside the root bundle', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE because notary-server refuses the token', async () => {
      tokens.setTokenForm('untrusted-signer');
      const logStart = server.log().length;

      const run = await verify(ACCOUNT);

      expectUnavailable(run);
      expect(tokens.requests().map(({ status }) => status)).toEqual([200]);
      expect(trustgateMetadataRequests(logStart).map(({ status }) => status)).toEqual([401, 401]);
    });
  });

  describe('when the token carries aud as a list', () => {
    it('denies with TRUST_SERVER_UNAVAILABLE because notary-server wants a string', async () => {
      tokens.setTokenForm('audience-list');
      const logStart = server.log().length;

      const run = await verify(ACCOUNT);

      expectUnavailable(run);
      expect(tokens.requests().map(({ status }) => status)).toEqual([200]);
      expect(trustgateMetadataRequests(logStart).map(({ status }) => status)).toEqual([401, 401]);
    });
  });
});

describe('trustgate serve through token auth', () => {
  it('reuses one token across verifications in the same process', async () => {
    const policiesDir = join(scratch, 'policies');
    await mkdir(policiesDir);
    await writeFile(join(policiesDir, 'cluster.yaml'), clusterPolicy());
    const serve = await startTrustgateServe({
      policiesDir,
      stateDir: join(scratch, 'serve-state'),
      caFile: ca.caFile,
      // Freshness 0: each verification reads the trust server again.
      env: { TRUSTGATE_TRUST_USERNAME: ACCOUNT.username, TRUSTGATE_TRUST_PASSWORD: ACCOUNT.password, TRUSTGATE_FRESHNESS: '0', ...realmHostsEnv() },
    });
    try {
      const logStart = server.log().length;
      const body = JSON.stringify({ image: `${gun}:v1`, namespace: 'default' });
      const post = (): Promise<{ status: number; text: string }> =>
        httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body });

      const first = await post();
      const second = await post();

      for (const answer of [first, second]) {
        expect(answer.status, answer.text).toBe(200);
        expect(JSON.parse(answer.text)).toMatchObject({ allowed: true, digest: `sha256:${target.digestHex}` });
      }
      expect(tokens.requests()).toHaveLength(1);
      const timestampReads = trustgateMetadataRequests(logStart).filter(({ uri, status }) => uri.endsWith('/timestamp.json') && status === 200);
      expect(timestampReads).toHaveLength(2);
    } finally {
      await serve.stop();
    }
  });
});

function clusterPolicy(): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: token-auth
spec:
  repositories:
    - name: "${gun}"
      policy:
        trust:
          enabled: true
          trustServer: "${server.url}"
`;
}

describe('trustgate verify through token auth with the workload\'s pull secret', () => {
  // A pull secret for the image's registry: its credentials go to the token service of the
  // trust server the policy names (its realm, on another port of that server's host, listed
  // by the operator), in place of the operator's, which are not configured here.
  async function verifyWithPullSecret(password: string): Promise<TrustgateRun> {
    stateDirs += 1;
    const policiesDir = join(scratch, `pull-secret-policies-${stateDirs}`);
    await mkdir(policiesDir);
    const config = { auths: { [REGISTRY_HOST]: { username: ACCOUNT.username, password } } };
    const secret = [
      'apiVersion: v1',
      'kind: Secret',
      'metadata: {name: regcred, namespace: team}',
      'type: kubernetes.io/dockerconfigjson',
      `data: {.dockerconfigjson: ${Buffer.from(JSON.stringify(config)).toString('base64')}}`,
    ].join('\n');
    await writeFile(join(policiesDir, 'policies.yaml'), `${signedTestRegistryPolicy(server.url)}\n---\n${secret}\n`);
    return runTrustgate(['verify', `${gun}:v1`, '--policies', policiesDir, '--namespace', 'team', '--image-pull-secret', 'regcred', '--json'], {
      stateDir: join(scratch, `state-${stateDirs}`),
      caFile: ca.caFile,
      extra: realmHostsEnv(),
    });
  }

  it('reads the trust data with the pull secret\'s credentials', async () => {
    const run = await verifyWithPullSecret(ACCOUNT.password);
    expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${target.digestHex}` });
    expect(tokens.requests().length).toBeGreaterThan(0);
    expect(tokens.requests().every(({ username, status }) => username === ACCOUNT.username && status === 200)).toBe(true);
  });

  it('denies with REGISTRY_CREDENTIALS_REJECTED when the token service refuses them, naming no value', async () => {
    const run = await verifyWithPullSecret('not-the-password-7');
    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['REGISTRY_CREDENTIALS_REJECTED'] });
    expect(run.stdout + run.stderr).not.toContain('not-the-password-7');
  });
});
