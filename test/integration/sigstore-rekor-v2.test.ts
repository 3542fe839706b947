// Rekor v2 entries made here, for what Sigstore's public vectors do not show: a signature
// made with a key (the log records the key as the verifier), and a keyless one from a private
// deployment. Each bundle carries a hashedrekord 0.0.2 entry whose checkpoint is signed by the
// test root's Ed25519 v2 log and an RFC 3161 timestamp from its TSA (`openssl ts`), and is
// checked through `trustgate sigstore verify-bundle`, which requires the log.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import { createSigstoreLab, type SigstoreLab } from './support/sigstore-lab.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';

const ISSUER = 'https://token.actions.test.invalid';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const ARTIFACT = Buffer.from('release artifact\n');

let dir: string;
let lab: SigstoreLab;
let written = 0;

beforeAll(async () => {
  dir = await makeTempDir('rekor-v2');
  await mkdir(join(dir, 'lab'));
  lab = await createSigstoreLab(join(dir, 'lab'));
  await writeFile(join(dir, 'root.json'), JSON.stringify(lab.trustedRoot));
  await writeFile(join(dir, 'artifact'), ARTIFACT);
}, 60_000);

afterAll(async () => {
  if (dir !== undefined) await removeDir(dir);
});

async function file(text: string): Promise<string> {
  const path = join(dir, `input-${(written += 1)}`);
  await writeFile(path, text);
  return path;
}

interface Signed {
  readonly signature: Buffer;
  readonly verifier: Record<string, unknown>;
  readonly material: Record<string, unknown>;
}

// The hashedrekord 0.0.2 body for a message signature over ARTIFACT.
function hashedRekordBody(signed: Signed, verifier = signed.verifier): Record<string, unknown> {
  return {
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: {
      hashedRekordV002: {
        data: { algorithm: 'SHA2_256', digest: createHash('sha256').update(ARTIFACT).digest('base64') },
        signature: { content: signed.signature.toString('base64'), verifier },
      },
    },
  };
}

async function bundleFor(signed: Signed, entry: Record<string, unknown>, timestamps = 1): Promise<string> {
  const rfc3161Timestamps = [];
  for (let i = 0; i < timestamps; i += 1) {
    const annotation = JSON.parse(await lab.timestampAnnotation(signed.signature)) as { SignedRFC3161Timestamp: string };
    rfc3161Timestamps.push({ signedTimestamp: annotation.SignedRFC3161Timestamp });
  }
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { ...signed.material, tlogEntries: [entry], timestampVerificationData: { rfc3161Timestamps } },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(ARTIFACT).digest('base64') }, signature: signed.signature.toString('base64') },
  });
}

function keySigned(privateKey: KeyObject, publicKey: KeyObject): Signed {
  return {
    signature: sign('sha256', ARTIFACT, privateKey),
    verifier: { publicKey: { rawBytes: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
    material: { publicKey: { hint: 'release' } },
  };
}

async function verifyBundle(bundle: string, ...authority: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const argv = ['sigstore', 'verify-bundle', '--bundle', await file(bundle), ...authority, '--trusted-root', join(dir, 'root.json'), join(dir, 'artifact')];
  const code = await runCli(argv, { stdout: () => undefined, stderr: (text) => (stderr += text), env: {}, clock: systemClock });
  return { code, stderr };
}

describe('a signature made with a key, logged in a Rekor v2 log', () => {
  const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyArgs = async (key: KeyObject): Promise<string[]> => ['--key', await file(key.export({ type: 'spki', format: 'pem' }).toString())];

  it('verifies with the key: the required log is satisfied by the v2 inclusion proof', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(hashedRekordBody(signed))), ...(await keyArgs(release.publicKey)));
    expect(result.code, result.stderr).toBe(0);
  });

  it('refuses an entry whose body records another key as the verifier', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const body = hashedRekordBody(signed, keySigned(other.privateKey, other.publicKey).verifier);
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(body)), ...(await keyArgs(release.publicKey)));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });

  it('refuses a checkpoint signed by a log key the trusted root does not name', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(hashedRekordBody(signed), 'rogue')), ...(await keyArgs(release.publicKey)));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });

  it('refuses the entry without a timestamp: a v2 log gives no time of its own', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(hashedRekordBody(signed)), 0), ...(await keyArgs(release.publicKey)));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });
});

