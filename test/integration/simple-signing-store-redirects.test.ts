// Simple signing lookaside stores behind redirects (S3 presigned URLs, CDNs), through
// `trustgate verify --policies` against the real docker-registry: the store is a loopback
// server answering a signature's URL with a redirect to another loopback server (the
// "bucket") or to itself, signatures made with OpenPGP.js. A signature behind redirects
// admits, within 5 redirects; more (or a loop), a downgrade from https to plain http, or a
// scheme other than http(s) is refused with SIMPLE_STORE_REDIRECT_REFUSED and nothing is
// requested there; the store credentials go to the store's own origin only, and never again
// once the chain has left it; the byte bound covers every answer of the chain; an answer
// after a redirect is reported as that hop's (its origin only, no path or query), with a
// credentials hint only for the store's own answer.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findClosedPort, startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { simpleKeySecretYaml } from '../support/key-secrets.js';
import { pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

const STORE_USER = 'sig-reader';
const STORE_PASSWORD = 'store-password-5b1c7d';
const AUTHORIZATION = `Basic ${Buffer.from(`${STORE_USER}:${STORE_PASSWORD}`).toString('base64')}`;
const PRESIGNED = 'X-Amz-Signature=presigned-query-secret';

// What a server answers for a path: a redirect, or bytes.
type Route = { readonly status: number; readonly location?: string; readonly body?: Buffer } | { readonly bytes: Uint8Array };

interface RoutedServer {
  readonly server: LocalServer;
  readonly routes: Map<string, Route>;
  // Paths requested, in order, query left out.
  requested(): string[];
}

let scratch: string;
let ca: TestCa;
let registry: DockerRegistry;
let release: openpgp.PrivateKey;
let policyFile: string;
// The store the policy names over http (behind basic auth, plain http being allowed on
// loopback), the same over https, and the other origin they redirect to (no auth).
let store: RoutedServer;
let tlsStore: RoutedServer;
let bucket: RoutedServer;

// A loopback server answering by path; with `authorization`, only requests carrying it.
async function startRoutedServer(authorization?: string, tls?: { certPem: string; keyPem: string }): Promise<RoutedServer> {
  const routes = new Map<string, Route>();
  const server = await startLocalServer((request, response) => {
    if (authorization !== undefined && request.headers.authorization !== authorization) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="signatures"' }).end();
      return;
    }
    const route = routes.get(new URL(request.url ?? '/', 'http://x').pathname);
    if (route === undefined) response.writeHead(404).end();
    else if ('bytes' in route) response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(route.bytes);
    else response.writeHead(route.status, route.location === undefined ? {} : { location: route.location }).end(route.body);
  }, tls);
  return { server, routes, requested: () => server.requests.map((request) => new URL(request.url, 'http://x').pathname) };
}

beforeAll(async () => {
  scratch = await makeTempDir('store-redirects');
  ca = await createTestCa();
  registry = await startDockerRegistry();
  store = await startRoutedServer(AUTHORIZATION);
  tlsStore = await startRoutedServer(undefined, { certPem: await readFile(ca.serverCertFile, 'utf8'), keyPem: await readFile(ca.serverKeyFile, 'utf8') });
  bucket = await startRoutedServer();
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'release', email: 'release@example.com' }], date: new Date(Date.now() - 120_000), format: 'object' });
  release = privateKey;
  await mkdir(join(scratch, 'policies'), { recursive: true });
  policyFile = join(scratch, 'policies', 'redirects.yaml');
  const signedBy = '[{type: signedBy, keySecret: release-gpg}]';
  await writeFile(policyFile, `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: redirects}
spec:
  repositories:
    - name: "${registry.host}/plain/*"
      policy: {simple: {storeURL: "${store.server.url}", storeSecret: store-creds, requirements: ${signedBy}}}
    - name: "${registry.host}/tls/*"
      policy: {simple: {storeURL: "${tlsStore.server.url}/sigs", requirements: ${signedBy}}}
---
${simpleKeySecretYaml('release-gpg', 'default', publicKey.armor())}
---
apiVersion: v1
kind: Secret
metadata: {name: store-creds, namespace: default}
stringData: {username: "${STORE_USER}", password: "${STORE_PASSWORD}"}
`);
}, 120_000);

afterAll(async () => {
  for (const server of [store, tlsStore, bucket]) await server?.server.close();
  await registry?.stop();
  await ca?.remove();
  if (scratch !== undefined) await removeDir(scratch);
});

// Pushes `repository:v1` and answers the release key's signature of it, as skopeo would
// store it: its bytes and the path of signature-1 under a store URL with path `prefix`.
async function signedImage(repository: string, prefix = ''): Promise<{ signature: Uint8Array; signaturePath: string }> {
  const { digest } = await pushImage(registry, repository, 'v1');
  const payload = JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': digest }, identity: { 'docker-reference': `${registry.host}/${repository}:v1` } }, optional: {} });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(payload) });
  // OpenPGP.js's overloads leave the binary form's type unresolved: it is a Uint8Array.
  const signature = (await openpgp.sign({ message, signingKeys: release, format: 'binary', date: new Date(Date.now() - 60_000) })) as unknown as Uint8Array;
  return { signature, signaturePath: `${prefix}/${repository}@${digest.replace(':', '=')}/signature-1` };
}

