// Which pull-secret credentials serve an image, matched as container runtimes (the kubelet's
// credential keyring, the Docker client) match them:
// - a key is a registry host, optionally with a port, a path (`host/team` serves only
//   repositories under `team/`) and a scheme, which is ignored; Docker's legacy `/v1/` and
//   `/v2/` path prefixes mean the host itself (`https://index.docker.io/v1/` is Docker Hub);
// - hosts compare in their canonical spelling (shared/image/registry-host.ts): case, the
//   HTTPS default port (`reg:443` is `reg`), IPv6 forms (an IPv4-mapped address is the IPv4
//   address it reaches) and every Docker Hub host name
//   (`index.docker.io`, `registry-1.docker.io`, ...) are one registry. Ports are otherwise
//   exact: a key for `reg` does not serve `reg:5000`;
// - a label of the host may be a glob (`*.example.com`, `?` one character), matching one
//   label, as the kubelet does;
// - every matching credential is returned, most specific first: a literal host before a
//   glob, a longer path before a shorter one, then the order the Secrets were listed in.
// Pure: no I/O, the entries were decoded at the edge.
import { createHmac, randomBytes } from 'node:crypto';
import { canonicalRegistry, splitHostPort } from '../image/registry-host.js';
import type { PullSecretEntry, RegistryCredential } from './pull-secret.js';

// A credential chosen for a request, with the key that matched and where it came from
// (both safe to name in messages and logs: neither is a secret value).
export interface MatchedCredential {
  readonly key: string;
  readonly source: string;
  readonly credential: RegistryCredential;
}

// The per-request lookup verifiers receive (the 5th parameter of ImageVerifier.verify).
export interface RegistryCredentials {
  // Credentials for `registry/repository` (the image's registry as parsed, its repository
  // path), most specific first; empty when none matches (the registry is asked anonymously).
  forRepository(registry: string, repository: string): readonly MatchedCredential[];
}

interface ParsedKey {
  readonly host: string;
  readonly hostName: string;
  readonly port: string | undefined;
  readonly glob: boolean;
  readonly path: string;
  readonly order: number;
  readonly entry: PullSecretEntry;
}

const GLOB_CHARS = /[*?]/;

export function createCredentialKeyring(entries: readonly PullSecretEntry[]): RegistryCredentials {
  const keys = entries.map(parseKey).filter((key): key is ParsedKey => key !== undefined);
  keys.sort(compareSpecificity);
  return {
    forRepository: (registry, repository) => {
      if (keys.length === 0) return [];
      const host = canonicalRegistry(registry);
      const { name, port } = splitHostPort(host);
      return keys
        .filter((key) => hostMatches(key, host, name, port) && pathMatches(key.path, repository))
        .map((key) => ({ key: key.entry.key, source: key.entry.source, credential: key.entry.credential }));
    },
  };
}

// No credentials at all: every registry is asked anonymously.
export const NO_REGISTRY_CREDENTIALS: RegistryCredentials = { forRepository: () => [] };

// Made at start, kept in memory only: fingerprints cannot be compared across processes or
// tried against guessed passwords from outside.
const FINGERPRINT_KEY = randomBytes(32);

// One opaque string per set of credentials (values and order), for keys of work shared
// between requests (an in-flight update), so requests with different credentials never
// share it. '' for none.
export function credentialFingerprint(matches: readonly MatchedCredential[]): string {
  if (matches.length === 0) return '';
  const values = matches.map(({ credential }) => [credential.username ?? null, credential.password ?? null, credential.identityToken ?? null]);
  return createHmac('sha256', FINGERPRINT_KEY).update(JSON.stringify(values)).digest('base64url');
}

function parseKey(entry: PullSecretEntry, order: number): ParsedKey | undefined {
  const withoutScheme = entry.key.trim().replace(/^https?:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const hostText = slash === -1 ? withoutScheme : withoutScheme.slice(0, slash);
  let path = slash === -1 ? '' : withoutScheme.slice(slash);
  path = path.replace(/^\/v[12](?=\/|$)/, '').replace(/^\/+|\/+$/g, '');
  if (hostText === '' || /[\s@#]/.test(hostText)) return undefined;
  const host = canonicalRegistry(hostText);
  const { name, port } = splitHostPort(host);
  return { host, hostName: name, port, glob: GLOB_CHARS.test(name), path, order, entry };
}

// Literal hosts first, then longer paths, then document order.
function compareSpecificity(a: ParsedKey, b: ParsedKey): number {
  if (a.glob !== b.glob) return a.glob ? 1 : -1;
  const depth = segments(b.path) - segments(a.path);
  return depth !== 0 ? depth : a.order - b.order;
}

function segments(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}

function hostMatches(key: ParsedKey, host: string, name: string, port: string | undefined): boolean {
  if (!key.glob) return key.host === host;
  if (key.port !== port) return false;
  const keyLabels = key.hostName.split('.');
  const labels = name.split('.');
  return keyLabels.length === labels.length && keyLabels.every((label, index) => globMatches(label, labels[index] ?? ''));
}

// `*` any run of characters, `?` one, within one label; everything else literal. The
// greedy two-pointer match with one backtrack point costs at most pattern x text steps,
// whatever a hostile key stacks up (no regular expression to backtrack exponentially).
function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p;
      resume = t;
      p += 1;
    } else if (star !== -1) {
      p = star + 1;
      resume += 1;
      t = resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p += 1;
  return p === pattern.length;
}

// A path-scoped key serves its repository and those below it, on segment boundaries
// (`team` serves `team/app`, not `teammate/app`).
function pathMatches(path: string, repository: string): boolean {
  return path === '' || repository === path || repository.startsWith(`${path}/`);
}
