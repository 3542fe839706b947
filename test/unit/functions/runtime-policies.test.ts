// TRUSTGATE_POLICIES as deployed functions read it: once per container, from a file or folder.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { buildPolicyLookupDeps, buildVerifyImageDeps, policiesFromEnv } from '../../../functions/platform/runtime-deps.js';
import { createPolicyLookupHandler } from '../../../functions/policy-lookup/handler.js';
import { rejectionCodeOf } from '../../support/trustgate-errors.js';

const policy = (name: string): string => `
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: ${name}}
spec:
  repositories: [{name: "reg.example.com/*"}]
`;

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-runtime-policies-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('policiesFromEnv', () => {
  describe('when TRUSTGATE_POLICIES is unset or empty', () => {
    it('configures no policies', () => {
      expect(policiesFromEnv({})).toBeUndefined();
      expect(policiesFromEnv({ TRUSTGATE_POLICIES: '' })).toBeUndefined();
      expect(buildVerifyImageDeps({}).policies).toBeUndefined();
    });
  });

  describe('when it names a folder', () => {
    it('reads it once and keeps the result for the container', async () => {
      const folder = await mkdtemp(join(dir, 'folder-'));
      await writeFile(join(folder, 'a.yaml'), policy('first'));
      const load = policiesFromEnv({ TRUSTGATE_POLICIES: folder });
      expect((await load?.())?.clusterPolicies.map((p) => p.name)).toEqual(['first']);
      await writeFile(join(folder, 'a.yaml'), policy('second'));
      expect((await load?.())?.clusterPolicies.map((p) => p.name)).toEqual(['first']);
    });
  });

  describe('when the path cannot be read yet', () => {
    it('fails with CONFIG_INVALID and reads again on the next call', async () => {
      const file = join(dir, 'later.yaml');
      const load = policiesFromEnv({ TRUSTGATE_POLICIES: file });
      expect(await rejectionCodeOf(load?.() ?? Promise.resolve())).toBe(ErrorCode.CONFIG_INVALID);
      await writeFile(file, policy('later'));
      expect((await load?.())?.clusterPolicies.map((p) => p.name)).toEqual(['later']);
    });
  });

  describe('when a document is invalid', () => {
    it('fails with POLICY_INVALID', async () => {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, 'kind: Nope\n');
      expect(await rejectionCodeOf(policiesFromEnv({ TRUSTGATE_POLICIES: file })?.() ?? Promise.resolve())).toBe(ErrorCode.POLICY_INVALID);
    });
  });

  describe('when a repository pattern can never match an image', () => {
    it('fails with POLICY_INVALID, and policy-lookup answers 500 instead of a lookup that ignores it', async () => {
      const file = join(dir, 'inert.yaml');
      await writeFile(file, policy('inert').replace('reg.example.com/*', 'reg.example.com/Team/*'));
      expect(await rejectionCodeOf(policiesFromEnv({ TRUSTGATE_POLICIES: file })?.() ?? Promise.resolve())).toBe(ErrorCode.POLICY_INVALID);
      const handle = createPolicyLookupHandler(buildPolicyLookupDeps({ TRUSTGATE_POLICIES: file }));
      expect(await handle({ image: 'reg.example.com/team/app', namespace: 'default' })).toMatchObject({ statusCode: 500 });
    });
  });

  describe('when verify-image and policy-lookup are built from the same environment', () => {
    it('gives both the policies', async () => {
      const file = join(dir, 'both.yaml');
      await writeFile(file, policy('both'));
      const verifyDeps = buildVerifyImageDeps({ TRUSTGATE_POLICIES: file });
      expect((await verifyDeps.policies?.())?.clusterPolicies.map((p) => p.name)).toEqual(['both']);
      const handle = createPolicyLookupHandler(buildPolicyLookupDeps({ TRUSTGATE_POLICIES: file }));
      expect(await handle({ image: 'reg.example.com/app', namespace: 'default' })).toMatchObject({ statusCode: 200, body: { matched: true } });
    });
  });
});
