// The OpenWhisk action as deployed: the plain code `trustgate deploy openwhisk` sends,
// initialised by the runtime's init (see support/openwhisk-runtime.cjs) in a process of its
// own, answering real verifications against notary-server with its trust state in DynamoDB
// (dynalite); and the loader inside each action, which must load nothing but the action's
// own embedded modules and Node's built-ins.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlainAction, type SplitFile } from '../../scripts/openwhisk-plain-action.mjs';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { runBundle, type BundleRun } from './support/run-bundle.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';

// What each call returned, or why the init failed.
function values(run: BundleRun): unknown[] {
  if ('loadError' in run) throw new Error(`the action failed to initialise: ${run.loadError}`);
  return run.results.map((result) => ('thrown' in result ? { thrown: result.thrown } : result.value));
}

describe('the verify-image OpenWhisk action, initialised as plain code', () => {
  let env: TrustEnvironment;
  let dynalite: DynaliteServer;
  let functionEnv: Record<string, string>;

  beforeAll(async () => {
    ensureBuilt([bundlePath('verify-image', 'openwhisk')]);
    env = await startTrustEnvironment();
    dynalite = await startDynalite();
    const table = 'openwhisk-trust-state';
    await createTrustgateTable(dynalite.client(), table);
    const policies = await env.makeDir('policies');
    await writeFile(join(policies, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
    functionEnv = {
      ...dynalite.clientEnv,
      TRUSTGATE_DYNAMODB_TABLE: table,
      TRUSTGATE_DYNAMODB_ENDPOINT: dynalite.endpoint,
      TRUSTGATE_STATE_KEY: 'cd'.repeat(32),
      TRUSTGATE_POLICIES: policies,
      NODE_EXTRA_CA_CERTS: env.caFile,
    };
  });

  afterAll(async () => {
    await dynalite?.stop();
    await env?.stop();
  });

  it('allows a signed image with its signed digest and denies an unsigned one', async () => {
    const signed = uniqueGun('ow-signed');
    const target = await env.scenarios.signedInTargets(signed, 'v1');
    const unsigned = uniqueGun('ow-unsigned');

    const [allowed, denied] = values(
      await runBundle('openwhisk', bundlePath('verify-image', 'openwhisk'), functionEnv, [
        { image: `${signed}:v1`, namespace: 'default', __ow_method: 'post', __ow_headers: {} },
        { image: `${unsigned}:v1`, namespace: 'default', __ow_method: 'post', __ow_headers: {} },
      ]),
    );

    expect(allowed).toMatchObject({ statusCode: 200, body: { allowed: true } });
    expect(JSON.stringify(allowed)).toContain(target.digestHex);
    expect(denied).toMatchObject({ statusCode: 200, body: { allowed: false } });
  });
});

describe('the loader inside a plain-code action', () => {
  let scratch: string;
  let action: string;

  // A packed action whose main requires what the params name, from its entry, with one chunk
  // as plain code and one as a string compiled on first use.
  beforeAll(async () => {
    scratch = await makeTempDir('openwhisk-loader');
    const files: SplitFile[] = [
      { name: 'index.cjs', code: "const shared = require('./chunks/shared.cjs'); exports.main = async (params) => ({ loaded: Object.keys(require(params.specifier)), shared: shared.name });\n", map: { version: 3, sources: ['index.ts'], names: [], mappings: '' } },
      { name: 'chunks/shared.cjs', code: "exports.name = 'shared';\n", map: { version: 3, sources: ['shared.ts'], names: [], mappings: '' } },
      { name: 'chunks/lazy.cjs', code: "exports.lazy = require('../chunks/./shared.cjs').name;\n", map: { version: 3, sources: ['lazy.ts'], names: [], mappings: '' } },
    ];
    const packed = packPlainAction({ files, entry: 'index.cjs', eager: new Set(['index.cjs', 'chunks/shared.cjs']), label: 'loader-test' });
    expect(packed.code).not.toContain('exports.lazy');
    action = join(scratch, 'action.js');
    await writeFile(action, packed.code);
  });

  afterAll(async () => {
    await removeDir(scratch);
  });

  const call = async (specifier: unknown): Promise<unknown> => values(await runBundle('openwhisk', action, {}, [{ specifier }]))[0];

  it('loads an embedded chunk by a relative specifier, compiling it on first use', async () => {
    expect(await call('./chunks/lazy.cjs')).toEqual({ loaded: ['lazy'], shared: 'shared' });
  });

  it('passes a Node built-in to the runtime', async () => {
    expect(await call('node:path')).toMatchObject({ loaded: expect.arrayContaining(['join', 'resolve']) as unknown });
  });

  it.each([
    ['a name that is not embedded', './chunks/missing.cjs'],
    ['a path climbing out of the action', '../support/openwhisk-runtime.cjs'],
    ['an absolute path to a real file', join(PROJECT_ROOT, 'package.json')],
    ['an installed package', 'yaml'],
    ['a file URL', `file://${join(PROJECT_ROOT, 'package.json')}`],
    ['a non-string specifier', { toString: (): string => './chunks/lazy.cjs' }],
  ])('refuses %s', async (_name, specifier) => {
    const answer = await call(specifier);
    expect(answer).toMatchObject({ thrown: expect.stringContaining('Cannot find module') as unknown });
  });

  it('refuses a file beside the runtime, which the runtime\'s own require would load', async () => {
    expect(existsSync(join(PROJECT_ROOT, 'test/integration/support/openwhisk-runtime.cjs'))).toBe(true);
    expect(await call('./openwhisk-runtime.cjs')).toMatchObject({ thrown: expect.stringContaining('Cannot find module') as unknown });
  });
});
