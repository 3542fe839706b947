// manifest.yaml, the OpenWhisk deployment: its structure, and that every action's code is a
// file the build actually produces, sent as the plain-code action OpenWhisk's runtime starts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MAX_ACTION_CODE_BYTES, readActionCode } from '../../cli/openwhisk/action-code.js';
import { decodeDeployPlan } from '../../cli/openwhisk/deploy-plan.js';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';

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
    it('is the built action file on nodejs:20 with main', () => {
      expect(action).toMatchObject({ function: `dist/functions/${name}/openwhisk.js`, runtime: 'nodejs:20', main: 'main' });
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

    it.each(actions)('%s has its code file', (_name, action) => {
      expect(existsSync(join(PROJECT_ROOT, String(action['function'])))).toBe(true);
    });

    // OpenWhisk's Node.js runtime evaluates plain code in a function wrapper and takes the
    // binding `main` it declares; an action is at most 48 MB.
    it.each(actions)('%s is sent as the built file, plain code declaring main, well under the size limit', async (name, action) => {
      const plan = decodeDeployPlan(text, PROJECT_ROOT, { TRUSTGATE_STATE_KEY: 'k', TRUSTGATE_CALLBACK_TOKEN: 't' });
      const codeFile = plan.actions.find((planned) => planned.name === `trustgate/${name}`)?.codeFile ?? '';
      const code = await readActionCode(codeFile);
      expect(code.code).toBe(readFileSync(join(PROJECT_ROOT, String(action['function'])), 'utf8'));
      expect(code.code).toMatch(/^const main = /m);
      expect(code.bytes).toBeLessThan(MAX_ACTION_CODE_BYTES / 10);
    });
  });
});
