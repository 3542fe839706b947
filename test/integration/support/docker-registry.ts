// Runs the real docker-registry (distribution 2.8.2, Debian's package unpacked by
// scripts/install-test-servers.sh into .build/docker-registry) on a free loopback port with
// filesystem storage and, optionally, a notification endpoint; and pushes images to it the
// way docker does, without docker (REFERENCE §2).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from './free-port.js';
import { spawnServer, waitUntilReady } from './server-process.js';
import { makeTempDir, removeDir } from './temp-dir.js';

export const DOCKER_REGISTRY_BIN =
  process.env['TRUSTGATE_DOCKER_REGISTRY'] ?? fileURLToPath(new URL('../../../.build/docker-registry/usr/bin/docker-registry', import.meta.url));

export interface Notifications {
  readonly url: string;
  readonly token: string;
  // PEM CA the registry trusts for an https `url`. Distribution 2.8 has no TLS setting for
  // notification endpoints (they use Go's default transport), so the CA is handed to the Go
  // runtime as SSL_CERT_FILE, which replaces the system roots for that process.
  readonly caFile?: string;
}

// Docker token auth for the registry (`auth.token`): a token service's realm and the
// certificate bundle its tokens are signed under.
export interface RegistryTokenAuth {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertBundleFile: string;
}

export interface DockerRegistry {
  // host:port, e.g. 127.0.0.1:41234
  readonly host: string;
  readonly url: string;
  // Headers the push helpers send with every request (a bearer token in token mode).
  readonly pushHeaders?: Readonly<Record<string, string>>;
  log(): string;
  stop(): Promise<void>;
}

export function isDockerRegistryInstalled(): boolean {
  return existsSync(DOCKER_REGISTRY_BIN);
}

export async function startDockerRegistry(notifications?: Notifications, auth?: RegistryTokenAuth): Promise<DockerRegistry> {
  const dir = await makeTempDir('registry');
  const port = await getFreePort();
  const config = [
    'version: 0.1',
    'log: {level: info}',
    `storage: {filesystem: {rootdirectory: ${JSON.stringify(join(dir, 'data'))}}}`,
    `http: {addr: "127.0.0.1:${port}"}`,
    ...(auth === undefined
      ? []
      : [`auth: {token: {realm: ${JSON.stringify(auth.realm)}, service: ${JSON.stringify(auth.service)}, issuer: ${JSON.stringify(auth.issuer)}, rootcertbundle: ${JSON.stringify(auth.rootCertBundleFile)}}}`]),
    ...(notifications === undefined
      ? []
      : [
          'notifications:',
          '  endpoints:',
          '    - name: trustgate',
          `      url: ${JSON.stringify(notifications.url)}`,
          `      headers: {Authorization: [${JSON.stringify(`Bearer ${notifications.token}`)}]}`,
          '      timeout: 2s',
          '      threshold: 3',
          '      backoff: 200ms',
        ]),
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), `${config}\n`);
  const caEnv = notifications?.caFile === undefined ? {} : { SSL_CERT_FILE: notifications.caFile };
  const server = spawnServer(DOCKER_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { cwd: dir, env: { ...process.env, ...caEnv } });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await server.stop();
    await removeDir(dir);
  };
  try {
    await waitUntilReady(server, { name: 'docker-registry', url: `${url}/v2/`, timeoutMs: 10_000, ...(auth === undefined ? {} : { readyStatuses: [401] }) });
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: `127.0.0.1:${port}`, url, log: server.log, stop };
}

export interface PushedImage {
  // sha256:<hex> of the manifest bytes.
  readonly digest: string;
  readonly size: number;
}

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

// Pushes a one-layer image (random content) as REPOSITORY:TAG: blobs through the upload API,
// then the manifest with its media type.
export async function pushImage(registry: DockerRegistry, repository: string, tag: string): Promise<PushedImage> {
  const layer = randomBytes(64);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const blob of [layer, config]) await pushBlob(registry, repository, blob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha256(config) },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: sha256(layer) }],
    }),
  );
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { ...registry.pushHeaders, 'content-type': MANIFEST_TYPE }, body: manifest });
  if (response.status !== 201) throw new Error(`manifest PUT: expected 201, got ${response.status}: ${await response.text()}`);
  return { digest: sha256(manifest), size: manifest.length };
}

export async function pushBlob(registry: DockerRegistry, repository: string, blob: Buffer): Promise<void> {
  const start = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { ...registry.pushHeaders } });
  const location = start.headers.get('location');
  if (start.status !== 202 || location === null) throw new Error(`blob upload start: expected 202, got ${start.status}`);
  const target = new URL(location, registry.url);
  target.searchParams.set('digest', sha256(blob));
  const put = await fetch(target, { method: 'PUT', headers: { ...registry.pushHeaders, 'content-type': 'application/octet-stream' }, body: blob });
  if (put.status !== 201) throw new Error(`blob PUT: expected 201, got ${put.status}`);
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