const verify = (repository: string): Promise<TrustgateRun> =>
  runTrustgate(['verify', `${registry.host}/${repository}:v1`, '--policies', policyFile, '--json'], { stateDir: scratch, caFile: ca.caFile });

describe('a lookaside store that redirects signature reads', () => {
  it('admits a signature one redirect away on another origin, which never receives the store credentials', async () => {
    const { signature, signaturePath } = await signedImage('plain/cross-origin');
    store.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/objects/cross-origin?${PRESIGNED}` });
    bucket.routes.set('/objects/cross-origin', { bytes: signature });

    const run = await verify('plain/cross-origin');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
    expect(bucket.requested()).toContain('/objects/cross-origin');
    expect(bucket.server.requests.map((request) => request.headers.authorization)).toEqual(bucket.server.requests.map(() => undefined));
    expect(run.stdout + run.stderr).not.toContain(STORE_PASSWORD);
  });

  it('resolves a relative Location against the URL that answered it and sends the credentials on within the store\'s origin', async () => {
    const { signature, signaturePath } = await signedImage('plain/relative');
    store.routes.set(signaturePath, { status: 307, location: '../relocated/signature-1' });
    const relocated = new URL('../relocated/signature-1', `http://x${signaturePath}`).pathname;
    // The store answers only requests with its credentials.
    store.routes.set(relocated, { bytes: signature });

    const run = await verify('plain/relative');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
    expect(store.requested()).toContain(relocated);
  });

  it('follows up to 5 redirects (301, 302, 303, 307, 308) and refuses a sixth with SIMPLE_STORE_REDIRECT_REFUSED, requesting nothing there', async () => {
    const statuses = [301, 302, 303, 307, 308];
    const chain = async (repository: string, hops: number): Promise<void> => {
      const { signature, signaturePath } = await signedImage(repository);
      const hop = (index: number): string => `/hops/${repository}/${index}`;
      store.routes.set(signaturePath, { status: statuses[0] ?? 302, location: `${bucket.server.url}${hop(1)}` });
      for (let index = 1; index < hops; index += 1) bucket.routes.set(hop(index), { status: statuses[index % statuses.length] ?? 302, location: hop(index + 1) });
      bucket.routes.set(hop(hops), { bytes: signature });
    };
    await chain('plain/five-redirects', 5);
    await chain('plain/six-redirects', 6);

    const five = await verify('plain/five-redirects');
    const six = await verify('plain/six-redirects');

    expect(five.json, five.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
    expect(six.json, six.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
    expect(bucket.requested()).toContain('/hops/plain/six-redirects/5');
    expect(bucket.requested()).not.toContain('/hops/plain/six-redirects/6');
  });

  it('refuses a redirect loop with SIMPLE_STORE_REDIRECT_REFUSED', async () => {
    const { signaturePath } = await signedImage('plain/loop');
    store.routes.set(signaturePath, { status: 302, location: signaturePath });

    const run = await verify('plain/loop');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
    expect(store.requested().filter((path) => path === signaturePath)).toHaveLength(6);
  });

  it('refuses a redirect from an https store to plain http with SIMPLE_STORE_REDIRECT_REFUSED, requesting nothing there', async () => {
    const { signature, signaturePath } = await signedImage('tls/downgrade', '/sigs');
    tlsStore.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/objects/downgrade` });
    bucket.routes.set('/objects/downgrade', { bytes: signature });

    const run = await verify('tls/downgrade');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
    expect(tlsStore.requested()).toContain(signaturePath);
    expect(bucket.requested()).not.toContain('/objects/downgrade');
  });

  it('admits a signature an https store redirects to over https', async () => {
    const { signature, signaturePath } = await signedImage('tls/kept', '/sigs');
    tlsStore.routes.set(signaturePath, { status: 308, location: `${tlsStore.server.url}/objects/kept?${PRESIGNED}` });
    tlsStore.routes.set('/objects/kept', { bytes: signature });

    const run = await verify('tls/kept');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
  });

  it.each(['file:///etc/passwd', 'ftp://127.0.0.1/signature-1', 'data:application/octet-stream;base64,AAAA'])('refuses a redirect to %s with SIMPLE_STORE_REDIRECT_REFUSED', async (location) => {
    const repository = `plain/scheme-${location.slice(0, location.indexOf(':'))}`;
    const { signaturePath } = await signedImage(repository);
    store.routes.set(signaturePath, { status: 302, location });

    const run = await verify(repository);

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
  });

  it('counts the redirect answers against the signature\'s 64 KiB bound: a genuine signature after a redirect body that leaves too little room is too large', async () => {
    const { signature, signaturePath } = await signedImage('plain/heavy-redirect');
    // Each answer alone is within the bound; together they are one byte over it.
    store.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/objects/heavy`, body: Buffer.alloc(64 * 1024 - signature.length + 1, 0x20) });
    bucket.routes.set('/objects/heavy', { bytes: signature });

    const run = await verify('plain/heavy-redirect');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_SIGNATURE_INVALID'] });
    expect(run.json?.reasons.join(' ')).toContain('larger than');
  });

  it('keeps the presigned query of a redirect out of the verdict', async () => {
    const { signaturePath } = await signedImage('plain/presigned-missing');
    store.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/objects/gone?${PRESIGNED}` });
    bucket.routes.set('/objects/gone', { status: 302, location: 'gopher://127.0.0.1/' });

    const run = await verify('plain/presigned-missing');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_REDIRECT_REFUSED'] });
    expect(run.stdout + run.stderr).not.toContain('presigned-query-secret');
  });

  it('never sends the store credentials again once the chain has left the store\'s origin, even when another origin redirects back to it', async () => {
    const { signaturePath } = await signedImage('plain/bounce-back');
    store.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/bounce/plain/bounce-back` });
    bucket.routes.set('/bounce/plain/bounce-back', { status: 302, location: `${store.server.url}/tenant-b/private?from=bounce` });

    const run = await verify('plain/bounce-back');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    const returned = store.server.requests.filter((request) => request.url.startsWith('/tenant-b/private'));
    expect(returned).toHaveLength(1);
    expect(returned[0]?.headers.authorization).toBeUndefined();
    expect(store.server.requests.find((request) => new URL(request.url, 'http://x').pathname === signaturePath)?.headers.authorization).toBe(AUTHORIZATION);
    // The store's 401 there was not an answer to its credentials: no hint blames them.
    expect(run.json?.reasons.join(' ')).not.toContain('credentials');
  });

  it('reports a bucket\'s 403 to a redirect (an expired presigned URL, sent no credentials by design) as the bucket\'s answer, without a credentials hint', async () => {
    const { signaturePath } = await signedImage('plain/expired-presigned');
    store.routes.set(signaturePath, { status: 302, location: `${bucket.server.url}/objects/expired?${PRESIGNED}` });
    bucket.routes.set('/objects/expired', { status: 403, body: Buffer.from('<Error><Code>AccessDenied</Code>Request has expired</Error>') });

    const run = await verify('plain/expired-presigned');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    const reasons = run.json?.reasons.join(' ') ?? '';
    expect(reasons).toContain(`redirected to ${bucket.server.url} (after 1 redirect), which answered with status 403`);
    expect(reasons).not.toContain('credentials');
    expect(reasons).not.toContain('/objects/expired');
    expect(run.stdout + run.stderr).not.toContain('presigned-query-secret');
  });

  it('keeps the credentials hint for the store\'s own 403 to its credentials', async () => {
    const { signaturePath } = await signedImage('plain/store-forbids');
    store.routes.set(signaturePath, { status: 403 });

    const run = await verify('plain/store-forbids');

    expect(run.json, run.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    expect(run.json?.reasons.join(' ')).toContain(`lookaside store answered ${store.server.url}${signaturePath} with status 403 (credentials missing or rejected)`);
  });

  it('names a redirect hop that cannot be reached, or answers an error, by its origin only: not the path or query the store chose', async () => {
    const closedPort = await findClosedPort();
    const refusedHop = await signedImage('plain/hop-refused');
    store.routes.set(refusedHop.signaturePath, { status: 302, location: `http://127.0.0.1:${closedPort}/internal/admin/delete-user?token=hop-query-secret` });
    const failingHop = await signedImage('plain/hop-fails');
    store.routes.set(failingHop.signaturePath, { status: 302, location: `${bucket.server.url}/internal/status-probe?token=hop-query-secret` });
    bucket.routes.set('/internal/status-probe', { status: 500 });

    const refusedRun = await verify('plain/hop-refused');
    const failingRun = await verify('plain/hop-fails');

    expect(refusedRun.json, refusedRun.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    expect(refusedRun.json?.reasons.join(' ')).toContain(`redirect 1 to http://127.0.0.1:${closedPort}: cannot reach http://127.0.0.1:${closedPort}: ECONNREFUSED`);
    expect(failingRun.json, failingRun.stderr).toMatchObject({ allowed: false, codes: ['SIMPLE_STORE_UNAVAILABLE'] });
    expect(failingRun.json?.reasons.join(' ')).toContain(`redirected to ${bucket.server.url} (after 1 redirect), which answered with status 500`);
    for (const run of [refusedRun, failingRun]) {
      expect(run.stdout + run.stderr).not.toContain('/internal/');
      expect(run.stdout + run.stderr).not.toContain('hop-query-secret');
    }
  });

  it('follows a loopback store\'s redirect to another spelling of loopback (127.1)', async () => {
    const { signature, signaturePath } = await signedImage('plain/loopback-spelling');
    store.routes.set(signaturePath, { status: 302, location: `http://127.1:${bucket.server.port}/objects/loopback-spelling` });
    bucket.routes.set('/objects/loopback-spelling', { bytes: signature });

    const run = await verify('plain/loopback-spelling');

    expect(run.json, run.stderr).toMatchObject({ allowed: true, verifiedBy: ['simple'] });
    expect(bucket.requested()).toContain('/objects/loopback-spelling');
  });
});
