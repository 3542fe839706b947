// `trustgate verify IMAGE --policies PATH --namespace NS` run as a user runs it, against
// repositories built with the real notary client on the real notary-server: the policy that
// applies in the namespace (and every enforced ClusterImagePolicy) decides what is verified.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { REGISTRY_HOST, uniqueGun } from './support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

const CLI_BUNDLE = fileURLToPath(new URL('../../dist/cli.mjs', import.meta.url));
const API_VERSION = 'portieris.cloud.ibm.com/v1';
// Every GUN the scenarios create lives under this prefix.
const ALL_TEST_IMAGES = `${REGISTRY_HOST}/it/*`;

let env: TrustEnvironment;

beforeAll(async () => {
  if (!existsSync(CLI_BUNDLE)) throw new Error('dist/cli.mjs is missing: run `npm run build` before the integration tests');
  env = await startTrustEnvironment();
});

afterAll(async () => {
  await env?.stop();
});

// --- policy documents --------------------------------------------------------------------

function trustPolicy(signerSecrets: readonly string[] = []): Record<string, unknown> {
  return { trust: { enabled: true, trustServer: env.server.url, signerSecrets: signerSecrets.map((name) => ({ name })) } };
}

function clusterPolicy(name: string, pattern: string, policy?: Record<string, unknown>, enforce = false): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'ClusterImagePolicy',
    metadata: { name, ...(enforce ? { annotations: { 'trustgate.dev/enforce': 'true' } } : {}) },
    spec: { repositories: [{ name: pattern, ...(policy === undefined ? {} : { policy }) }] },
  };
}

function imagePolicy(namespace: string, pattern: string, policy?: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'ImagePolicy',
    metadata: { name: `${namespace}-images`, namespace },
    spec: { repositories: [{ name: pattern, ...(policy === undefined ? {} : { policy }) }] },
  };
}

// A signer Secret as `kubectl create secret generic NAME --from-literal=name=.. --from-file=publicKey=..` makes it.
function signerSecret(namespace: string, name: string, delegation: string, publicKeyPem: string): Record<string, unknown> {
  const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    data: { name: base64(delegation), publicKey: base64(publicKeyPem) },
  };
}

// Writes the documents as one YAML stream in a new folder and returns the folder.
async function writePolicies(...documents: readonly Record<string, unknown>[]): Promise<string> {
  const dir = await env.makeDir('policies');
  await writeFile(join(dir, 'policies.yaml'), documents.map((document) => stringify(document)).join('---\n'));
  return dir;
}

// --- running the CLI ---------------------------------------------------------------------

async function verify(image: string, policies: string, namespace?: string): Promise<TrustgateRun> {
  const args = ['verify', image, '--policies', policies, ...(namespace === undefined ? [] : ['--namespace', namespace]), '--json'];
  return runTrustgate(args, { stateDir: await env.makeDir('state'), caFile: env.caFile });
}

function expectAllowed(run: TrustgateRun, digest: string | null, signers: readonly string[]): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: true, digest, codes: [], reasons: [] });
  expect([...(run.json?.signers ?? [])].sort()).toEqual([...signers].sort());
  expect(run.exitCode).toBe(0);
}

function expectDenied(run: TrustgateRun, code: string): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: false, digest: null, signers: [] });
  expect(run.json?.codes).toContain(code);
  expect(run.exitCode).toBe(1);
}

// Whether the notary-server has been asked anything about a GUN so far.
function serverSawGun(gun: string): boolean {
  return env.server.log().includes(gun.slice(REGISTRY_HOST.length + 1));
}

