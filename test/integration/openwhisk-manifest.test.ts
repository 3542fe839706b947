// manifest.yaml, the OpenWhisk deployment: its structure, and that every action's code is a
// folder the build actually produces, sent as the zip action OpenWhisk's runtime can start.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readActionCode } from '../../cli/openwhisk/action-code.js';
import { decodeDeployPlan } from '../../cli/openwhisk/deploy-plan.js';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { readTree, unpackZip } from './support/zip-entries.js';

type Manifest = {
  packages: Record<string, { actions: Record<string, Record<string, unknown>>; triggers: Record<string, Record<string, unknown>>; rules: Record<string, Record<string, unknown>> }>;
};

const text = readFileSync(join(PROJECT_ROOT, 'manifest.yaml'), 'utf8');
const manifest = parse(text) as Manifest;
const trustgate = manifest.packages['trustgate'];
const actions = Object.entries(trustgate?.actions ?? {});

describe('manifest.yaml', () => {
  it('deploys one package, trustgate, with the three functions', () => {
    expect(Object.keys(manifest.packages)).toEqual(['trustgate']);
    expect(actions.map(([name]) => name).sort()).toEqual(['policy-lookup', 'sign-callback', 'verify-image']);
  });

  describe.each(actions)('action %s', (name, action) => {
    it('is the built action folder on nodejs:20 with main', () => {
      expect(action).toMatchObject({ function: `dist/functions/${name}/openwhisk`, runtime: 'nodejs:20', main: 'main' });
    });

    it('is a web action that requires OpenWhisk authentication', () => {
      expect(action['web']).toBe(true);
      expect(action['annotations']).toMatchObject({ 'require-whisk-auth': true });
    });

    it('sets timeout, memory and log limits', () => {
      expect(Object.keys(action['limits'] as object).sort()).toEqual(['logSize', 'memorySize', 'timeout']);
    });
  });

  it('feeds registry pushes and a one-minute alarm with {"poll": true} to sign-callback', () => {
    expect(trustgate?.triggers['registry-push']).toEqual({});
    expect(trustgate?.triggers['changefeed-poll']).toEqual({
      feed: '/whisk.system/alarms/alarm',
      inputs: { cron: '* * * * *', trigger_payload: { poll: true } },
    });
    expect(Object.values(trustgate?.rules ?? {})).toEqual([
      { trigger: 'registry-push', action: 'sign-callback' },
      { trigger: 'changefeed-poll', action: 'sign-callback' },
    ]);
  });

  it('gives sign-callback the changefeed server and namespace the alarm-driven poll needs', () => {
    const signCallback = trustgate?.actions['sign-callback'];
    expect(Object.keys(signCallback?.['inputs'] as object)).toEqual(expect.arrayContaining(['TRUSTGATE_CALLBACK_TRUST_SERVER', 'TRUSTGATE_CALLBACK_NAMESPACE']));
  });

  it('decodes into a deploy plan when the required secrets are set', () => {
    const plan = decodeDeployPlan(text, PROJECT_ROOT, { TRUSTGATE_STATE_KEY: 'k', TRUSTGATE_CALLBACK_TOKEN: 't' });
    expect(plan.actions.map((action) => action.name)).toEqual(['trustgate/verify-image', 'trustgate/policy-lookup', 'trustgate/sign-callback']);
    expect(plan.triggers.map((trigger) => trigger.name)).toEqual(['registry-push', 'changefeed-poll']);
  });

  describe('after the build', () => {
    beforeAll(() => {
      ensureBuilt(actions.map(([, action]) => join(PROJECT_ROOT, String(action['function']))));
    });

    it.each(actions)('%s has its code folder', (_name, action) => {
      expect(existsSync(join(PROJECT_ROOT, String(action['function'])))).toBe(true);
    });

    // OpenWhisk's Node.js runtime unpacks a zip action and requires the folder: package.json
    // `main` names the CommonJS entry, and no dependencies (with some, it runs npm install).
    it.each(actions)('%s is sent as a zip that unpacks to the built folder, whose package.json names a CommonJS entry', async (name, action) => {
      const plan = decodeDeployPlan(text, PROJECT_ROOT, { TRUSTGATE_STATE_KEY: 'k', TRUSTGATE_CALLBACK_TOKEN: 't' });
      const codeFile = plan.actions.find((planned) => planned.name === `trustgate/${name}`)?.codeFile ?? '';
      const code = await readActionCode(codeFile);
      expect(code.binary).toBe(true);
      const scratch = await makeTempDir('manifest-zip');
      try {
        const unpacked = await unpackZip(Buffer.from(code.code, 'base64'), join(scratch, 'action'));
        const built = await readTree(join(PROJECT_ROOT, String(action['function'])));
        expect([...unpacked.keys()]).toEqual([...built.keys()]);
        for (const [file, data] of built) expect(unpacked.get(file)?.equals(data)).toBe(true);
        const packageJson = JSON.parse(unpacked.get('package.json')?.toString('utf8') ?? '{}') as Record<string, unknown>;
        expect(packageJson).toMatchObject({ main: 'index.cjs' });
        expect(packageJson['dependencies']).toBeUndefined();
        expect(unpacked.has('index.cjs')).toBe(true);
        expect([...unpacked.keys()].filter((file) => file.endsWith('.map'))).toEqual([]);
      } finally {
        await removeDir(scratch);
      }
    });
  });
});
