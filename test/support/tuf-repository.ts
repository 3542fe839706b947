// A real TUF repository (spec 1.0, consistent snapshots, as Sigstore's is laid out) built in
// the test: ed25519 keys made with node:crypto, metadata signed over its canonical JSON, and
// served from a real HTTP server on loopback, metadata under `/` and targets under
// `/targets/`. Expiry is always relative to the system clock (tuf-js reads it), never a fixed
// date, so the tests pass with the clock moved years ahead.
//
// The mirror can be made hostile the ways an attacker would: serve other bytes under a
// signed target name, sign with a key the root does not name, put back older metadata,
// or let metadata expire.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalize } from '@tufjs/canonical-json';
import { startLocalServer, type LocalServer } from './local-http-server.js';

const DAY_MS = 24 * 3_600_000;

export interface TufKey {
  readonly keyid: string;
  readonly privateKey: KeyObject;
  readonly json: { readonly keytype: 'ed25519'; readonly scheme: 'ed25519'; readonly keyval: { readonly public: string } };
}

type Role = 'root' | 'timestamp' | 'snapshot' | 'targets';

export function makeTufKey(): TufKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } } as const;
  return { keyid: createHash('sha256').update(canonicalize(json)).digest('hex'), privateKey, json };
}

// Signs `signed` with each key, as TUF does (over the canonical JSON of `signed`).
export function signTufMetadata(signed: Record<string, unknown>, keys: readonly TufKey[]): Uint8Array {
  const bytes = Buffer.from(canonicalize(signed));
  const signatures = keys.map((key) => ({ keyid: key.keyid, sig: sign(null, bytes, key.privateKey).toString('hex') }));
  return Buffer.from(JSON.stringify({ signed, signatures }));
}

function expiresIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class TufRepository {
  readonly keys: Record<Role, TufKey> = { root: makeTufKey(), timestamp: makeTufKey(), snapshot: makeTufKey(), targets: makeTufKey() };
  // Every file the server answers, by path.
  readonly files = new Map<string, Uint8Array>();
  rootVersion = 0;
  timestampVersion = 0;
  snapshotVersion = 0;
  targetsVersion = 0;
  private target: Uint8Array | undefined;
  private readonly rootsByVersion = new Map<number, Uint8Array>();

  constructor() {
    this.publishRoot([this.keys.root]);
  }

  // root.json of a version, as a client ships it.
  root(version = 1): Uint8Array {
    const bytes = this.rootsByVersion.get(version);
    if (bytes === undefined) throw new Error(`no root version ${version}`);
    return bytes;
  }

  // A new root version naming the current role keys, signed by `signers` (the previous
  // root's key and the new one, for a rotation).
  publishRoot(signers: readonly TufKey[], options: { readonly expiresInMs?: number } = {}): void {
    this.rootVersion += 1;
    const keys = Object.fromEntries(Object.values(this.keys).map((key) => [key.keyid, key.json]));
    const role = (name: Role): { keyids: string[]; threshold: number } => ({ keyids: [this.keys[name].keyid], threshold: 1 });
    const signed = {
      _type: 'root',
      spec_version: '1.0.31',
      version: this.rootVersion,
      expires: expiresIn(options.expiresInMs ?? 365 * DAY_MS),
      consistent_snapshot: true,
      keys,
      roles: { root: role('root'), timestamp: role('timestamp'), snapshot: role('snapshot'), targets: role('targets') },
    };
    const bytes = signTufMetadata(signed, signers);
    this.rootsByVersion.set(this.rootVersion, bytes);
    this.files.set(`/${this.rootVersion}.root.json`, bytes);
  }

  // Publishes `target` as trusted_root.json: new targets, snapshot and timestamp versions.
  // `signers` override the role keys (a forged signature); `expiresInMs` sets every new
  // document's expiry (negative: already expired).
  publishTarget(target: Uint8Array, options: { readonly signers?: Partial<Record<Role, TufKey>>; readonly expiresInMs?: number } = {}): void {
    this.target = target;
    const expires = expiresIn(options.expiresInMs ?? 7 * DAY_MS);
    const signer = (role: Role): TufKey => options.signers?.[role] ?? this.keys[role];
    this.targetsVersion += 1;
    const targets = signTufMetadata(
      {
        _type: 'targets',
        spec_version: '1.0.31',
        version: this.targetsVersion,
        expires,
        targets: { 'trusted_root.json': { length: target.length, hashes: { sha256: sha256(target) } } },
      },
      [signer('targets')],
    );
    this.files.set(`/${this.targetsVersion}.targets.json`, targets);
    this.files.set(`/targets/${sha256(target)}.trusted_root.json`, target);
    this.snapshotVersion += 1;
    const snapshot = signTufMetadata(
      { _type: 'snapshot', spec_version: '1.0.31', version: this.snapshotVersion, expires, meta: { 'targets.json': { version: this.targetsVersion } } },
      [signer('snapshot')],
    );
    this.files.set(`/${this.snapshotVersion}.snapshot.json`, snapshot);
    this.publishTimestamp({ signer: signer('timestamp'), expires, snapshot });
  }

  private publishTimestamp(options: { readonly signer: TufKey; readonly expires: string; readonly snapshot: Uint8Array }): void {
    this.timestampVersion += 1;
    const timestamp = signTufMetadata(
      {
        _type: 'timestamp',
        spec_version: '1.0.31',
        version: this.timestampVersion,
        expires: options.expires,
        meta: { 'snapshot.json': { version: this.snapshotVersion, length: options.snapshot.length, hashes: { sha256: sha256(options.snapshot) } } },
      },
      [options.signer],
    );
    this.files.set('/timestamp.json', timestamp);
  }

  // Serves `bytes` under the name of the signed target: what a compromised CDN would do.
  replaceServedTarget(bytes: Uint8Array): void {
    if (this.target === undefined) throw new Error('no target published');
    this.files.set(`/targets/${sha256(this.target)}.trusted_root.json`, bytes);
  }

  // Everything the server answers now, to be put back later (a rollback).
  saveFiles(): Map<string, Uint8Array> {
    return new Map(this.files);
  }

  restoreFiles(saved: Map<string, Uint8Array>): void {
    this.files.clear();
    for (const [path, bytes] of saved) this.files.set(path, bytes);
  }

  // While true, every connection is dropped without an answer (the mirror is unreachable).
  offline = false;

  handler = (request: IncomingMessage, response: ServerResponse): void => {
    if (this.offline) {
      request.socket.destroy();
      return;
    }
    const bytes = this.files.get(request.url ?? '');
    if (request.method !== 'GET' || bytes === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length }).end(bytes);
  };

  serve(): Promise<LocalServer> {
    return startLocalServer(this.handler);
  }
}
