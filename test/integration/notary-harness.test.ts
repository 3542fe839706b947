// Proves the integration harness against the real notary-server and notary client: what
// the other integration tests take as "the Notary view" of a repository.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetadataPath, roleOfMetadataFile, startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { flipSignatureBit, padToSize } from './support/tamper-bytes.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { uniqueGun } from './support/scenarios.js';
import { NotaryCli } from './support/notary-cli.js';
import { httpGet } from './support/http-get.js';
import { startNotaryServer } from './support/notary-server.js';

let env: TrustEnvironment;

beforeAll(async () => {
  env = await startTrustEnvironment();
});

afterAll(async () => {
  await env?.stop();
});

describe('startNotaryServer', () => {
  it('answers the health check over TLS signed by the test CA', async () => {
    const response = await httpGet(`${env.server.url}/_notary_server/health`, env.caFile);
    expect(response.status).toBe(200);
  });

  it('answers 404 with METADATA_NOT_FOUND for an unknown GUN', async () => {
    const response = await httpGet(env.server.metadataUrl(uniqueGun('unknown'), 'timestamp.json'), env.caFile);
    expect(response.status).toBe(404);
    expect(response.body.toString('utf8')).toContain('METADATA_NOT_FOUND');
  });
});

describe('startNotaryServer with token auth', () => {
  it('answers metadata reads with a 401 Bearer challenge', async () => {
    const server = await startNotaryServer({
      auth: { realm: 'https://auth.test/token', service: 'notary.test', issuer: 'auth.test', rootCertBundleFile: env.caFile },
    });
    try {
      const response = await httpGet(server.metadataUrl(uniqueGun('auth'), 'timestamp.json'), server.caFile);
      expect(response.status).toBe(401);
    } finally {
      await server.stop();
    }
  });
});

