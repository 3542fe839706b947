// The OpenWhisk action as deployed: the plain code `trustgate deploy openwhisk` sends,
// initialised by the runtime's init (see support/openwhisk-runtime.cjs) in a process of its
// own, answering real verifications against notary-server with its trust state in DynamoDB
// (dynalite); and the loader inside each action, which must load nothing but the action's
// own embedded modules and Node's built-ins.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionScopeProblems, PROVIDED_NAMES, RUNTIME_SCOPE_NAMES } from '../../scripts/openwhisk-action-scope.mjs';
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

// The runtime evaluates a plain-code action inside its own scope, so a name the action does
// not declare is looked up among runner.js's names before the globals. Packing (what the
// build does) refuses an action that would use any such name but the runtime's `require`.
describe('the names a plain-code action leaves to the runtime', () => {
  const map = { version: 3, sources: ['index.ts'], names: [], mappings: '' };
  const pack = (code: string): string => packPlainAction({ files: [{ name: 'index.cjs', code, map }], entry: 'index.cjs', eager: new Set(['index.cjs']), label: 'scope-test' }).code;
  const runtime = createRequire(import.meta.url)('./support/openwhisk-runtime.cjs') as { initializeAction(message: object): Promise<() => unknown> };

  it('would be the runtime\'s when they name one of its own (why the build checks them)', async () => {
    const main = await runtime.initializeAction({ code: 'const main = () => message.main;', main: 'main', binary: false });

    expect(main()).toBe('main');
  });

  // (`module`, `exports` and the like are the parameters of each module's wrapper in the action.)
  it.each(['fs', 'path', 'message', 'handler', 'exec', 'util', 'child_process'])('refuses, when packing, an action whose code leaves `%s` to the runtime', (name) => {
    expect(RUNTIME_SCOPE_NAMES.has(name)).toBe(true);

    expect(() => pack(`exports.main = () => typeof ${name};\n`)).toThrow(new RegExp(`\`${name}\` is free in the action and would be the runtime's`));
  });

  it('refuses a name that is no global, which the runtime\'s scope may hold under another version', () => {
    expect(() => pack('exports.main = () => unzipAction();\n')).toThrow(/`unzipAction` is free in the action and no global/);
  });

  it('accepts the globals of Node, the runtime\'s `require` and names only in code that never runs', () => {
    expect([...PROVIDED_NAMES]).toEqual(['require']);
    const code = pack("exports.main = () => [process.env, Buffer.from('x'), new URL('https://example.test'), require('node:path').sep, setTimeout];\n0 && (module.exports = { main, helper });\n");

    expect(actionScopeProblems(code)).toEqual([]);
  });

  it('refuses code that declares, at its top level, a name the runtime\'s wrapper reads after it', () => {
    expect(actionScopeProblems('var module = { exports: {} };\nconst main = () => 1;\n')).toEqual([expect.stringContaining('`module` is declared at the action\'s top level') as unknown]);
  });

  it('refuses a direct eval and a with statement, whose names no analysis sees', () => {
    expect(() => pack("exports.main = () => eval('message');\n")).toThrow(/a direct `eval` in the action would see the runtime's scope/);
    expect(() => pack('exports.main = (o) => { with (o) return path; };\n')).toThrow(/a `with` statement/);
    // An indirect eval runs in the global scope: not the runtime's.
    expect(actionScopeProblems("const main = () => (0, eval)('1');\n")).toEqual([]);
  });

  it.each(['verify-image', 'policy-lookup', 'sign-callback'])('finds nothing in the build\'s %s action', (name) => {
    const file = bundlePath(name, 'openwhisk');
    ensureBuilt([file]);

    expect(actionScopeProblems(readFileSync(file, 'utf8'))).toEqual([]);
  });
});
