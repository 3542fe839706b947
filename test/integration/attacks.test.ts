// Attacks on the wire and on the server, played through a tamper proxy in front of the
// real notary-server. Each forgery is checked first to be one a careless client would
// swallow (the same repository verifies through the untouched proxy), then refused by
// trustgate with the code naming the defence that caught it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIZE_LIMITS } from '../../shared/trust/notary/model.js';
import { NotaryCli } from './support/notary-cli.js';
import { randomTarget, uniqueGun } from './support/scenarios.js';
import { readTrustedRoot } from './support/state-dir.js';
import { flipSignatureBit, padToSize } from './support/tamper-bytes.js';
import { parseMetadataPath, roleOfMetadataFile, startTamperProxy, type TamperProxy } from './support/tamper-proxy.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';

let env: TrustEnvironment;
let proxy: TamperProxy;

beforeAll(async () => {
  env = await startTrustEnvironment();
  if (env.server.ca === undefined) throw new Error('the notary-server runs without TLS');
  proxy = await startTamperProxy({ upstream: env.server, tls: env.server.ca });
});

afterAll(async () => {
  await proxy?.stop();
  await env?.stop();
});

beforeEach(() => {
  proxy.reset();
});

// Verifies through the proxy.
async function verifyThroughProxy(image: string, stateDir?: string): Promise<TrustgateRun> {
  return runTrustgateVerify({ image, trustServer: proxy.url, caFile: env.caFile, stateDir: stateDir ?? (await env.makeDir('state')) });
}