describe('trustgate verify --policies', () => {
  describe('when a ClusterImagePolicy requires trust for the registry', () => {
    it('allows a signed image with the signed digest and names the policy', async () => {
      const gun = uniqueGun('cluster-signed');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const policies = await writePolicies(clusterPolicy('trusted-registry', ALL_TEST_IMAGES, trustPolicy()));

      const run = await verify(`${gun}:v1`, policies);

      expectAllowed(run, `sha256:${target.digestHex}`, ['targets']);
      expect(JSON.parse(run.stdout)).toMatchObject({
        policy: { kind: 'ClusterImagePolicy', name: 'trusted-registry', pattern: ALL_TEST_IMAGES },
        mutateImage: true,
      });
    });

    it('denies an unsigned tag', async () => {
      const gun = uniqueGun('cluster-unsigned');
      await env.scenarios.signedInTargets(gun, 'v1');
      const policies = await writePolicies(clusterPolicy('trusted-registry', ALL_TEST_IMAGES, trustPolicy()));

      expectDenied(await verify(`${gun}:v2`, policies), 'TRUST_NO_SIGNED_TARGET');
    });
  });

  describe('when the policy document pins root keys with trustgate.dev/root-key-ids', () => {
    const pinnedPolicy = (rootKeyIds: readonly string[]): Record<string, unknown> => {
      const policy = clusterPolicy('pinned-roots', ALL_TEST_IMAGES, trustPolicy());
      return { ...policy, metadata: { name: 'pinned-roots', annotations: { 'trustgate.dev/root-key-ids': rootKeyIds.join(',') } } };
    };

    it('allows an image whose repository root holds a pinned key', async () => {
      const gun = uniqueGun('pinned-root');
      const target = await env.scenarios.signedInTargets(gun, 'v1');
      const policies = await writePolicies(pinnedPolicy(['0'.repeat(64), ...(await env.publisher.rootKeyIds(gun))]));

      expectAllowed(await verify(`${gun}:v1`, policies), `sha256:${target.digestHex}`, ['targets']);
    });

    it('denies with TRUST_ROOT_KEY_MISMATCH a first use whose root holds none of them', async () => {
      const gun = uniqueGun('unpinned-root');
      await env.scenarios.signedInTargets(gun, 'v1');
      const policies = await writePolicies(pinnedPolicy(['0'.repeat(64)]));

      expectDenied(await verify(`${gun}:v1`, policies), 'TRUST_ROOT_KEY_MISMATCH');
    });
  });

  describe('when a namespace policy names signer secrets', () => {
    it('allows the tag signed by that delegate and denies with TRUST_SIGNER_MISSING where the named delegate did not sign it', async () => {
      const gun = uniqueGun('namespace-signers');
      // alice signs v1; bob is a delegate of the repository but signs only another tag.
      const { target, alice, bob } = await env.scenarios.signedByTwoSigners(gun, 'v1', 'nothing');
      const policies = await writePolicies(
        imagePolicy('team-a', ALL_TEST_IMAGES, trustPolicy(['alice-signer'])),
        signerSecret('team-a', 'alice-signer', 'alice', alice.key.publicKeyPem),
        imagePolicy('team-b', ALL_TEST_IMAGES, trustPolicy(['bob-signer'])),
        signerSecret('team-b', 'bob-signer', 'bob', bob.key.publicKeyPem),
      );

      expectAllowed(await verify(`${gun}:v1`, policies, 'team-a'), `sha256:${target.digestHex}`, ['targets/alice']);
      expectDenied(await verify(`${gun}:v1`, policies, 'team-b'), 'TRUST_SIGNER_MISSING');
    });
  });

  describe('when the namespace policy allows every image', () => {
    it('allows without contacting the trust server, where the cluster policy would deny', async () => {
      const gun = uniqueGun('sandbox-unsigned');
      const policies = await writePolicies(
        clusterPolicy('trusted-registry', ALL_TEST_IMAGES, trustPolicy()),
        imagePolicy('sandbox', '*'),
      );

      const run = await verify(`${gun}:v1`, policies, 'sandbox');

      expectAllowed(run, null, []);
      expect(JSON.parse(run.stdout)).toMatchObject({ policy: { kind: 'ImagePolicy', namespace: 'sandbox', pattern: '*' } });
      expect(serverSawGun(gun)).toBe(false);
      // The control: outside the sandbox the cluster policy applies and asks the server.
      expectDenied(await verify(`${gun}:v1`, policies, 'default'), 'TRUST_METADATA_MISSING');
      expect(serverSawGun(gun)).toBe(true);
    });
  });

  describe('when no policy matches the image', () => {
    it('denies with POLICY_NO_MATCH', async () => {
      const policies = await writePolicies(clusterPolicy('trusted-registry', ALL_TEST_IMAGES, trustPolicy()));

      const run = await verify('other.example.com/team/app:v1', policies);

      expectDenied(run, 'POLICY_NO_MATCH');
      expect(JSON.parse(run.stdout)).toMatchObject({ policy: null });
    });
  });

  describe('when an enforced ClusterImagePolicy requires trust on top of an allow-all namespace policy', () => {
    it('denies an unsigned image and allows a signed one with its digest', async () => {
      const signedGun = uniqueGun('enforced-signed');
      const target = await env.scenarios.signedInTargets(signedGun, 'v1');
      const unsignedGun = uniqueGun('enforced-unsigned');
      await env.scenarios.signedInTargets(unsignedGun, 'v1');
      const policies = await writePolicies(
        imagePolicy('sandbox', '*'),
        clusterPolicy('production-baseline', ALL_TEST_IMAGES, trustPolicy(), true),
      );

      const denied = await verify(`${unsignedGun}:v2`, policies, 'sandbox');
      expectDenied(denied, 'TRUST_NO_SIGNED_TARGET');
      expect(denied.json?.reasons.join('\n')).toContain('production-baseline');

      expectAllowed(await verify(`${signedGun}:v1`, policies, 'sandbox'), `sha256:${target.digestHex}`, ['targets']);
    });
  });
});
