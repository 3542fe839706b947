// The trust cache against the real notary-server, counting the requests that reach it at a
// proxy in front: nothing within the freshness window, only timestamp.json when nothing
// changed, the chain when something did; tampered cache entries refused (SQLite and
// DynamoDB); processes sharing one embedded store; and a server outage served from the
// cache for max-stale and refused after it.
import { randomBytes } from 'node:crypto';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { trustedStateKey } from '../../shared/trust/notary/trusted-state-store.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { uniqueGun } from './support/scenarios.js';
import { readStoredEntries, writeRawEntry } from './support/state-dir.js';
import { parseMetadataPath, roleOfMetadataFile, startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';

let env: TrustEnvironment;
let proxy: TamperProxy;
let dynamo: DynaliteServer;

beforeAll(async () => {
  env = await startTrustEnvironment();
  if (env.server.ca === undefined) throw new Error('the notary-server runs without TLS');
  proxy = await startTamperProxy({ upstream: env.server, tls: env.server.ca });
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo?.stop();
  await proxy?.stop();
  await env?.stop();
});

beforeEach(() => {
  proxy.reset();
});

function verify(gun: string, stateDir: string, extraArgs: readonly string[] = [], extraEnv: Record<string, string> = {}): Promise<TrustgateRun> {
  return runTrustgateVerify({ image: `${gun}:v1`, trustServer: proxy.url, caFile: env.caFile, stateDir, extraArgs, env: extraEnv });
}

function expectAllowed(run: TrustgateRun, digestHex: string): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${digestHex}` });
}

// The roles requested for `gun` at the proxy, in order.
function rolesRequested(gun: string): string[] {
  return proxy.requests.flatMap((path) => {
    const parsed = parseMetadataPath(path);
    return parsed?.gun === gun ? [roleOfMetadataFile(parsed.file)] : [];
  });
}

describe('trustgate verify with its trust cache', () => {
  describe('when the repository was verified within the freshness window', () => {
    it('makes no request to the trust server', async () => {
      const gun = uniqueGun('fresh');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verify(gun, stateDir, ['--freshness', '30s']), target.digestHex);
      expect(rolesRequested(gun)).toContain('root');
      proxy.reset();
      expectAllowed(await verify(gun, stateDir, ['--freshness', '30s']), target.digestHex);
      expect(proxy.requests).toStrictEqual([]);
    });
  });

  describe('when the window has passed and nothing changed', () => {
    it('fetches only timestamp.json', async () => {
      const gun = uniqueGun('unchanged');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verify(gun, stateDir), target.digestHex);
      proxy.reset();
      expectAllowed(await verify(gun, stateDir, ['--freshness', '0s']), target.digestHex);
      expect(proxy.requests).toHaveLength(1);
      expect(rolesRequested(gun)).toStrictEqual(['timestamp']);
    });
  });

  describe('when the repository changed since the last verification', () => {
    it('fetches timestamp, snapshot and targets and follows the new digest', async () => {
      const gun = uniqueGun('changed');
      await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      await verify(gun, stateDir);
      const resigned = await env.scenarios.resign(gun, 'v1');
      proxy.reset();
      expectAllowed(await verify(gun, stateDir, ['--freshness', '0s']), resigned.digestHex);
      expect(rolesRequested(gun)).toStrictEqual(['timestamp', 'snapshot', 'targets']);
    });
  });

  describe('when a root entry is written straight into the SQLite table', () => {
    it('refuses the entry and denies with STATE_STORE_FAILED', async () => {
      const gun = uniqueGun('planted-root');
      await env.scenarios.signedInTargets(gun, 'v1');
      const other = uniqueGun('attacker');
      await env.scenarios.signedInTargets(other, 'v1');
      const stateDir = await env.makeDir('state');
      await verify(gun, stateDir);
      // Another repository's perfectly valid root, with a MAC made without the state key.
      const planted = Buffer.concat([randomBytes(32), await env.server.fetchMetadata(other, 'root.json')]);
      writeRawEntry(stateDir, trustedStateKey(proxy.url, gun, { kind: 'root' }), planted, 99);
      const run = await verify(gun, stateDir);
      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
    });
  });

  describe('when a targets entry is written straight into the SQLite table', () => {
    it('ignores the entry, refetches targets and allows the signed digest', async () => {
      const gun = uniqueGun('planted-targets');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      await verify(gun, stateDir);
      const key = trustedStateKey(proxy.url, gun, { kind: 'meta', role: 'targets' });
      const stored = readStoredEntries(stateDir, gun).find((entry) => entry.key === key);
      if (stored === undefined) throw new Error('no targets entry was stored');
      writeRawEntry(stateDir, key, Buffer.concat([randomBytes(32), stored.value]), stored.version + 1);
      proxy.reset();
      expectAllowed(await verify(gun, stateDir, ['--freshness', '0s']), target.digestHex);
      expect(rolesRequested(gun)).toStrictEqual(['timestamp', 'targets']);
    });
  });

  describe('when several CLI processes share one state directory at once', () => {
    it('allows every verification and keeps one consistent store', async () => {
      const guns = [uniqueGun('shared-a'), uniqueGun('shared-b')];
      // One notary client signs one repository at a time (it shares a trust directory).
      const targets: Array<{ digestHex: string }> = [];
      for (const gun of guns) targets.push(await env.scenarios.signedInTargets(gun, 'v1'));
      const stateDir = await env.makeDir('state');
      const runs = await Promise.all([0, 1, 0, 1].map((index) => verify(guns[index] ?? '', stateDir)));
      runs.forEach((run, i) => expectAllowed(run, targets[i % 2]?.digestHex ?? ''));
      for (const gun of guns) {
        const roots = readStoredEntries(stateDir, gun).filter((entry) => entry.key.endsWith(',"root"]'));
        expect(roots).toHaveLength(1);
      }
    });
  });

  describe('when the store is a DynamoDB table', () => {
    it('caches there and refuses a root item written straight into the table', async () => {
      const gun = uniqueGun('dynamo');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const table = `trustgate-${randomBytes(4).toString('hex')}`;
      const client = dynamo.client();
      await createTrustgateTable(client, table);
      const dynamoEnv = { ...dynamo.clientEnv, TRUSTGATE_STATE_KEY: randomBytes(32).toString('hex') };
      const flags = ['--dynamodb-table', table, '--dynamodb-endpoint', dynamo.endpoint];
      const stateDir = await env.makeDir('unused-state');
      expectAllowed(await verify(gun, stateDir, flags, dynamoEnv), target.digestHex);
      const rootKey = { pk: { S: trustedStateKey(proxy.url, gun, { kind: 'root' }) } };
      const { Item } = await client.send(new GetItemCommand({ TableName: table, Key: rootKey, ConsistentRead: true }));
      expect(Item?.['ver']?.N).toBeDefined();
      proxy.reset();
      expectAllowed(await verify(gun, stateDir, [...flags, '--freshness', '30s'], dynamoEnv), target.digestHex);
      expect(proxy.requests).toStrictEqual([]);

      const other = uniqueGun('dynamo-attacker');
      await env.scenarios.signedInTargets(other, 'v1');
      const planted = Buffer.concat([randomBytes(32), await env.server.fetchMetadata(other, 'root.json')]);
      await client.send(new PutItemCommand({ TableName: table, Item: { ...rootKey, v: { B: planted }, ver: { N: '99' } } }));
      const run = await verify(gun, stateDir, flags, dynamoEnv);
      expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['STATE_STORE_FAILED'] });
    });
  });

  // Last: it stops the notary-server.
  describe('when the notary-server stops after a verification', () => {
    it('serves the cached answer marked stale within max-stale and refuses after it', async () => {
      const gun = uniqueGun('outage');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      const windows = ['--freshness', '1s', '--max-stale', '3s'];
      const checkedAt = Date.now();
      expectAllowed(await verify(gun, stateDir, windows), target.digestHex);
      await env.server.stop();
      await sleepUntil(checkedAt + 1_500);
      const stale = await verify(gun, stateDir, windows);
      expectAllowed(stale, target.digestHex);
      expect(stale.json?.stale).toBe(true);
      await sleepUntil(Date.now() + Math.max(0, checkedAt + 4_500 - Date.now()));
      const refused = await verify(gun, stateDir, windows);
      expect(refused.json, refused.stderr).toMatchObject({ allowed: false, codes: ['TRUST_SERVER_UNAVAILABLE'] });
    });
  });
});

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}

