// Red Hat simple signing for real: throwaway GPG keys made with Debian's gnupg, images copied
// and signed with Debian's skopeo (`skopeo copy --sign-by`), signatures written either into a
// lookaside directory (served here over HTTP, optionally behind basic auth) or into the
// registry's signature extension, which a small server in front of the real docker-registry
// adds (it announces `X-Registry-Supports-Signatures: 1`, stores what skopeo PUTs to
// `/extensions/v2/<name>/signatures/<digest>`, one `{version, name, type, content}` entry
// per request, and serves them back as `{"signatures": [...]}`).
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { runCommand, runCommandOrThrow } from './run-command.js';

export function isSkopeoInstalled(): boolean {
  return ['/usr/bin/skopeo', '/usr/bin/gpg'].every((file) => existsSync(file));
}

export interface GpgKeys {
  readonly home: string;
  // Fingerprint of a new signing key (ed25519, no passphrase, no expiry).
  generate(name: string): Promise<string>;
  // The armored public key of `fingerprint`, as `gpg --export --armor` writes it.
  exportPublic(fingerprint: string): Promise<string>;
}

export async function createGpgKeys(home: string): Promise<GpgKeys> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home, PATH: process.env['PATH'] ?? '' };
  return {
    home,
    async generate(name) {
      const email = `${name}@example.com`;
      await runCommandOrThrow('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <${email}>`, 'ed25519', 'sign', 'never'], { env });
      const listed = await runCommandOrThrow('gpg', ['--batch', '--with-colons', '--list-keys', email], { env });
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listed.stdout)?.[1];
      if (fingerprint === undefined) throw new Error(`no fingerprint for ${email}:\n${listed.stdout}`);
      return fingerprint;
    },
    async exportPublic(fingerprint) {
      return (await runCommandOrThrow('gpg', ['--batch', '--export', '--armor', fingerprint], { env })).stdout;
    },
  };
}

export interface SkopeoCopy {
  readonly from: string;
  readonly to: string;
  // Key fingerprint to sign with (in `keys.home`); unsigned without it.
  readonly signBy?: string;
  // A registries.d directory: where skopeo writes lookaside signatures.
  readonly registriesDir: string;
}

// `skopeo copy` between two registries on loopback (plain http); answers the manifest digest
// written at the destination.
export async function skopeoCopy(keys: GpgKeys, copy: SkopeoCopy, scratch: string): Promise<string> {
  const digestFile = join(scratch, `digest-${Math.random().toString(36).slice(2)}`);
  const args = [
    'copy',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    '--registries.d',
    copy.registriesDir,
    '--digestfile',
    digestFile,
    ...(copy.signBy === undefined ? [] : ['--sign-by', copy.signBy]),
    `docker://${copy.from}`,
    `docker://${copy.to}`,
  ];
  const result = await runCommand('skopeo', args, { env: { GNUPGHOME: keys.home, PATH: process.env['PATH'] ?? '', HOME: scratch } });
  if (result.exitCode !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${result.exitCode}):\n${result.stderr}`);
  return (await readFile(digestFile, 'utf8')).trim();
}

// A registries.d directory that makes skopeo write signatures for `registryHost` into
// `lookasideDir` (or, without one, leaves it to the registry's extension).
export async function writeRegistriesDir(dir: string, registryHost: string, lookasideDir?: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const body = lookasideDir === undefined ? 'docker: {}\n' : `docker:\n  "${registryHost}":\n    lookaside-staging: file://${lookasideDir}\n`;
  await writeFile(join(dir, 'default.yaml'), body);
  return dir;
}

export interface HttpServer {
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<HttpServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Serves the files under `dir` (a lookaside store) read-only; with `credentials`, only to
// requests carrying them as basic auth (401 otherwise). Missing files are 404.
export function serveLookaside(dir: string, credentials?: { username: string; password: string }): Promise<HttpServer> {
  const expected = credentials === undefined ? undefined : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const root = normalize(dir);
  const server = http.createServer((request, response) => {
    if (expected !== undefined && request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="signatures"' }).end();
      return;
    }
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root + sep)) {
      response.writeHead(404).end();
      return;
    }
    stat(path).then(
      (info) => {
        if (!info.isFile()) {
          response.writeHead(404).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(info.size) });
        createReadStream(path).pipe(response);
      },
      () => response.writeHead(404).end(),
    );
  });
  return listen(server);
}

export interface SignatureExtensionProxy extends HttpServer {
  // Signature entries skopeo stored, by `<name>@<digest>`.
  readonly stored: Map<string, unknown[]>;
}

const EXTENSION_RE = /^\/extensions\/v2\/(.+)\/signatures\/(sha256:[0-9a-f]{64})$/;

// The real registry behind a server that adds the signature extension: every answer carries
// `X-Registry-Supports-Signatures: 1`; extension requests are answered here, everything else
// is passed through unchanged (with the client's Host, so upload locations point here).
export async function startSignatureExtensionProxy(registryUrl: string): Promise<SignatureExtensionProxy> {
  const upstream = new URL(registryUrl);
  const stored = new Map<string, unknown[]>();
  const server = http.createServer((request, response) => {
    const match = EXTENSION_RE.exec(new URL(request.url ?? '/', 'http://x').pathname);
    if (match !== null) {
      const key = `${match[1]}@${match[2]}`;
      if (request.method === 'GET') {
        response.writeHead(200, { 'content-type': 'application/json', 'x-registry-supports-signatures': '1' }).end(JSON.stringify({ signatures: stored.get(key) ?? [] }));
        return;
      }
      if (request.method === 'PUT') {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          // containers/image PUTs one signature entry per request.
          const entry = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          stored.set(key, [...(stored.get(key) ?? []), entry]);
          response.writeHead(201, { 'x-registry-supports-signatures': '1' }).end();
        });
        return;
      }
      response.writeHead(405).end();
      return;
    }
    const forwarded = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-registry-supports-signatures': '1' });
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.writeHead(502).end());
    request.pipe(forwarded);
  });
  const listening = await listen(server);
  return { ...listening, stored };
}