describe('NotaryCli', () => {
  describe('when a tag is signed in targets and published', () => {
    it('lists and looks up the published digest and size under the targets role', async () => {
      const gun = uniqueGun('harness-targets');
      const target = await env.scenarios.signedInTargets(gun, 'v1');

      expect(await env.publisher.list(gun)).toEqual([{ tag: 'v1', digestHex: target.digestHex, size: target.size, role: 'targets' }]);
      expect(await env.publisher.lookup(gun, 'v1')).toEqual({ tag: 'v1', digestHex: target.digestHex, size: target.size });
    });

    it('shows the same repository to a second client with an empty trust directory', async () => {
      const gun = uniqueGun('harness-reader');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const reader = await NotaryCli.create(env.server);
      try {
        expect(await reader.list(gun)).toEqual([{ tag: 'v1', digestHex: target.digestHex, size: target.size, role: 'targets' }]);
        expect(await reader.rootKeyIds(gun)).toEqual(await env.publisher.rootKeyIds(gun));
      } finally {
        await reader.remove();
      }
    });

    it('serves a root whose certificate is issued to the GUN', async () => {
      const gun = uniqueGun('harness-root');
      await env.scenarios.signedInTargets(gun, 'v1');
      const root = JSON.parse((await env.server.fetchMetadata(gun, 'root.json')).toString('utf8')) as {
        signed: { roles: { root: { keyids: string[] } }; keys: Record<string, { keytype: string; keyval: { public: string } }> };
      };
      const [rootKeyId] = root.signed.roles.root.keyids;
      const rootKey = root.signed.keys[rootKeyId ?? ''];
      expect(rootKey?.keytype).toMatch(/-x509$/);
      const certificatePem = Buffer.from(rootKey?.keyval.public ?? '', 'base64').toString('utf8');
      expect(new (await import('node:crypto')).X509Certificate(certificatePem).subject).toBe(`CN=${gun}`);
    });
  });

  describe('when targets and targets/releases hold different digests for a tag', () => {
    it('shows the targets digest by default and the releases digest with -r targets/releases', async () => {
      const gun = uniqueGun('harness-disagree');
      const { targets, releases } = await env.scenarios.releasesAndTargetsDisagree(gun, 'v1');

      expect(await env.publisher.list(gun)).toEqual([{ tag: 'v1', digestHex: targets.digestHex, size: targets.size, role: 'targets' }]);
      expect(await env.publisher.list(gun, { role: 'targets/releases' })).toEqual([
        { tag: 'v1', digestHex: releases.digestHex, size: releases.size, role: 'targets/releases' },
      ]);
      expect((await env.publisher.lookup(gun, 'v1')).digestHex).toBe(targets.digestHex);
    });
  });

  describe('when a tag is signed only by a named delegation', () => {
    it('lists it under that delegation and nowhere in targets', async () => {
      const gun = uniqueGun('harness-alice');
      const target = await env.scenarios.signedByDelegationOnly(gun, 'v1', 'targets/alice');

      expect(await env.publisher.list(gun, { role: 'targets/alice' })).toEqual([
        { tag: 'v1', digestHex: target.digestHex, size: target.size, role: 'targets/alice' },
      ]);
      const fromTargets = (await env.publisher.list(gun, { role: 'targets' })).filter((row) => row.role === 'targets');
      expect(fromTargets).toEqual([]);
    });
  });

  describe('when two delegations sign the same tag', () => {
    it('lists the digest under each delegation', async () => {
      const gun = uniqueGun('harness-two');
      const { target } = await env.scenarios.signedByTwoSigners(gun, 'v1', 'same');
      for (const role of ['targets/alice', 'targets/bob']) {
        expect((await env.publisher.list(gun, { role })).find((row) => row.tag === 'v1')?.digestHex).toBe(target.digestHex);
      }
    });
  });

  describe('when the root key is rotated', () => {
    it('publishes a new root version with new key IDs and keeps the old versions fetchable', async () => {
      const gun = uniqueGun('harness-root-rotation');
      await env.scenarios.signedInTargets(gun, 'v1');
      const versionBefore = await rootVersion(gun);
      const { before, after } = await env.scenarios.rotateRoot(gun);

      expect(after).not.toEqual(before);
      expect(await rootVersion(gun)).toBeGreaterThan(versionBefore);
      expect((await env.server.fetchMetadata(gun, `${versionBefore}.root.json`)).length).toBeGreaterThan(0);
    });
  });

  describe('when the GUN is deleted on the server and re-created by another client', () => {
    it('serves the new owner’s root and digest', async () => {
      const gun = uniqueGun('harness-takeover');
      await env.scenarios.signedInTargets(gun, 'v1');
      const genuineRoot = await env.server.fetchMetadata(gun, 'root.json');
      await env.publisher.deleteRemote(gun);
      const other = await NotaryCli.create(env.server);
      try {
        await other.init(gun);
        await other.addHash(gun, 'v1', 99, 'cd'.repeat(32));
        await other.publish(gun);
        expect((await other.list(gun))[0]?.digestHex).toBe('cd'.repeat(32));
        expect((await env.server.fetchMetadata(gun, 'root.json')).equals(genuineRoot)).toBe(false);
      } finally {
        await other.remove();
      }
    });
  });

  describe('when a delegation key is rotated', () => {
    it('lists the re-signed digest and the delegation holds only the new key', async () => {
      const gun = uniqueGun('harness-delegation-rotation');
      const signed = await env.scenarios.signedInReleases(gun, 'v1');
      const rotated = await env.scenarios.rotateDelegationKey(gun, 'v1', signed.releases);

      expect((await env.publisher.list(gun, { role: 'targets/releases' }))[0]?.digestHex).toBe(rotated.digestHex);
      const delegations = (await env.publisher.run(['delegation', 'list', gun])).stdout;
      for (const id of rotated.signer.keyIds) expect(delegations).toContain(id);
      for (const id of signed.releases.keyIds) expect(delegations).not.toContain(id);
    });
  });
});

