// A function's cold start loads only what its start-up uses: the heavy verifier libraries,
// the AWS SDK (the DynamoDB store), YAML and JSON Schema compilation are imported where they
// are first used. Checked twice: on the sources (what each entry reaches by static imports,
// which both platforms' bundles follow) and on the built bundles (which files a process
// loading them as its platform does actually loads, and which sources those files hold):
// the Lambda entry imported, the OpenWhisk plain-code action evaluated by the runtime's init.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readActionCode } from '../../cli/openwhisk/action-code.js';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { packagesLoadedAtStartup } from './support/startup-imports.js';

// Packages no function may load before its first use of them.
const LOADED_ON_FIRST_USE = ['@sigstore/', 'sigstore', 'openpgp', 'tuf-js', '@tufjs/models', '@kubernetes/', '@aws-sdk/', '@smithy/', 'ajv', 'yaml'];
const isLoadedOnFirstUse = (name: string): boolean => LOADED_ON_FIRST_USE.some((heavy) => (heavy.endsWith('/') ? name.startsWith(heavy) : name === heavy));

type Loaded = { readonly status: number | null; readonly stderr: string; readonly urls: readonly string[]; readonly sources: readonly string[] };
const OPENWHISK_RUNTIME = join(PROJECT_ROOT, 'test/integration/support/openwhisk-runtime.cjs');
const FUNCTIONS = readdirSync(join(PROJECT_ROOT, 'functions')).filter((name) => existsSync(join(PROJECT_ROOT, 'functions', name, 'handler.ts')));
const OPENWHISK_FUNCTIONS = FUNCTIONS.filter((name) => existsSync(join(PROJECT_ROOT, 'functions', name, 'openwhisk.ts')));
const ENTRIES = FUNCTIONS.flatMap((name) => ['aws.ts', 'openwhisk.ts'].filter((file) => existsSync(join(PROJECT_ROOT, 'functions', name, file))).map((file) => `functions/${name}/${file}`));

describe('the start-up import check', () => {
  it('reports a heavy library an entry imports statically, through another module too', async () => {
    expect((await packagesLoadedAtStartup('test/fixtures/startup-imports/eager-entry.ts')).filter(isLoadedOnFirstUse)).toEqual(['@tufjs/models', 'openpgp', 'tuf-js']);
  });

  it('does not report one reached only through import()', async () => {
    expect(await packagesLoadedAtStartup('test/fixtures/startup-imports/lazy-entry.ts')).toEqual([]);
  });
});

describe('each function entry', () => {
  it('is found', () => {
    expect(ENTRIES).toEqual(expect.arrayContaining(['functions/verify-image/aws.ts', 'functions/verify-image/openwhisk.ts', 'functions/sign-callback/aws.ts', 'functions/policy-lookup/openwhisk.ts', 'functions/callback-authorizer/aws.ts']));
  });

  it.each(ENTRIES)('%s imports no heavy library, AWS SDK, YAML or ajv at start-up', async (entry) => {
    expect((await packagesLoadedAtStartup(entry)).filter(isLoadedOnFirstUse)).toEqual([]);
  });
});