function expectAllowed(run: TrustgateRun, digestHex: string): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${digestHex}` });
  expect(run.exitCode).toBe(0);
}

function expectDenied(run: TrustgateRun, code: string): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null, codes: [code] });
  expect(run.exitCode).toBe(1);
}

// Replaces the body served for one role of one GUN, however the client addresses it.
function replaceRole(gun: string, role: string, body: (served: Buffer) => Buffer): void {
  proxy.onResponse((response) => {
    const requested = parseMetadataPath(response.path);
    if (requested?.gun !== gun || roleOfMetadataFile(requested.file) !== role) return undefined;
    return { status: 200, body: body(response.body) };
  });
}

// Re-signs v1 until the served `file` is at least `length` bytes (expiry timestamps vary in
// length by a few bytes), and returns its new length: an attacker can then pad an older
// document to exactly that length.
async function republishNoShorter(gun: string, file: string, length: number): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    await env.scenarios.resign(gun, 'v1', [], { ...randomTarget(), size: 1000 });
    const served = await env.server.fetchMetadata(gun, file);
    if (served.length >= length) return served.length;
  }
  throw new Error(`${file} of ${gun} stayed shorter than ${length} bytes`);
}

describe('trustgate verify through a tampering network', () => {
  describe('when the timestamp signature is tampered with', () => {
    it('refuses with TRUST_SIGNATURE_INVALID', async () => {
      const gun = uniqueGun('tampered-timestamp');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      expectAllowed(await verifyThroughProxy(`${gun}:v1`), target.digestHex);

      replaceRole(gun, 'timestamp', flipSignatureBit);

      expectDenied(await verifyThroughProxy(`${gun}:v1`), 'TRUST_SIGNATURE_INVALID');
    });
  });

  describe('when an older timestamp is replayed after a newer one was trusted', () => {
    // TUF 5.4.3: a timestamp version below the trusted one is a rollback, even though its
    // signature is valid (the server signed it, just earlier).
    it('refuses with TRUST_ROLLBACK', async () => {
      const gun = uniqueGun('timestamp-rollback');
      await env.scenarios.signedInTargets(gun, 'v1');
      const oldTimestamp = await env.server.fetchMetadata(gun, 'timestamp.json');
      const current = await env.scenarios.resign(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verifyThroughProxy(`${gun}:v1`, stateDir), current.digestHex);

      replaceRole(gun, 'timestamp', () => oldTimestamp);

      expectDenied(await verifyThroughProxy(`${gun}:v1`, stateDir), 'TRUST_ROLLBACK');
    });
  });

  describe('when the snapshot is swapped for another validly signed one', () => {
    // TUF 5.5.2: the snapshot must hash to what the timestamp names; an older snapshot is
    // signed by the right key but describes other targets.
    it('refuses with TRUST_HASH_MISMATCH', async () => {
      const gun = uniqueGun('snapshot-swap');
      await env.scenarios.signedInTargets(gun, 'v1');
      const otherSnapshot = await env.server.fetchMetadata(gun, 'snapshot.json');
      const newLength = await republishNoShorter(gun, 'snapshot.json', otherSnapshot.length);

      replaceRole(gun, 'snapshot', () => padToSize(otherSnapshot, newLength));

      expectDenied(await verifyThroughProxy(`${gun}:v1`), 'TRUST_HASH_MISMATCH');
    });
  });

  describe('when targets from another publish are served (mix-and-match)', () => {
    // TUF 5.6.2: targets must hash to what the snapshot names, so signed targets of one
    // publish cannot be combined with the snapshot of another. The attacker pads the old
    // document to the new one's exact length, so the length check cannot catch it and
    // only the hash does.
    it('refuses with TRUST_HASH_MISMATCH', async () => {
      const gun = uniqueGun('mix-and-match');
      await env.scenarios.signedInTargets(gun, 'v1');
      const oldTargets = await env.server.fetchMetadata(gun, 'targets.json');
      const newLength = await republishNoShorter(gun, 'targets.json', oldTargets.length);

      replaceRole(gun, 'targets', () => padToSize(oldTargets, newLength));

      expectDenied(await verifyThroughProxy(`${gun}:v1`), 'TRUST_HASH_MISMATCH');
    });
  });

  describe('when another GUN’s metadata is served for this GUN', () => {
    // Everything is validly signed, but for another repository: only the root
    // certificate's CN ties metadata to a GUN.
    it('refuses with TRUST_ROOT_CERT_INVALID', async () => {
      const victim = uniqueGun('victim');
      const other = uniqueGun('other');
      await env.scenarios.signedInTargets(victim, 'v1');
      const otherTarget = await env.scenarios.signedInTargets(other, 'v1');
      expectAllowed(await verifyThroughProxy(`${other}:v1`), otherTarget.digestHex);

      proxy.onRequest((path) => (parseMetadataPath(path)?.gun === victim ? path.replace(victim, other) : undefined));

      expectDenied(await verifyThroughProxy(`${victim}:v1`), 'TRUST_ROOT_CERT_INVALID');
      expect(proxy.requests.some((path) => path.includes(`/v2/${victim}/_trust/tuf/`))).toBe(true);
    });
  });

  describe('when the timestamp is padded past its size cap', () => {
    // An endless or huge response must not be buffered: the cap is enforced while reading.
    it('refuses with TRUST_METADATA_TOO_LARGE', async () => {
      const gun = uniqueGun('oversized');
      await env.scenarios.signedInTargets(gun, 'v1');

      replaceRole(gun, 'timestamp', (served) => padToSize(served, DEFAULT_SIZE_LIMITS.timestamp + 1));

      expectDenied(await verifyThroughProxy(`${gun}:v1`), 'TRUST_METADATA_TOO_LARGE');
    });

    it('refuses with TRUST_METADATA_TOO_LARGE when it streams without a Content-Length', async () => {
      const gun = uniqueGun('oversized-stream');
      await env.scenarios.signedInTargets(gun, 'v1');

      proxy.onResponse((response) => {
        const requested = parseMetadataPath(response.path);
        if (requested?.gun !== gun || roleOfMetadataFile(requested.file) !== 'timestamp') return undefined;
        return { body: padToSize(response.body, 4 * 1024 * 1024), chunked: true };
      });

      expectDenied(await verifyThroughProxy(`${gun}:v1`), 'TRUST_METADATA_TOO_LARGE');
    });
  });

  describe('when the server later serves an attacker’s new self-signed root for the GUN', () => {
    // The attacker controls the server: deletes the repository and re-creates it with their
    // own root key. A fresh client would trust it (trust on first use); a client that has
    // seen the GUN keeps its stored root and refuses, because the new root is not signed by
    // the trusted root keys.
    it('refuses and keeps the stored root', async () => {
      const gun = uniqueGun('root-takeover');
      const genuine = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verifyThroughProxy(`${gun}:v1`, stateDir), genuine.digestHex);
      const trustedRoot = readTrustedRoot(stateDir, gun);

      await env.publisher.deleteRemote(gun);
      const attacker = await NotaryCli.create(env.server);
      try {
        await attacker.init(gun);
        await attacker.addHash(gun, 'v1', 1234, 'ee'.repeat(32));
        await attacker.publish(gun);
        // Push the forged root past the trusted version, so no version check alone refuses it.
        await attacker.rotateRootKey(gun);
      } finally {
        await attacker.remove();
      }
      expectAllowed(await verifyThroughProxy(`${gun}:v1`), 'ee'.repeat(32));

      const run = await verifyThroughProxy(`${gun}:v1`, stateDir);

      expectDenied(run, 'TRUST_ROOT_ROTATION_INVALID');
      expect(readTrustedRoot(stateDir, gun)).toEqual(trustedRoot);
    });
  });
});
