// The trust store must never become a way in. Against the real notary-server and a real
// DynamoDB-compatible server (dynalite): a repository is verified once, then replaced on the
// trust server (new root keys, `v1` signed to another digest), as whoever took over the
// trust server would do. The replacement is refused with the store up, with the store killed
// after the first verification, and with the store unreachable from the start, by the CLI,
// `trustgate serve` and the verify-image Lambda bundle; a request that pins root key IDs
// still verifies without the store; a missing table is refused at start by each; `store
// init` and `store check` round-trip; and older authenticated rows written back next to the
// current freshness record send the verifier to the trust server instead of answering the
// revoked digest.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeStoreKey } from '../../shared/cache/store-key.js';
import { trustedStateKey } from '../../shared/trust/notary/trusted-state-store.js';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { bundlePath, ensureBuilt } from './support/built-bundles.js';
import { getFreePort } from './support/free-port.js';
import { NotaryCli } from './support/notary-cli.js';
import { runBundle } from './support/run-bundle.js';
import { randomTarget, uniqueGun, type TargetDigest } from './support/scenarios.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgate, runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

const EXPLICIT_TRUST_TOKEN = 'explicit-trust-token-for-store-faults';

const VERIFY_IMAGE_LAMBDA = bundlePath('verify-image', 'lambda');
const STATE_KEY = randomBytes(32).toString('hex');

let env: TrustEnvironment;
// A store that stays up for the whole file.
let steady: DynaliteServer;

beforeAll(async () => {
  ensureBuilt([VERIFY_IMAGE_LAMBDA]);
  env = await startTrustEnvironment();
  steady = await startDynalite();
}, 60_000);

afterAll(async () => {
  await steady?.stop();
  await env?.stop();
});

// What someone who took over the trust server does: deletes the repository and publishes
// their own under the same GUN, with new root keys and `v1` signed to their digest.
async function replaceRepositoryOnServer(gun: string): Promise<TargetDigest> {
  await env.publisher.deleteRemote(gun);
  const attacker = await NotaryCli.create(env.server);
  const forged = randomTarget();
  try {
    await attacker.init(gun);
    await attacker.addHash(gun, 'v1', forged.size, forged.digestHex);
    await attacker.publish(gun);
  } finally {
    await attacker.remove();
  }
  return forged;
}

interface StoreUnderTest {
  readonly endpoint: string;
  readonly table: string;
  // What a process needs in its environment to use the table.
  readonly env: Readonly<Record<string, string>>;
  readonly flags: readonly string[];
}

// A fresh table on `dynamo`, created with `trustgate store init` as an operator would.
async function newTable(dynamo: DynaliteServer): Promise<StoreUnderTest> {
  const table = `trustgate-${randomBytes(4).toString('hex')}`;
  const store = storeAt(dynamo.endpoint, table, dynamo.clientEnv);
  const init = await runTrustgate(['store', 'init', ...store.flags], { stateDir: await env.makeDir('unused'), extra: store.env });
  expect(init.exitCode, init.stderr).toBe(0);
  return store;
}

function storeAt(endpoint: string, table: string, clientEnv: Readonly<Record<string, string>>): StoreUnderTest {
  return {
    endpoint,
    table,
    env: { ...clientEnv, TRUSTGATE_STATE_KEY: STATE_KEY, NODE_NO_WARNINGS: '1' },
    flags: ['--dynamodb-table', table, '--dynamodb-endpoint', endpoint],
  };
}