describe('the built bundles, loaded as a cold container does', () => {
  let scratch: string;
  let hooks: string;
  const DIST = pathToFileURL(join(PROJECT_ROOT, 'dist')).href;
  // The deployed configuration, a DynamoDB table included.
  const ENV = {
    TRUSTGATE_DYNAMODB_TABLE: 'trust-state',
    TRUSTGATE_STATE_KEY: 'cd'.repeat(32),
    AWS_REGION: 'eu-west-1',
    TRUSTGATE_POLICIES: join(PROJECT_ROOT, 'examples/policies'),
    TRUSTGATE_REGISTRY_HOST: 'registry.example.com',
    TRUSTGATE_CALLBACK_TOKEN: 'token',
  };

  beforeAll(() => {
    ensureBuilt([...FUNCTIONS.map((name) => bundlePath(name, 'lambda')), ...OPENWHISK_FUNCTIONS.map((name) => bundlePath(name, 'openwhisk'))]);
    scratch = mkdtempSync(join(tmpdir(), 'trustgate-function-start-'));
    // Runs in the loader's thread: each module's URL is appended to the log, as it is loaded.
    writeFileSync(
      join(scratch, 'record-hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  appendFileSync(process.env.LOADED_MODULES_LOG, url + '\\n');
  return nextLoad(url, context);
}
`,
    );
    hooks = join(scratch, 'register-hooks.mjs');
    writeFileSync(hooks, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(scratch, 'record-hooks.mjs')).href)});\n`);
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  // The module URLs a process loads when it imports the Lambda bundle, and the sources (from
  // the source maps) of the bundle files among them.
  function loadedByImport(name: string): Loaded {
    const log = join(scratch, `${name}.log`);
    writeFileSync(log, '');
    const bundle = pathToFileURL(bundlePath(name, 'lambda')).href;
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(hooks).href, '--input-type=module', '-e', `await import(${JSON.stringify(bundle)})`], {
      cwd: scratch,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: scratch, LOADED_MODULES_LOG: log, ...ENV },
      timeout: 60_000,
    });
    const urls = readFileSync(log, 'utf8').split('\n').filter((url) => url !== '');
    const maps = urls.filter((url) => url.startsWith(`${DIST}/`)).map((url) => `${join(PROJECT_ROOT, 'dist', url.slice(DIST.length + 1))}.map`);
    return { status: run.status, stderr: run.stderr, urls, sources: sourcesOf(maps) };
  }

  // The same for the OpenWhisk action: the plain code `trustgate deploy openwhisk` sends,
  // given to the runtime's init (evaluated in a fresh working directory; the configuration as
  // init-time parameters). The action loads no file: its start-up modules are plain code in
  // it, its other chunks strings its loader compiles with vm.compileFunction on first use, so
  // the sources it loaded are those of its source map's sections and of the chunks compiled
  // (recorded by wrapping vm.compileFunction) once the init has answered. Nothing may have
  // gone through either of Node's module loaders but the runtime stand-in itself.
  async function loadedByOpenWhiskInit(name: string): Promise<Loaded & { readonly compiled: readonly string[] }> {
    const { code } = await readActionCode(bundlePath(name, 'openwhisk'));
    const message = join(scratch, `${name}-init.json`);
    writeFileSync(message, JSON.stringify({ code, binary: false, main: 'main', env: ENV }));
    const cwd = mkdtempSync(join(scratch, `${name}-runtime-`));
    const esmLog = join(scratch, `${name}-esm.log`);
    const compiledLog = join(scratch, `${name}-compiled.log`);
    const required = join(scratch, `${name}-required.log`);
    for (const log of [esmLog, compiledLog]) writeFileSync(log, '');
    const script =
      `const { appendFileSync, readFileSync, writeFileSync } = require('node:fs');` +
      `const vm = require('node:vm'); const compile = vm.compileFunction;` +
      `vm.compileFunction = (...args) => { appendFileSync(${JSON.stringify(compiledLog)}, args[2].filename + '\\n'); return compile(...args); };` +
      `require(${JSON.stringify(OPENWHISK_RUNTIME)}).initializeAction(JSON.parse(readFileSync(${JSON.stringify(message)}, 'utf8')))` +
      `.then(() => writeFileSync(${JSON.stringify(required)}, Object.keys(require.cache).join('\\n')));`;
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(hooks).href, '-e', script], {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: scratch, LOADED_MODULES_LOG: esmLog },
      timeout: 60_000,
    });
    expect(readFileSync(esmLog, 'utf8').split('\n').filter((url) => url.startsWith('file:'))).toEqual([]);
    const files = existsSync(required) ? readFileSync(required, 'utf8').split('\n').filter((file) => file !== '' && file !== OPENWHISK_RUNTIME) : [];
    const compiled = readFileSync(compiledLog, 'utf8').split('\n').filter((file) => file !== '');
    const maps = join(PROJECT_ROOT, 'dist/functions', name, 'openwhisk-maps');
    const chunkMaps = compiled.map((file) => `${join(maps, file.replace(/^[^/]+\//, ''))}.map`);
    return { status: run.status, stderr: run.stderr, urls: files.map((file) => pathToFileURL(file).href), sources: sourcesOf([join(maps, 'openwhisk.js.map'), ...chunkMaps]), compiled };
  }

  // The sources the given source maps name (an index map's sections' too), relative to the
  // project.
  function sourcesOf(maps: readonly string[]): string[] {
    type SourceMap = { readonly sources?: readonly string[]; readonly sections?: readonly { readonly map: SourceMap }[] };
    const sourcesIn = (map: SourceMap): readonly string[] => [...(map.sources ?? []), ...(map.sections ?? []).flatMap((section) => sourcesIn(section.map))];
    return maps.flatMap((map) => sourcesIn(JSON.parse(readFileSync(map, 'utf8')) as SourceMap)).map((source) => source.replace(/^(\.\.\/)+/, ''));
  }

  const packagesOf = (sources: readonly string[]): string[] => [...new Set(sources.flatMap((source) => /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1] ?? []))];

  it.each(FUNCTIONS)('%s (Lambda) loads no package from outside its bundle and none of the heavy ones inlined', (name) => {
    const loaded = loadedByImport(name);
    expect(loaded.status).toBe(0);
    expect(loaded.urls.filter((url) => url.includes('/node_modules/'))).toEqual([]);
    expect(packagesOf(loaded.sources).filter(isLoadedOnFirstUse)).toEqual([]);
  });

  it('verify-image (Lambda) keeps the DynamoDB store in a chunk it has not loaded', () => {
    const loaded = loadedByImport('verify-image');
    expect(loaded.sources).not.toContain('infra/store/dynamodb-table.ts');
    expect(readdirSync(join(PROJECT_ROOT, 'dist/functions/verify-image/chunks')).some((file) => file.startsWith('dynamodb-table-'))).toBe(true);
  });

  it('policy-lookup ships none of the verifiers, on either platform', () => {
    const folder = join(PROJECT_ROOT, 'dist/functions/policy-lookup');
    const maps = readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.map')).map((file) => join(folder, file));
    const sources = sourcesOf(maps);
    expect(sources).toContain('functions/policy-lookup/handler.ts');
    expect(sources.filter((source) => /^shared\/trust\/(notary|sigstore|simple)\/|^shared\/trust\/cosign\/cosign-verifier/.test(source))).toEqual([]);
    expect(packagesOf(sources).filter((name) => /^(openpgp|sigstore|@sigstore\/.*|tuf-js|@tufjs\/.*)$/.test(name))).toEqual([]);
  });

  it.each(OPENWHISK_FUNCTIONS)('%s (OpenWhisk) initialises from its plain code alone, loading no file, compiling no chunk and none of the heavy packages', async (name) => {
    const loaded = await loadedByOpenWhiskInit(name);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    expect(loaded.sources).toContain(`functions/${name}/openwhisk.ts`);
    expect(loaded.urls).toEqual([]);
    expect(loaded.compiled).toEqual([]);
    expect(packagesOf(loaded.sources).filter(isLoadedOnFirstUse)).toEqual([]);
  });

  it('verify-image (OpenWhisk) ships the DynamoDB store, openpgp and sigstore in chunks its init has not loaded', async () => {
    const loaded = await loadedByOpenWhiskInit('verify-image');
    expect(loaded.sources).not.toContain('infra/store/dynamodb-table.ts');
    const chunks = readdirSync(join(PROJECT_ROOT, 'dist/functions/verify-image/openwhisk-maps/chunks'));
    for (const prefix of ['dynamodb-table-', 'openpgp-', 'sigstore-check-']) expect(chunks.some((file) => file.startsWith(prefix))).toBe(true);
    const code = readFileSync(bundlePath('verify-image', 'openwhisk'), 'utf8');
    for (const chunk of chunks) expect(code).toContain(JSON.stringify(`chunks/${chunk.replace(/\.map$/, '')}`));
  });
});
