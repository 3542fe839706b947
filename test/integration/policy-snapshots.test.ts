// Policy snapshots through the real DynamoDB-compatible server: `trustgate policy apply`
// publishes a folder as a cluster's snapshot, and the verify-image and policy-lookup
// function handlers, built from their environment as on Lambda and OpenWhisk, follow it:
// they pick up a new version, refuse a corrupted, partial or rolled-back one and keep the
// last good one serving. `serve --publish-cluster-id` publishes the set it enforces, with
// the Secrets it left out over its bounds, which the functions deny for as serve does.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPolicyLookupHandler } from '../../functions/policy-lookup/handler.js';
import { buildPolicyLookupDeps, buildVerifyImageDeps } from '../../functions/platform/runtime-deps.js';
import { createVerifyImageHandler } from '../../functions/verify-image/handler.js';
import { decodeStoreConfig, openStore } from '../../infra/store/open-store.js';
import { encodeStoreKey } from '../../shared/cache/store-key.js';
import { decodePolicyDocuments } from '../../shared/policy/decode-documents.js';
import { chunkKey, headKey } from '../../shared/policy/policy-snapshot.js';
import { publishPolicySnapshot } from '../../shared/policy/snapshot-store.js';
import type { Clock } from '../../shared/ports.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { getTestCertificates } from '../support/tls-certs.js';
import { makeTempDir } from './support/temp-dir.js';
import { runTrustgate } from './support/trustgate-cli.js';
import { startTrustgateServe } from './support/trustgate-serve.js';

const TABLE = 'trustgate-snapshots';
const STATE_KEY = 'ab'.repeat(32);
const CLUSTER = 'prod-eu';
const clock: Clock = { now: () => new Date(0) };

let dynamo: DynaliteServer;
let dir: string;

beforeAll(async () => {
  dynamo = await startDynalite();
  await createTrustgateTable(dynamo.client(), TABLE);
  dir = await makeTempDir('policy-snapshots');
  // The AWS SDK in this process reads its credentials from the environment.
  for (const [name, value] of Object.entries(dynamo.clientEnv)) vi.stubEnv(name, value);
}, 30_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await dynamo?.stop();
});

// What a deployed function's environment holds to follow the cluster's snapshot.
function functionEnv(cluster = CLUSTER): Record<string, string> {
  return {
    ...dynamo.clientEnv,
    TRUSTGATE_DYNAMODB_TABLE: TABLE,
    TRUSTGATE_DYNAMODB_ENDPOINT: dynamo.endpoint,
    TRUSTGATE_STATE_KEY: STATE_KEY,
    TRUSTGATE_POLICY_CLUSTER_ID: cluster,
    // Ask the store on every call: the bound on noticing a new version is this many seconds.
    TRUSTGATE_POLICY_REFRESH: '0',
  };
}

// One "container": handlers built once from the environment, answering many requests.
function container(cluster = CLUSTER): { verify: (image: string) => Promise<{ statusCode: number; body: Record<string, unknown> }>; lookup: (image: string) => Promise<{ statusCode: number; body: Record<string, unknown> }> } {
  const verifyHandler = createVerifyImageHandler(buildVerifyImageDeps(functionEnv(cluster), clock));
  const lookupHandler = createPolicyLookupHandler(buildPolicyLookupDeps(functionEnv(cluster), clock));
  const answer = (response: { statusCode: number; body: unknown }) => ({ statusCode: response.statusCode, body: response.body as Record<string, unknown> });
  return {
    verify: async (image) => answer(await verifyHandler({ image, namespace: 'default' })),
    lookup: async (image) => answer(await lookupHandler({ image, namespace: 'default' })),
  };
}