describe('startTamperProxy', () => {
  let proxy: TamperProxy;

  beforeAll(async () => {
    proxy = await startTamperProxy({ upstream: env.server, ...(env.server.ca === undefined ? {} : { tls: env.server.ca }) });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  describe('when no hook is set', () => {
    it('forwards byte for byte and records each request path', async () => {
      proxy.reset();
      const gun = uniqueGun('proxy-plain');
      await env.scenarios.signedInTargets(gun, 'v1');
      const direct = await env.server.fetchMetadata(gun, 'timestamp.json');
      const proxied = await httpGet(`${proxy.url}/v2/${gun}/_trust/tuf/timestamp.json`, env.caFile);

      expect(proxied.status).toBe(200);
      expect(proxied.body.equals(direct)).toBe(true);
      expect(proxy.requests).toEqual([`/v2/${gun}/_trust/tuf/timestamp.json`]);
    });

    it('lets the real notary client publish and list through it', async () => {
      proxy.reset();
      const gun = uniqueGun('proxy-client');
      const client = await NotaryCli.create({ url: proxy.url, caFile: env.caFile });
      try {
        await client.init(gun);
        await client.addHash(gun, 'v1', 10, 'ab'.repeat(32));
        await client.publish(gun);
        expect((await env.publisher.list(gun))[0]?.digestHex).toBe('ab'.repeat(32));
        expect(proxy.requests.some((path) => path.endsWith('/_trust/tuf/'))).toBe(true);
      } finally {
        await client.remove();
      }
    });
  });

  describe('when hooks rewrite the path and the body', () => {
    it('serves another GUN’s bytes and the replaced body', async () => {
      proxy.reset();
      const gunA = uniqueGun('proxy-a');
      const gunB = uniqueGun('proxy-b');
      await env.scenarios.signedInTargets(gunA, 'v1');
      await env.scenarios.signedInTargets(gunB, 'v1');
      proxy.onRequest((path) => path.replace(gunA, gunB));
      proxy.onResponse((response) =>
        roleOfMetadataFile(parseMetadataPath(response.path)?.file ?? '') === 'timestamp' ? { body: flipSignatureBit(response.body) } : undefined,
      );

      const root = await httpGet(`${proxy.url}/v2/${gunA}/_trust/tuf/root.json`, env.caFile);
      const timestamp = await httpGet(`${proxy.url}/v2/${gunA}/_trust/tuf/timestamp.json`, env.caFile);

      expect(root.body.equals(await env.server.fetchMetadata(gunB, 'root.json'))).toBe(true);
      expect(timestamp.body.equals(await env.server.fetchMetadata(gunB, 'timestamp.json'))).toBe(false);
      expect(JSON.parse(timestamp.body.toString('utf8'))).toMatchObject({ signed: { _type: 'Timestamp' } });
    });
  });
});

describe('tamper bytes', () => {
  it('parses metadata paths whatever way a role is addressed', () => {
    expect(parseMetadataPath('/v2/reg:5000/team/app/_trust/tuf/targets/releases.json')).toEqual({
      gun: 'reg:5000/team/app',
      file: 'targets/releases.json',
    });
    expect(roleOfMetadataFile(`snapshot.${'a'.repeat(64)}.json`)).toBe('snapshot');
    expect(roleOfMetadataFile('3.root.json')).toBe('root');
    expect(roleOfMetadataFile('targets/releases.json')).toBe('targets/releases');
  });

  it('pads a document to the requested size and keeps it parseable', () => {
    const padded = padToSize(Buffer.from('{"a":1}'), 1000);
    expect(padded.length).toBe(1000);
    expect(JSON.parse(padded.toString('utf8'))).toEqual({ a: 1 });
  });
});

async function rootVersion(gun: string): Promise<number> {
  const root = JSON.parse((await env.server.fetchMetadata(gun, 'root.json')).toString('utf8')) as { signed: { version: number } };
  return root.signed.version;
}
