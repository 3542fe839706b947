// `trustgate verify` run as a user runs it, against repositories built with the real
// notary client on the real notary-server. Its answer must agree with the Notary client's
// view under Docker Content Trust's rule: targets/releases wins, then targets; a tag found
// only in another delegation is no trust data unless a policy names that signer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDelegateKey } from './support/delegate-keys.js';
import { getFreePort } from './support/free-port.js';
import { randomTarget, uniqueGun } from './support/scenarios.js';
import { readTrustedRoot } from './support/state-dir.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgate, runTrustgateVerify, type TrustgateRun, type VerifyOptions } from './support/trustgate-cli.js';

let env: TrustEnvironment;

beforeAll(async () => {
  env = await startTrustEnvironment();
});

afterAll(async () => {
  await env?.stop();
});

// Verifies against the shared server with a fresh state directory unless one is given.
async function verify(image: string, options: Partial<VerifyOptions> = {}): Promise<TrustgateRun> {
  return runTrustgateVerify({
    image,
    trustServer: env.server.url,
    caFile: env.caFile,
    stateDir: options.stateDir ?? (await env.makeDir('state')),
    ...options,
  });
}

function expectAllowed(run: TrustgateRun, digestHex: string, signers: readonly string[]): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${digestHex}`, codes: [], reasons: [] });
  expect([...(run.json?.signers ?? [])].sort()).toEqual([...signers].sort());
  expect(run.exitCode).toBe(0);
}

function expectDenied(run: TrustgateRun, code: string): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null, signers: [] });
  expect(run.json?.codes).toContain(code);
  expect(run.json?.reasons.length).toBeGreaterThan(0);
  expect(run.exitCode).toBe(1);
}

describe('trustgate verify', () => {
  describe('when the tag is signed in targets', () => {
    it('allows with the digest notary lookup shows, signed by targets', async () => {
      const gun = uniqueGun('targets');
      await env.scenarios.signedInTargets(gun, 'v1');
      const notaryView = await env.publisher.lookup(gun, 'v1');

      const run = await verify(`${gun}:v1`);

      expectAllowed(run, notaryView.digestHex, ['targets']);
      expect(run.json?.image).toBe(`${gun}:v1`);
    });
  });

  describe('when the tag is signed in targets/releases', () => {
    it('allows with the releases digest, signed by targets/releases', async () => {
      const gun = uniqueGun('releases');
      await env.scenarios.signedInReleases(gun, 'v1');
      const [notaryView] = await env.publisher.list(gun, { role: 'targets/releases' });

      const run = await verify(`${gun}:v1`);

      expectAllowed(run, notaryView?.digestHex ?? 'missing', ['targets/releases']);
    });
  });

  describe('when targets and targets/releases disagree on the tag', () => {
    it('takes the releases digest, not the targets one plain notary lookup prints', async () => {
      const gun = uniqueGun('disagree');
      const { targets, releases } = await env.scenarios.releasesAndTargetsDisagree(gun, 'v1');
      expect((await env.publisher.lookup(gun, 'v1')).digestHex).toBe(targets.digestHex);

      const run = await verify(`${gun}:v1`);

      expectAllowed(run, releases.digestHex, ['targets/releases']);
    });
  });

  describe('when the tag is signed only by a named delegation', () => {
    it('denies with TRUST_NO_SIGNED_TARGET without a signer requirement', async () => {
      const gun = uniqueGun('alice-only');
      await env.scenarios.signedByDelegationOnly(gun, 'v1', 'targets/alice');

      expectDenied(await verify(`${gun}:v1`), 'TRUST_NO_SIGNED_TARGET');
    });

    it('allows with --signer alice=PEM, signed by targets/alice', async () => {
      const gun = uniqueGun('alice-signer');
      const signed = await env.scenarios.signedByDelegationOnly(gun, 'v1', 'targets/alice');

      const run = await verify(`${gun}:v1`, { signers: [{ name: 'alice', publicKeyFile: signed.signer.key.publicKeyFile }] });

      expectAllowed(run, signed.digestHex, ['targets/alice']);
    });
  });

  describe('when the tag is not signed', () => {
    it('denies with TRUST_NO_SIGNED_TARGET when the repository has other tags', async () => {
      const gun = uniqueGun('unsigned-tag');
      await env.scenarios.signedInTargets(gun, 'v1');

      expectDenied(await verify(`${gun}:v2`), 'TRUST_NO_SIGNED_TARGET');
    });

    it('denies with TRUST_METADATA_MISSING when the repository has no trust data at all', async () => {
      expectDenied(await verify(`${uniqueGun('never-signed')}:v1`), 'TRUST_METADATA_MISSING');
    });
  });

  describe('when two signers are required', () => {
    it('allows when both signed the same digest, naming both', async () => {
      const gun = uniqueGun('two-same');
      const { target, alice, bob } = await env.scenarios.signedByTwoSigners(gun, 'v1', 'same');

      const run = await verify(`${gun}:v1`, {
        signers: [
          { name: 'alice', publicKeyFile: alice.key.publicKeyFile },
          { name: 'bob', publicKeyFile: bob.key.publicKeyFile },
        ],
      });

      expectAllowed(run, target.digestHex, ['targets/alice', 'targets/bob']);
    });

    it('denies with TRUST_SIGNER_MISSING when one of them did not sign the tag', async () => {
      const gun = uniqueGun('two-missing');
      const { alice, bob } = await env.scenarios.signedByTwoSigners(gun, 'v1', 'nothing');

      const run = await verify(`${gun}:v1`, {
        signers: [
          { name: 'alice', publicKeyFile: alice.key.publicKeyFile },
          { name: 'bob', publicKeyFile: bob.key.publicKeyFile },
        ],
      });

      expectDenied(run, 'TRUST_SIGNER_MISSING');
    });

    it('denies with TRUST_DIGEST_MISMATCH when they signed different digests', async () => {
      const gun = uniqueGun('two-different');
      const { alice, bob } = await env.scenarios.signedByTwoSigners(gun, 'v1', 'different');

      const run = await verify(`${gun}:v1`, {
        signers: [
          { name: 'alice', publicKeyFile: alice.key.publicKeyFile },
          { name: 'bob', publicKeyFile: bob.key.publicKeyFile },
        ],
      });

      expectDenied(run, 'TRUST_DIGEST_MISMATCH');
    });
  });

  describe('when the signer is given the wrong public key', () => {
    it('denies with TRUST_SIGNER_MISSING', async () => {
      const gun = uniqueGun('wrong-key');
      await env.scenarios.signedByDelegationOnly(gun, 'v1', 'targets/alice');
      const impostor = await createDelegateKey(await env.makeDir('keys'), 'alice', 'public-key');

      const run = await verify(`${gun}:v1`, { signers: [{ name: 'alice', publicKeyFile: impostor.publicKeyFile }] });

      expectDenied(run, 'TRUST_SIGNER_MISSING');
    });
  });

  describe('when the delegation key is a plain PEM public key (ecdsa, not x509)', () => {
    it('allows with that key as --signer', async () => {
      const gun = uniqueGun('ecdsa-delegate');
      await env.publisher.init(gun);
      const signer = await env.scenarios.delegate(gun, 'targets/alice', 'public-key');
      const target = await env.scenarios.resign(gun, 'v1', ['targets/alice']);

      const run = await verify(`${gun}:v1`, { signers: [{ name: 'alice', publicKeyFile: signer.key.publicKeyFile }] });

      expectAllowed(run, target.digestHex, ['targets/alice']);
    });
  });

  describe('when the root key is rotated between two verifications', () => {
    it('still allows with the same state directory and advances its trusted root', async () => {
      const gun = uniqueGun('root-rotation');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verify(`${gun}:v1`, { stateDir }), target.digestHex, ['targets']);
      const rootBefore = readTrustedRoot(stateDir, gun);
      expect(rootBefore).toBeDefined();

      const { after } = await env.scenarios.rotateRoot(gun);
      const run = await verify(`${gun}:v1`, { stateDir });

      expectAllowed(run, target.digestHex, ['targets']);
      const rootAfter = readTrustedRoot(stateDir, gun);
      expect(rootAfter?.signed.version).toBeGreaterThan(rootBefore?.signed.version ?? Infinity);
      expect(rootAfter?.signed.roles.root.keyids).toEqual(after);
    });
  });

  describe('when the releases delegation key is rotated and the tag re-signed', () => {
    it('follows the new digest, accepts the new key as signer and refuses the old one', async () => {
      const gun = uniqueGun('delegation-rotation');
      const first = await env.scenarios.signedInReleases(gun, 'v1');
      const stateDir = await env.makeDir('state');
      expectAllowed(await verify(`${gun}:v1`, { stateDir }), first.digestHex, ['targets/releases']);

      const rotated = await env.scenarios.rotateDelegationKey(gun, 'v1', first.releases);

      expectAllowed(await verify(`${gun}:v1`, { stateDir }), rotated.digestHex, ['targets/releases']);
      const withNewKey = await verify(`${gun}:v1`, {
        stateDir,
        signers: [{ name: 'releases', publicKeyFile: rotated.signer.key.publicKeyFile }],
      });
      expectAllowed(withNewKey, rotated.digestHex, ['targets/releases']);
      const withOldKey = await verify(`${gun}:v1`, {
        stateDir,
        signers: [{ name: 'releases', publicKeyFile: first.releases.key.publicKeyFile }],
      });
      expectDenied(withOldKey, 'TRUST_SIGNER_MISSING');
    });
  });

  describe('when the image is pinned by digest', () => {
    it('allows a signed digest with that digest', async () => {
      const gun = uniqueGun('pinned');
      const target = await env.scenarios.signedInTargets(gun, 'v1');

      const run = await verify(`${gun}@sha256:${target.digestHex}`);

      expectAllowed(run, target.digestHex, ['targets']);
    });

    it('denies a digest no tag is signed for', async () => {
      const gun = uniqueGun('pinned-unsigned');
      await env.scenarios.signedInTargets(gun, 'v1');

      expectDenied(await verify(`${gun}@sha256:${randomTarget().digestHex}`), 'TRUST_NO_SIGNED_TARGET');
    });
  });

  describe('when the root key ID is pinned', () => {
    it('allows when the served root has that key ID', async () => {
      const gun = uniqueGun('pin-match');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const rootKeyIds = await env.publisher.rootKeyIds(gun);

      expectAllowed(await verify(`${gun}:v1`, { rootKeyIds }), target.digestHex, ['targets']);
    });

    it('denies with TRUST_ROOT_KEY_MISMATCH when it has another', async () => {
      const gun = uniqueGun('pin-mismatch');
      await env.scenarios.signedInTargets(gun, 'v1');

      expectDenied(await verify(`${gun}:v1`, { rootKeyIds: [randomTarget().digestHex] }), 'TRUST_ROOT_KEY_MISMATCH');
    });
  });

  describe('when the trust server is down', () => {
    it('exits 1 with TRUST_SERVER_UNAVAILABLE', async () => {
      const deadServer = `https://127.0.0.1:${await getFreePort()}`;

      const run = await verify(`${uniqueGun('down')}:v1`, { trustServer: deadServer });

      expectDenied(run, 'TRUST_SERVER_UNAVAILABLE');
    });
  });

  describe('when the command line is malformed', () => {
    const usageCases: readonly (readonly [string, readonly string[]])[] = [
      ['no image is given', ['verify', '--json']],
      ['two images are given', ['verify', 'registry.test:5000/a:v1', 'registry.test:5000/b:v1', '--json']],
      ['an unknown option is given', ['verify', 'registry.test:5000/a:v1', '--no-such-option']],
      ['a signer has no key file', ['verify', 'registry.test:5000/a:v1', '--signer', 'alice']],
      ['a signer key file does not exist', ['verify', 'registry.test:5000/a:v1', '--signer', 'alice=does-not-exist.pem']],
      ['no command is given', []],
    ];
    for (const [situation, args] of usageCases) {
      it(`exits 2 when ${situation}`, async () => {
        const run = await runTrustgate(args, { stateDir: await env.makeDir('state') });
        expect(run.exitCode, run.stderr).toBe(2);
      });
    }
  });
});