describe('a keyless signature from a private deployment, logged in a Rekor v2 log', () => {
  const identityArgs = ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER];

  async function keyless(): Promise<Signed> {
    const { certificatePem, privateKey } = await lab.issue(IDENTITY, ISSUER);
    const der = Buffer.from(certificatePem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('base64');
    return {
      signature: sign('sha256', ARTIFACT, privateKey),
      verifier: { x509Certificate: { rawBytes: der }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
      material: { certificate: { rawBytes: der } },
    };
  }

  it('verifies with the certificate valid at the TSA\'s time', async () => {
    const signed = await keyless();
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(hashedRekordBody(signed))), ...identityArgs);
    expect(result.code, result.stderr).toBe(0);
  });

  it('refuses an entry whose body records another certificate', async () => {
    const signed = await keyless();
    const body = hashedRekordBody(signed, (await keyless()).verifier);
    const result = await verifyBundle(await bundleFor(signed, lab.rekorV2Entry(body)), ...identityArgs);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });
});

describe('a Rekor v1 entry proven by its inclusion proof alone (no SET, so no integrated time)', () => {
  const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyArgs = async (): Promise<string[]> => ['--key', await file(release.publicKey.export({ type: 'spki', format: 'pem' }).toString())];

  // A hashedrekord 0.0.1 body and its entry, included in a tree whose checkpoint the root's
  // second log signs (the entry names that log unless `logId` says otherwise).
  function v1Entry(signed: Signed, logId?: string): Record<string, unknown> {
    const body = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(ARTIFACT).digest('hex') } },
        signature: { content: signed.signature.toString('base64'), publicKey: { content: Buffer.from(release.publicKey.export({ type: 'spki', format: 'pem' }).toString()).toString('base64') } },
      },
    };
    const entry = lab.rekorV2Entry(body);
    return { ...entry, kindVersion: { kind: 'hashedrekord', version: '0.0.1' }, integratedTime: '0', ...(logId === undefined ? {} : { logId: { keyId: logId } }) };
  }

  // The lab's root with its second log's key retired before any timestamp the TSA gives now.
  async function rootWithRetiredLog(): Promise<string> {
    const root = structuredClone(lab.trustedRoot) as { tlogs: { publicKey: { validFor: Record<string, string> } }[] };
    const log = root.tlogs[1];
    if (log === undefined) throw new Error('the lab root has no second log');
    log.publicKey.validFor = { start: '2000-01-01T00:00:00Z', end: '2001-01-01T00:00:00Z' };
    return file(JSON.stringify(root));
  }

  async function verifyWithRoot(bundle: string, root: string): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const argv = ['sigstore', 'verify-bundle', '--bundle', await file(bundle), ...(await keyArgs()), '--trusted-root', root, join(dir, 'artifact')];
    const code = await runCli(argv, { stdout: () => undefined, stderr: (text) => (stderr += text), env: {}, clock: systemClock });
    return { code, stderr };
  }

  it('verifies when the log that signed the checkpoint was valid at the timestamped time', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const result = await verifyWithRoot(await bundleFor(signed, v1Entry(signed)), join(dir, 'root.json'));
    expect(result.code, result.stderr).toBe(0);
  });

  it('refuses a checkpoint signed by a log key retired before the timestamped time', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const result = await verifyWithRoot(await bundleFor(signed, v1Entry(signed)), await rootWithRetiredLog());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });

  it('refuses an entry naming a log the trusted root does not name', async () => {
    const signed = keySigned(release.privateKey, release.publicKey);
    const unknownLog = createHash('sha256').update('no such log').digest('base64');
    const result = await verifyWithRoot(await bundleFor(signed, v1Entry(signed, unknownLog)), join(dir, 'root.json'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSIGN_TLOG_INVALID]');
  });
});
