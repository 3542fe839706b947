// One state directory, two processes at once: a running `trustgate serve` and the
// `trustgate verify` CLI share the embedded SQLite store. What one trusted on first use the
// other holds to: once either has stored a GUN's root, an attacker who re-creates the
// repository on the server with their own root (which a fresh state directory would trust)
// is refused by both with TRUST_ROOT_ROTATION_INVALID, while serve keeps answering.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { NotaryCli } from './support/notary-cli.js';
import { randomTarget, uniqueGun, type TargetDigest } from './support/scenarios.js';
import { readTrustedRoot } from './support/state-dir.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

let env: TrustEnvironment;
let serve: ServeProcess;
let stateDir: string;

beforeAll(async () => {
  env = await startTrustEnvironment();
  const policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
  stateDir = await env.makeDir('state');
  // Freshness 0: serve asks the trust server on every verification, as the CLI does here,
  // so both see the attacker's repository as soon as it is published.
  serve = await startTrustgateServe({ policiesDir, stateDir, caFile: env.caFile, extraArgs: ['--freshness', '0'] });
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

async function verifyWithServe(image: string): Promise<VerifyImageResponse> {
  const answer = await httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem, { method: 'POST', body: JSON.stringify({ image, namespace: 'default' }) });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as VerifyImageResponse;
}

function verifyWithCli(image: string, dir: string): Promise<TrustgateRun> {
  return runTrustgateVerify({ image, trustServer: env.server.url, caFile: env.caFile, stateDir: dir });
}

// What an attacker in control of the server does: deletes the repository and re-creates it
// with their own root key, signing their own digest, and rotates that root once so its
// version is past the trusted one (no version check alone refuses it).
async function replaceRootOnServer(gun: string): Promise<TargetDigest> {
  await env.publisher.deleteRemote(gun);
  const attacker = await NotaryCli.create(env.server);
  const forged = randomTarget();
  try {
    await attacker.init(gun);
    await attacker.addHash(gun, 'v1', forged.size, forged.digestHex);
    await attacker.publish(gun);
    await attacker.rotateRootKey(gun);
  } finally {
    await attacker.remove();
  }
  return forged;
}

describe('the embedded store shared by trustgate serve and the CLI', () => {
  describe('when serve trusted a GUN first and the server then serves an attacker’s root', () => {
    it('the CLI on the same state dir refuses with TRUST_ROOT_ROTATION_INVALID while serve keeps answering', async () => {
      const gun = uniqueGun('serve-first');
      const bystander = uniqueGun('bystander');
      const [genuine, untouched] = await Promise.all([env.scenarios.signedInTargets(gun, 'v1'), env.scenarios.signedInTargets(bystander, 'v1')]);
      expect(await verifyWithServe(`${gun}:v1`)).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
      const trustedRoot = readTrustedRoot(stateDir, gun);
      expect(trustedRoot).toBeDefined();

      const forged = await replaceRootOnServer(gun);
      const fresh = await verifyWithCli(`${gun}:v1`, await env.makeDir('fresh-state'));
      expect(fresh.json, fresh.stderr).toMatchObject({ allowed: true, digest: `sha256:${forged.digestHex}` });

      // The CLI has never run on this state dir: only serve's stored root can refuse.
      const [shared, served] = await Promise.all([verifyWithCli(`${gun}:v1`, stateDir), verifyWithServe(`${bystander}:v1`)]);

      expect(shared.json, shared.stderr).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_ROOT_ROTATION_INVALID'] });
      expect(shared.exitCode).toBe(1);
      expect(served).toMatchObject({ allowed: true, digest: `sha256:${untouched.digestHex}` });
      expect(await verifyWithServe(`${gun}:v1`)).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_ROOT_ROTATION_INVALID'] });
      expect(readTrustedRoot(stateDir, gun)).toEqual(trustedRoot);
    });
  });

  describe('when the CLI trusted a GUN first while serve was running', () => {
    it('serve refuses the attacker’s root with TRUST_ROOT_ROTATION_INVALID', async () => {
      const gun = uniqueGun('cli-first');
      const genuine = await env.scenarios.signedInTargets(gun, 'v1');
      const first = await verifyWithCli(`${gun}:v1`, stateDir);
      expect(first.json, first.stderr).toMatchObject({ allowed: true, digest: `sha256:${genuine.digestHex}` });
      const trustedRoot = readTrustedRoot(stateDir, gun);
      expect(trustedRoot).toBeDefined();

      await replaceRootOnServer(gun);

      expect(await verifyWithServe(`${gun}:v1`)).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_ROOT_ROTATION_INVALID'] });
      expect(readTrustedRoot(stateDir, gun)).toEqual(trustedRoot);
      expect((await httpsRequest(`${serve.url}/healthz`, serve.caPem)).status).toBe(200);
    });
  });
});