// A folder with one ClusterImagePolicy admitting `pattern` without checks.
async function policyFolder(name: string, pattern: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'open.yaml'),
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: open}
spec: {repositories: [{name: "${pattern}", policy: {}}]}
`,
  );
  return folder;
}

function apply(folder: string): ReturnType<typeof runTrustgate> {
  return runTrustgate(['policy', 'apply', folder, '--cluster-id', CLUSTER, '--dynamodb-table', TABLE, '--dynamodb-endpoint', dynamo.endpoint], {
    stateDir: join(dir, 'unused-state'),
    extra: { ...dynamo.clientEnv, TRUSTGATE_STATE_KEY: STATE_KEY },
  });
}

async function rawItem(key: string): Promise<Record<string, unknown>> {
  const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: encodeStoreKey(key) } }, ConsistentRead: true }));
  if (Item === undefined) throw new Error(`no item ${key}`);
  return Item;
}

async function putRaw(item: Record<string, unknown>): Promise<void> {
  await dynamo.client().send(new PutItemCommand({ TableName: TABLE, Item: item as never }));
}

function headVersion(item: Record<string, unknown>): number {
  return Number((item['ver'] as { N: string }).N);
}

describe('policy snapshots in DynamoDB', () => {
  let functions: ReturnType<typeof container>;
  let firstHead: Record<string, unknown>;
  let firstChunk: Record<string, unknown>;

  describe('when no snapshot has been published', () => {
    it('denies by namespace with POLICY_SNAPSHOT_MISSING (fail closed)', async () => {
      const answer = await container().verify('reg.example.com/a/app:v1');
      expect(answer.body).toMatchObject({ allowed: false, codes: ['POLICY_SNAPSHOT_MISSING'] });
    });
  });

  describe('when policy apply publishes a folder', () => {
    it('prints what was added and the version, and the functions decide with it', async () => {
      const run = await apply(await policyFolder('v1', 'reg.example.com/a/*'));
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout).toContain('added: ClusterImagePolicy open');
      expect(run.stdout).toMatch(new RegExp(`published: cluster ${CLUSTER} policy snapshot version \\d+`));
      functions = container();
      expect((await functions.verify('reg.example.com/a/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.lookup('reg.example.com/a/app:v1')).body).toMatchObject({ matched: true, source: { name: 'open', pattern: 'reg.example.com/a/*' } });
      firstHead = await rawItem(headKey(CLUSTER));
      const sha = (JSON.parse(Buffer.from((firstHead['v'] as { B: Uint8Array }).B).subarray(32).toString('utf8')) as { sha256: string }).sha256;
      firstChunk = await rawItem(chunkKey(CLUSTER, headVersion(firstHead), sha, 0));
    });

    it('prints unchanged and publishes nothing when applied again', async () => {
      const run = await apply(join(dir, 'v1'));
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout).toContain('unchanged');
      expect(headVersion(await rawItem(headKey(CLUSTER)))).toBe(headVersion(firstHead));
    });
  });

  describe('when an invalid folder is applied', () => {
    it('exits 1 listing the problems and publishes nothing', async () => {
      const folder = join(dir, 'broken');
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'p.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: open, annotations: {trustgate.dev/mode: Audit}}\nspec: {repositories: [{name: "*"}]}\n');
      const run = await apply(folder);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain('trustgate.dev/mode');
      expect(headVersion(await rawItem(headKey(CLUSTER)))).toBe(headVersion(firstHead));
    });
  });

  describe('when a new version is published', () => {
    it('prints what changed, and running functions pick it up', async () => {
      const run = await apply(await policyFolder('v2', 'reg.example.com/b/*'));
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout).toContain('changed: ClusterImagePolicy open');
      expect(headVersion(await rawItem(headKey(CLUSTER)))).toBeGreaterThan(headVersion(firstHead));
      expect((await functions.verify('reg.example.com/b/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.verify('reg.example.com/a/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'] });
      expect((await functions.lookup('reg.example.com/b/app:v1')).body).toMatchObject({ matched: true });
    });
  });

  describe('when the current chunk is altered in the table by someone without the state key', () => {
    it('is refused: running functions keep the current version, a new container denies with POLICY_SNAPSHOT_INVALID', async () => {
      const head = await rawItem(headKey(CLUSTER));
      const { sha256 } = JSON.parse(Buffer.from((head['v'] as { B: Uint8Array }).B).subarray(32).toString('utf8')) as { sha256: string };
      const chunk = await rawItem(chunkKey(CLUSTER, headVersion(head), sha256, 0));
      const bytes = Buffer.from((chunk['v'] as { B: Uint8Array }).B);
      const forged = Buffer.from(bytes.toString('utf8').replace('reg.example.com/b/*', 'reg.example.com/*/*'));
      await putRaw({ ...chunk, v: { B: forged } });
      expect((await functions.verify('reg.example.com/b/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.verify('reg.example.com/c/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'] });
      const fresh = container();
      expect((await fresh.verify('reg.example.com/c/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_SNAPSHOT_INVALID'] });
      // As with an unreadable TRUSTGATE_POLICIES: 500, the reason in the function's log.
      expect((await fresh.lookup('reg.example.com/c/app:v1')).statusCode).toBe(500);
      await putRaw(chunk);
    });
  });

  describe('when the authentic version 1 head and chunk are put back (rollback)', () => {
    it('is refused and running functions keep the newer version', async () => {
      await putRaw(firstChunk);
      await putRaw(firstHead);
      expect((await functions.verify('reg.example.com/b/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.verify('reg.example.com/a/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'] });
    });
  });

  describe('when the next version is published after the rollback attempt', () => {
    it('is picked up: its version comes after every version published before', async () => {
      const run = await apply(await policyFolder('v3', 'reg.example.com/c/*'));
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout).toContain('changed: ClusterImagePolicy open');
      expect((await functions.verify('reg.example.com/c/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.verify('reg.example.com/b/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'] });
    });
  });
});

describe('a policy snapshot naming a Secret serve left out over its bounds', () => {
  it('makes verify-image deny an image needing it with POLICY_SECRET_OVER_LIMIT, as serve does, not POLICY_SECRET_MISSING', async () => {
    const cluster = 'over-limit';
    // What serve --policies-from-cluster holds when the policy's signer Secret did not fit:
    // the policy, no Secret, and the Secret's name among those left out.
    const policies = decodePolicyDocuments([
      {
        source: 'signed.yaml',
        text: 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ImagePolicy\nmetadata: {name: signed, namespace: default}\nspec: {repositories: [{name: "reg.example.com/*", policy: {trust: {enabled: true, signerSecrets: [{name: big-signer}]}}}]}\n',
      },
    ]);
    // Published through the store as the functions open it (the same table and state key).
    const { kv } = openStore(decodeStoreConfig({}, functionEnv(cluster)), clock);
    await publishPolicySnapshot(kv, cluster, policies, 1);
    const functions = container(cluster);
    expect((await functions.verify('reg.example.com/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_SECRET_MISSING'] });

    await publishPolicySnapshot(kv, cluster, { ...policies, unheldSecrets: [{ namespace: 'default', name: 'big-signer' }] }, 2);
    expect((await functions.verify('reg.example.com/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_SECRET_OVER_LIMIT'] });
    expect((await container(cluster).verify('reg.example.com/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_SECRET_OVER_LIMIT'] });
  });
});

describe('trustgate serve --publish-cluster-id', () => {
  it('publishes the policies it enforces at start and after a reload, and the functions follow', async () => {
    const cluster = 'serve-published';
    const folder = await policyFolder('served', 'reg.example.com/s1/*');
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, (await getTestCertificates()).caPem);
    const serve = await startTrustgateServe({
      policiesDir: folder,
      stateDir: join(dir, 'serve-state'),
      caFile,
      env: { ...dynamo.clientEnv, TRUSTGATE_STATE_KEY: STATE_KEY },
      extraArgs: ['--dynamodb-table', TABLE, '--dynamodb-endpoint', dynamo.endpoint, '--publish-cluster-id', cluster, '--policies-interval', '0'],
    });
    try {
      await waitForOutput(() => serve.output(), 'policy snapshot published', 1);
      const functions = container(cluster);
      expect((await functions.verify('reg.example.com/s1/app:v1')).body).toMatchObject({ allowed: true });

      await writeFile(join(folder, 'open.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: open}\nspec: {repositories: [{name: "reg.example.com/s2/*", policy: {}}]}\n');
      serve.signal('SIGHUP');
      await waitForOutput(() => serve.output(), 'policy snapshot published', 2);
      expect((await functions.verify('reg.example.com/s2/app:v1')).body).toMatchObject({ allowed: true });
      expect((await functions.verify('reg.example.com/s1/app:v1')).body).toMatchObject({ allowed: false, codes: ['POLICY_NO_MATCH'] });
    } finally {
      await serve.stop();
    }
  }, 60_000);
});

// Resolves once `text` occurs `count` times in the output (serve's log is written in batches).
async function waitForOutput(output: () => string, text: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (output().split(text).length - 1 >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`serve did not log "${text}" ${count} times:\n${output()}`);
}