// The steady table's store with no AWS region anywhere: not in the environment, and an AWS
// config file that does not exist.
async function storeWithoutRegion(): Promise<StoreUnderTest> {
  const awsDir = await env.makeDir('no-aws-config');
  const store = await newTable(steady);
  const withoutRegion = Object.fromEntries(Object.entries(store.env).filter(([name]) => name !== 'AWS_REGION' && name !== 'AWS_DEFAULT_REGION'));
  return { ...store, env: { ...withoutRegion, AWS_CONFIG_FILE: join(awsDir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(awsDir, 'credentials') } };
}

// An endpoint nothing listens on: a store unreachable from the start.
async function unreachableStore(): Promise<StoreUnderTest> {
  return storeAt(`http://127.0.0.1:${await getFreePort()}`, 'trustgate-state', steady.clientEnv);
}

async function cliVerify(image: string, store: StoreUnderTest, options: { rootKeyIds?: readonly string[]; extraArgs?: readonly string[] } = {}): Promise<TrustgateRun> {
  return runTrustgateVerify({
    image,
    trustServer: env.server.url,
    caFile: env.caFile,
    stateDir: await env.makeDir('unused-state'),
    extraArgs: [...store.flags, ...(options.extraArgs ?? [])],
    env: store.env,
    ...(options.rootKeyIds === undefined ? {} : { rootKeyIds: options.rootKeyIds }),
  });
}

describe('the trust store under faults, with the DynamoDB backend', () => {
  describe('trustgate verify (CLI)', () => {
    it('denies the replaced repository while the store is up', async () => {
      const store = await newTable(steady);
      const gun = uniqueGun('cli-store-up');
      const genuine = await env.scenarios.signedInTargets(gun, 'v1');
      expect((await cliVerify(`${gun}:v1`, store)).json).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
      await replaceRepositoryOnServer(gun);
      const run = await cliVerify(`${gun}:v1`, store);
      expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_THRESHOLD_NOT_MET'] });
    });

    it('denies it with STATE_STORE_FAILED once the store is killed, where a fresh state would allow it', async () => {
      const dynamo = await startDynalite();
      try {
        const store = await newTable(dynamo);
        const gun = uniqueGun('cli-store-killed');
        const genuine = await env.scenarios.signedInTargets(gun, 'v1');
        expect((await cliVerify(`${gun}:v1`, store)).json).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
        const forged = await replaceRepositoryOnServer(gun);
        // What trust on first use would answer: the attacker's digest.
        const firstUse = await cliVerify(`${gun}:v1`, await newTable(steady));
        expect(firstUse.json, firstUse.stderr).toMatchObject({ allowed: true, digest: `sha256:${forged.digestHex}` });
        await dynamo.stop();
        const run = await cliVerify(`${gun}:v1`, store);
        expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null, codes: ['STATE_STORE_FAILED'] });
        expect(run.json?.reasons.join(' ')).toMatch(/store unavailable/);
        expect(run.exitCode).toBe(1);
      } finally {
        await dynamo.stop();
      }
    });

    it('denies a repository with STATE_STORE_FAILED when the store is unreachable from the start', async () => {
      const gun = uniqueGun('cli-store-unreachable');
      await env.scenarios.signedInTargets(gun, 'v1');
      const run = await cliVerify(`${gun}:v1`, await unreachableStore());
      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
    });

    it('denies with STATE_STORE_FAILED when the store accepts connections but never answers', async () => {
      const sockets: Socket[] = [];
      const silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const gun = uniqueGun('cli-store-slow');
        await env.scenarios.signedInTargets(gun, 'v1');
        const store = storeAt(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 'trustgate-state', steady.clientEnv);
        const run = await cliVerify(`${gun}:v1`, store);
        expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('verifies a request that pins the root key IDs with the store unreachable, and refuses the replacement under the same pins', async () => {
      const gun = uniqueGun('cli-pinned');
      const genuine = await env.scenarios.signedInTargets(gun, 'v1');
      const rootKeyIds = await env.publisher.rootKeyIds(gun);
      const store = await unreachableStore();
      const run = await cliVerify(`${gun}:v1`, store, { rootKeyIds });
      expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
      await replaceRepositoryOnServer(gun);
      const replaced = await cliVerify(`${gun}:v1`, store, { rootKeyIds });
      expect(replaced.json, replaced.stderr).toMatchObject({ allowed: false, codes: ['TRUST_ROOT_KEY_MISMATCH'] });
    });

    it('exits 2 naming the table when the table does not exist, verifying nothing', async () => {
      const gun = uniqueGun('cli-no-table');
      await env.scenarios.signedInTargets(gun, 'v1');
      const run = await cliVerify(`${gun}:v1`, storeAt(steady.endpoint, 'nosuchtable', steady.clientEnv));
      expect(run.exitCode).toBe(2);
      expect(run.json).toBeUndefined();
      expect(run.stderr).toMatch(/nosuchtable does not exist/);
    });
  });

  describe('trustgate store check and store init', () => {
    it('reports a missing table, creates it, and then finds it usable', async () => {
      const store = storeAt(steady.endpoint, `trustgate-${randomBytes(4).toString('hex')}`, steady.clientEnv);
      const stateDir = await env.makeDir('unused');
      const missing = await runTrustgate(['store', 'check', ...store.flags], { stateDir, extra: store.env });
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toContain(`${store.table} does not exist`);
      const init = await runTrustgate(['store', 'init', ...store.flags], { stateDir, extra: store.env });
      expect(init.exitCode, init.stderr).toBe(0);
      expect(init.stdout).toContain(`created table ${store.table}`);
      const check = await runTrustgate(['store', 'check', ...store.flags], { stateDir, extra: store.env });
      expect(check.exitCode, check.stderr).toBe(0);
      expect(check.stdout).toContain('key: pk (S, HASH)');
      // What a verification then persists lands in that table.
      const gun = uniqueGun('store-init');
      await env.scenarios.signedInTargets(gun, 'v1');
      expect((await cliVerify(`${gun}:v1`, store)).json).toMatchObject({ allowed: true });
      const client = steady.client();
      const { Item } = await client.send(new GetItemCommand({ TableName: store.table, Key: { pk: { S: encodeStoreKey(trustedStateKey(env.server.url, gun, { kind: 'root' })) } } }));
      expect(Item?.['v']?.B).toBeDefined();
    });

    it('exits 2 naming the region when no AWS region is configured, for an existing table', async () => {
      const store = await storeWithoutRegion();
      const check = await runTrustgate(['store', 'check', ...store.flags], { stateDir: await env.makeDir('unused'), extra: store.env });
      expect(check.exitCode, check.stderr).toBe(2);
      expect(check.stderr).toMatch(/AWS region/);
    });

    it('exits 1 when the store does not answer', async () => {
      const store = await unreachableStore();
      const check = await runTrustgate(['store', 'check', ...store.flags], { stateDir: await env.makeDir('unused'), extra: store.env });
      expect(check.exitCode).toBe(1);
      expect(check.stderr).toMatch(/unavailable/);
    });
  });

  describe('trustgate serve', () => {
    let policiesDir: string;
    beforeAll(async () => {
      policiesDir = await env.makeDir('policies');
      await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
    });

    async function startServe(store: StoreUnderTest): Promise<ServeProcess> {
      return startTrustgateServe({
        policiesDir,
        stateDir: await env.makeDir('serve-state'),
        caFile: env.caFile,
        extraArgs: [...store.flags, '--freshness', '0'],
        env: { ...store.env, TRUSTGATE_STORE_UNREADY_AFTER: '0s', TRUSTGATE_EXPLICIT_TRUST_TOKEN: EXPLICIT_TRUST_TOKEN },
      });
    }

    // A request that pins root keys uses the explicit form, which serve accepts only from a
    // caller holding the operator's explicit-trust token.
    async function serveVerify(serve: ServeProcess, body: Record<string, unknown>): Promise<VerifyImageResponse> {
      const headers: Record<string, string> = 'trust' in body ? { authorization: `Bearer ${EXPLICIT_TRUST_TOKEN}` } : {};
      const answer = await httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body: JSON.stringify(body), headers });
      expect(answer.status, answer.text).toBe(200);
      return JSON.parse(answer.text) as VerifyImageResponse;
    }

    it('keeps refusing the replaced repository after the store is killed mid-run, denies what it never verified, and reports not ready', async () => {
      const dynamo = await startDynalite();
      const store = await newTable(dynamo);
      const serve = await startServe(store);
      try {
        const gun = uniqueGun('serve-killed');
        const unseen = uniqueGun('serve-unseen');
        const genuine = await env.scenarios.signedInTargets(gun, 'v1');
        const other = await env.scenarios.signedInTargets(unseen, 'v1');
        expect(await serveVerify(serve, { image: `${gun}:v1`, namespace: 'default' })).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
        expect((await httpsRequest(`${serve.url}/readyz`, serve.caPem)).status).toBe(200);
        await replaceRepositoryOnServer(gun);
        await dynamo.stop();

        expect(await serveVerify(serve, { image: `${gun}:v1`, namespace: 'default' })).toMatchObject({ allowed: false, codes: ['TRUST_THRESHOLD_NOT_MET'] });
        expect(await serveVerify(serve, { image: `${unseen}:v1`, namespace: 'default' })).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
        const rootKeyIds = await env.publisher.rootKeyIds(unseen);
        expect(await serveVerify(serve, { image: `${unseen}:v1`, trust: { server: env.server.url, rootKeyIds } })).toMatchObject({
          allowed: true,
          digest: `sha256:${other.digestHex}`,
        });
        expect((await httpsRequest(`${serve.url}/healthz`, serve.caPem)).status).toBe(200);
        const ready = await httpsRequest(`${serve.url}/readyz`, serve.caPem);
        expect(ready.status).toBe(503);
        expect(ready.text).toMatch(/trust store failing/);
        // Log lines are batched: all of them are out once serve has stopped.
        await serve.stop();
        expect(serve.output()).toContain('trusted state not saved');
      } finally {
        await serve.stop();
        await dynamo.stop();
      }
    });

    it('starts with the store unreachable and denies an unpinned repository with STATE_STORE_FAILED', async () => {
      const serve = await startServe(await unreachableStore());
      try {
        const gun = uniqueGun('serve-unreachable');
        await env.scenarios.signedInTargets(gun, 'v1');
        expect(await serveVerify(serve, { image: `${gun}:v1`, namespace: 'default' })).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
        await serve.stop();
        expect(serve.output()).toContain('trust store unavailable at start');
      } finally {
        await serve.stop();
      }
    });

    it('refuses to start when no AWS region is configured, rather than serving as if the store were down', async () => {
      await expect(startServe(await storeWithoutRegion())).rejects.toThrow(/exited 2 during startup[\s\S]*AWS region/);
    });

    it('refuses to start when the table does not exist', async () => {
      await expect(startServe(storeAt(steady.endpoint, 'nosuchtable', steady.clientEnv))).rejects.toThrow(/exited 2 during startup[\s\S]*nosuchtable does not exist/);
    });
  });

  describe('the verify-image Lambda bundle, one container per run', () => {
    const functionEnv = (store: StoreUnderTest): Record<string, string> => ({
      ...store.env,
      TRUSTGATE_DYNAMODB_TABLE: store.table,
      TRUSTGATE_DYNAMODB_ENDPOINT: store.endpoint,
      TRUSTGATE_ALLOW_EXPLICIT_TRUST: 'true',
      TRUSTGATE_FRESHNESS: '0',
      NODE_EXTRA_CA_CERTS: env.caFile,
    });
    const httpEvent = (body: unknown): Record<string, unknown> => ({
      version: '2.0',
      routeKey: 'POST /functions/verify-image',
      rawPath: '/functions/verify-image',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/functions/verify-image', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' }, stage: '$default' },
      body: JSON.stringify(body),
      isBase64Encoded: false,
    });

    async function invoke(store: StoreUnderTest, ...bodies: readonly unknown[]): Promise<VerifyImageResponse[]> {
      const run = await runBundle('lambda', VERIFY_IMAGE_LAMBDA, functionEnv(store), bodies.map(httpEvent));
      if ('loadError' in run) throw new Error(`bundle failed to load: ${run.loadError}`);
      return run.results.map((result) => {
        if ('thrown' in result) throw new Error(`the entry threw: ${result.thrown}`);
        const value = result.value as { statusCode: number; body: string };
        expect(value.statusCode, value.body).toBe(200);
        return JSON.parse(value.body) as VerifyImageResponse;
      });
    }

    it('denies the replaced repository with the store up, and with STATE_STORE_FAILED in a fresh container once the store is killed', async () => {
      const dynamo = await startDynalite();
      try {
        const store = await newTable(dynamo);
        const gun = uniqueGun('lambda-killed');
        const genuine = await env.scenarios.signedInTargets(gun, 'v1');
        const request = { image: `${gun}:v1`, trust: { server: env.server.url } };
        expect(await invoke(store, request)).toMatchObject([{ allowed: true, digest: `sha256:${genuine.digestHex}` }]);
        await replaceRepositoryOnServer(gun);
        expect(await invoke(store, request)).toMatchObject([{ allowed: false, codes: ['TRUST_THRESHOLD_NOT_MET'] }]);
        await dynamo.stop();
        expect(await invoke(store, request)).toMatchObject([{ allowed: false, codes: ['STATE_STORE_FAILED'] }]);
      } finally {
        await dynamo.stop();
      }
    });

    it('verifies a pinned request and denies an unpinned one with the store unreachable from the start', async () => {
      const gun = uniqueGun('lambda-unreachable');
      const genuine = await env.scenarios.signedInTargets(gun, 'v1');
      const rootKeyIds = await env.publisher.rootKeyIds(gun);
      const answers = await invoke(await unreachableStore(), { image: `${gun}:v1`, trust: { server: env.server.url, rootKeyIds } }, { image: `${gun}:v1`, trust: { server: env.server.url } });
      expect(answers).toMatchObject([
        { allowed: true, digest: `sha256:${genuine.digestHex}` },
        { allowed: false, codes: ['STATE_STORE_FAILED'] },
      ]);
    });

    it('answers CONFIG_INVALID when the table does not exist', async () => {
      const gun = uniqueGun('lambda-no-table');
      await env.scenarios.signedInTargets(gun, 'v1');
      const answers = await invoke(storeAt(steady.endpoint, 'nosuchtable', steady.clientEnv), { image: `${gun}:v1`, trust: { server: env.server.url } });
      expect(answers).toMatchObject([{ allowed: false, codes: ['CONFIG_INVALID'] }]);
    });

    it('answers CONFIG_INVALID when no AWS region is configured', async () => {
      const gun = uniqueGun('lambda-no-region');
      await env.scenarios.signedInTargets(gun, 'v1');
      const answers = await invoke(await storeWithoutRegion(), { image: `${gun}:v1`, trust: { server: env.server.url } });
      expect(answers).toMatchObject([{ allowed: false, codes: ['CONFIG_INVALID'] }]);
    });
  });

  describe('when older authenticated rows are written back next to the current freshness record', () => {
    // The attacker can read and write the table but does not hold TRUSTGATE_STATE_KEY: it
    // captures the rows of an earlier state and puts them back after the digest was revoked.
    it('goes to the trust server and answers the current digest instead of the revoked one', async () => {
      const store = await newTable(steady);
      const client = steady.client();
      const gun = uniqueGun('replay');
      const revoked = await env.scenarios.signedInTargets(gun, 'v1');
      expect((await cliVerify(`${gun}:v1`, store)).json).toMatchObject({ allowed: true, digest: `sha256:${revoked.digestHex}` });
      const roles = ['timestamp', 'snapshot', 'targets'] as const;
      const keyOf = (role: (typeof roles)[number]): Record<string, AttributeValue> => ({ pk: { S: encodeStoreKey(trustedStateKey(env.server.url, gun, { kind: 'meta', role })) } });
      const captured = await Promise.all(roles.map(async (role) => (await client.send(new GetItemCommand({ TableName: store.table, Key: keyOf(role), ConsistentRead: true }))).Item));

      const current = await env.scenarios.resign(gun, 'v1');
      expect((await cliVerify(`${gun}:v1`, store)).json).toMatchObject({ allowed: true, digest: `sha256:${current.digestHex}` });
      for (const item of captured) {
        if (item === undefined) throw new Error('a metadata row was not stored');
        await client.send(new PutItemCommand({ TableName: store.table, Item: item }));
      }

      // Within the freshness window of the current record: without the binding, the
      // replayed rows would be answered offline with the revoked digest.
      const window = ['--freshness', '1h'];
      const tag = await cliVerify(`${gun}:v1`, store, { extraArgs: window });
      expect(tag.json, tag.stderr).toMatchObject({ allowed: true, digest: `sha256:${current.digestHex}` });
      const pinnedToRevoked = await cliVerify(`${gun}:v1@sha256:${revoked.digestHex}`, store, { extraArgs: window });
      expect(pinnedToRevoked.json, pinnedToRevoked.stderr).toMatchObject({ allowed: false });
    });
  });
});
