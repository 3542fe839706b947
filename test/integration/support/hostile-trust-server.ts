// A trust server run by an attacker: plain HTTP on loopback, serving Notary metadata that is
// validly signed (built with notary-builder) but shaped to make a client spend: enormous or
// countless delegations, root versions without end, responses that drip. Every request is
// recorded, so tests and the soak script can show how much a client asked for.
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RoleName } from '../../../shared/trust/notary/model.js';
import { startLocalServer, type LocalServer } from '../../support/local-http-server.js';
import { DEFAULT_NOW, buildRepository, generateRootCertKey, type BuiltRepository, type DelegationSpec } from '../../support/notary-builder.js';

export interface Drip {
  // Bytes per tick and the tick; the response never ends on its own.
  readonly bytes: number;
  readonly everyMs: number;
}

export interface HostileTrustServer {
  readonly url: string;
  // Paths requested, in order (`/v2/<gun>/_trust/tuf/<file>`).
  readonly requests: readonly string[];
  // Serve every role of `metadata` under `gun` as notary-server addresses it.
  publish(gun: string, metadata: ReadonlyMap<RoleName, Uint8Array>): void;
  // Answer every request of `gun` by dripping bytes, forever.
  drip(gun: string, drip: Drip): void;
  // Drip connections the client has closed so far.
  readonly closedDrips: number;
  stop(): Promise<void>;
}

const TUF_PATH = /^\/v2\/(.+)\/_trust\/tuf\/(.+)$/;

export async function startHostileTrustServer(): Promise<HostileTrustServer> {
  const files = new Map<string, Uint8Array>();
  const drips = new Map<string, Drip>();
  const requests: string[] = [];
  let closedDrips = 0;
  const server: LocalServer = await startLocalServer((request, response) => {
    const path = request.url ?? '';
    requests.push(path);
    const match = TUF_PATH.exec(path);
    const drip = match?.[1] === undefined ? undefined : drips.get(match[1]);
    if (drip !== undefined) {
      dripForever(response, drip, () => (closedDrips += 1));
      return;
    }
    const body = files.get(path);
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
  });
  return {
    url: server.url,
    requests,
    publish(gun, metadata) {
      for (const [role, bytes] of metadata) {
        const base = `/v2/${gun}/_trust/tuf/`;
        files.set(`${base}${role}.json`, bytes);
        files.set(`${base}${role}.${createHash('sha256').update(bytes).digest('hex')}.json`, bytes);
        if (role === 'root') files.set(`${base}${rootVersionOf(bytes)}.root.json`, bytes);
      }
    },
    drip(gun, drip) {
      drips.set(gun, drip);
    },
    get closedDrips() {
      return closedDrips;
    },
    stop: () => server.close(),
  };
}

function dripForever(response: ServerResponse, drip: Drip, onClosed: () => void): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(() => response.write(' '.repeat(drip.bytes)), drip.everyMs);
  response.on('close', () => {
    clearInterval(timer);
    onClosed();
  });
}

function rootVersionOf(bytes: Uint8Array): number {
  return (JSON.parse(new TextDecoder().decode(bytes)) as { signed: { version: number } }).signed.version;
}

// A target name long enough that a few thousand of them make a document of megabytes.
function paddedTargets(prefix: string, count: number): Record<string, { sha256Hex: string; length: number }> {
  const pad = 'x'.repeat(200);
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}-${i}-${pad}`, { sha256Hex: createHash('sha256').update(`${prefix}${i}`).digest('hex'), length: 1000 + i }]));
}

export interface DelegationFlood {
  // Children of targets/releases, each listed in the snapshot.
  readonly count: number;
  // Roughly this many bytes each (0: as small as they come).
  readonly bytesEach: number;
  // Signed at this time (the hostile server's clock is the test's).
  readonly now?: Date;
  // A tag signed in top-level targets, so a verification of it succeeds.
  readonly signedTag?: { readonly name: string; readonly sha256Hex: string; readonly length: number };
}

// targets/releases with `count` children: a tag releases does not hold makes a Docker
// client walk every child, loading each (the subtree is searched before targets is).
export function delegationFlood(gun: string, flood: DelegationFlood): BuiltRepository {
  const perTarget = 330;
  const children: DelegationSpec[] = Array.from({ length: flood.count }, (_, i) => ({
    name: `targets/releases/d${i}`,
    parent: 'targets/releases',
    targets: flood.bytesEach === 0 ? {} : paddedTargets(`d${i}`, Math.ceil(flood.bytesEach / perTarget)),
  }));
  return buildRepository(gun, {
    now: flood.now ?? DEFAULT_NOW,
    delegations: [{ name: 'targets/releases' }, ...children],
    ...(flood.signedTag === undefined ? {} : { targets: { [flood.signedTag.name]: flood.signedTag } }),
  });
}

// The next state of `state`'s repository under a root whose version is `version`, signed by
// the old and the new root keys: valid as a single step, but it claims that every version
// in between exists.
export function rootJump(state: BuiltRepository, version: number): BuiltRepository {
  const newRoot = generateRootCertKey(state.gun, { notBefore: new Date(state.now.getTime() - 86_400_000), notAfter: new Date(state.now.getTime() + 3_650 * 86_400_000) });
  const targets = state.signed.get('targets')?.['targets'] as Record<string, { hashes: { sha256: string }; length: number }> | undefined;
  return buildRepository(state.gun, {
    now: state.now,
    keys: { ...state.keys, root: [newRoot] },
    versions: { root: version, timestamp: 2, snapshot: 2, targets: 2 },
    signers: { root: [...state.keys.root, newRoot] },
    targets: Object.fromEntries(Object.entries(targets ?? {}).map(([name, meta]) => [name, { sha256Hex: Buffer.from(meta.hashes.sha256, 'base64').toString('hex'), length: meta.length }])),
  });
}
