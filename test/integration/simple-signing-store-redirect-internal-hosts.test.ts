// A lookaside store that is not on this machine's loopback cannot aim trustgate's GETs at
// this machine or its link through a redirect, through `trustgate verify --policies` against
// the real docker-registry. The store is a plain-http server (no store Secret, as a policy
// may name one) reached at this machine's own non-loopback address; an "internal" service
// listens on 127.0.0.1 and records what reaches it. A redirect to loopback (in any spelling:
// 127.1, 0x7f000001, an IPv4-mapped IPv6 address, localhost), to link-local (the cloud
// metadata address) or to the unspecified address is refused with
// SIMPLE_STORE_REDIRECT_REFUSED before anything is requested there; a redirect to another
// host that is none of these is followed and admits.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { simpleKeySecretYaml } from '../support/key-secrets.js';
import { pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

let scratch: string;
let registry: DockerRegistry;
let release: openpgp.PrivateKey;
let policyFile: string;
let internal: LocalServer;
// The store, on every address of this machine, and its routes by path: a redirect or bytes.
let store: Server;
let storeUrl: string;
const storeRoutes = new Map<string, { location: string } | { bytes: Uint8Array }>();
const storeRequested: string[] = [];

// This machine's own non-loopback IPv4 address, else its host name: a store host that is
// neither an internal IP literal nor localhost, yet reaches a server listening here.
function ownNonLoopbackHost(): string {
  const own = Object.values(networkInterfaces()).flat().find((entry) => entry !== undefined && entry.family === 'IPv4' && !entry.internal);
  return own?.address ?? hostname();
}

function answerStore(request: IncomingMessage, response: ServerResponse): void {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  storeRequested.push(path);
  const route = storeRoutes.get(path);
  if (route === undefined) response.writeHead(404).end();
  else if ('bytes' in route) response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(route.bytes);
  else response.writeHead(302, { location: route.location }).end();
}

beforeAll(async () => {
  scratch = await makeTempDir('store-redirect-internal');
  registry = await startDockerRegistry();
  internal = await startLocalServer((_request, response) => response.writeHead(200).end('{"AccessKeyId":"internal"}'));
  store = createServer(answerStore);
  await new Promise<void>((resolve) => store.listen(0, '0.0.0.0', resolve));
  storeUrl = `http://${ownNonLoopbackHost()}:${(store.address() as AddressInfo).port}`;
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'release', email: 'release@example.com' }], date: new Date(Date.now() - 120_000), format: 'object' });
  release = privateKey;
  await mkdir(join(scratch, 'policies'), { recursive: true });
  policyFile = join(scratch, 'policies', 'internal.yaml');
  await writeFile(policyFile, `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: internal}
spec:
  repositories:
    - name: "${registry.host}/remote/*"
      policy: {simple: {storeURL: "${storeUrl}/sigs", requirements: [{type: signedBy, keySecret: release-gpg}]}}
---
${simpleKeySecretYaml('release-gpg', 'default', publicKey.armor())}
`);
}, 120_000);

afterAll(async () => {
  await internal?.close();
  await new Promise<void>((resolve) => (store === undefined ? resolve() : store.close(() => resolve())));
  await registry?.stop();
  if (scratch !== undefined) await removeDir(scratch);
});

// Pushes `remote/<name>:v1`, signs it with the release key, and answers its signature bytes
// and the path of signature-1 in the store.
async function signedImage(name: string): Promise<{ signature: Uint8Array; signaturePath: string }> {
  const repository = `remote/${name}`;
  const { digest } = await pushImage(registry, repository, 'v1');
  const payload = JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': digest }, identity: { 'docker-reference': `${registry.host}/${repository}:v1` } }, optional: {} });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(payload) });
  // OpenPGP.js's overloads leave the binary form's type unresolved: it is a Uint8Array.
  const signature = (await openpgp.sign({ message, signingKeys: release, format: 'binary', date: new Date(Date.now() - 60_000) })) as unknown as Uint8Array;
  return { signature, signaturePath: `/sigs/${repository}@${digest.replace(':', '=')}/signature-1` };
}

const verify = (name: string): Promise<TrustgateRun> => runTrustgate(['verify', `${registry.host}/remote/${name}:v1`, '--policies', policyFile, '--json'], { stateDir: scratch });

describe('a lookaside store off loopback that redirects to this machine or its link', () => {
  it('follows its redirect to a host that is no internal address (itself, at another path) and admits', async () => {
    const { signature, signaturePath } = await signedImage('elsewhere');
    storeRoutes.set(signaturePath, { location: `${storeUrl}/objects/elsewhere?X-Amz-Signature=abc` });
    storeRoutes.set('/objects/elsewhere', { bytes: signature });

    const run = await verify('elsewhere');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
    expect(storeRequested).toContain('/objects/elsewhere');
  });

  it.each([
    ['loopback', (port: number) => `http://127.0.0.1:${port}/latest/meta-data/iam/security-credentials/admin?Action=DeleteUser`],
    ['loopback-inet-aton', (port: number) => `http://127.1:${port}/admin`],
    ['loopback-hex', (port: number) => `http://0x7f000001:${port}/admin`],
    ['loopback-mapped', (port: number) => `http://[::ffff:127.0.0.1]:${port}/admin`],
    ['loopback-v6', (port: number) => `http://[::1]:${port}/admin`],
    ['localhost', (port: number) => `http://localhost:${port}/admin`],
    ['unspecified', (port: number) => `http://0.0.0.0:${port}/admin`],
    ['link-local', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['link-local-v6', () => 'http://[fe80::1]/admin'],
  ])('refuses a redirect to %s with SIMPLE_STORE_REDIRECT_REFUSED, requesting nothing there', async (name, location) => {
    const { signaturePath } = await signedImage(name);
    storeRoutes.set(signaturePath, { location: location(internal.port) });

    const run = await verify(name);

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
    expect(storeRequested).toContain(signaturePath);
    expect(internal.requests).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain('meta-data');
    expect(run.stdout + run.stderr).not.toContain('/admin');
  });
});
