// The built CLI loads, for each command, only the code that command uses: the bundle is split
// into chunks that cli/main.ts imports when a command runs. Each run here records, with a
// module loader hook, every file of the bundle the process loaded, and reads from the files'
// source maps which sources (our modules and the packages inlined from node_modules) they hold.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findClosedPort } from '../support/local-http-server.js';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';

const CLI = join(PROJECT_ROOT, 'bin/trustgate.cjs');
const DIST = pathToFileURL(join(PROJECT_ROOT, 'dist')).href;

let scratch: string;
let hooks: string;

beforeAll(() => {
  ensureBuilt([join(PROJECT_ROOT, 'dist/cli.mjs')]);
  scratch = mkdtempSync(join(tmpdir(), 'trustgate-lazy-'));
  // Runs in the loader's own thread: each module's URL is appended to the log named by the
  // environment, as it is loaded.
  writeFileSync(
    join(scratch, 'record-hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  appendFileSync(process.env.LOADED_MODULES_LOG, url + '\\n');
  return nextLoad(url, context);
}
`,
  );
  // CommonJS requires do not pass through those hooks: each is logged from the main thread, a
  // file of the bundle (the verify build is CommonJS) by its URL like an imported one, anything
  // else (the packages the bundle loads from node_modules at run time) as `require:NAME`.
  hooks = join(scratch, 'register-hooks.mjs');
  writeFileSync(
    hooks,
    `import Module, { register } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
register(${JSON.stringify(pathToFileURL(join(scratch, 'record-hooks.mjs')).href)});
const load = Module._load;
Module._load = function (request, parent, ...rest) {
  const file = request.startsWith('.') || request.startsWith('/') ? pathToFileURL(Module._resolveFilename(request, parent)).href : '';
  appendFileSync(process.env.LOADED_MODULES_LOG, (file.startsWith(${JSON.stringify(`${DIST}/`)}) ? file : 'require:' + request) + '\\n');
  return load.call(this, request, parent, ...rest);
};
`,
  );
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Loaded {
  readonly status: number | null;
  // The bundle files loaded, relative to dist/.
  readonly files: readonly string[];
  // Every source those files were built from: `cli/commands/verify.ts`,
  // `node_modules/@aws-sdk/client-dynamodb/...`.
  readonly sources: readonly string[];
  // What was required through CommonJS, as named: `better-sqlite3`, `./lib/database`.
  readonly required: readonly string[];
  // Node built-ins loaded as ES modules (`node:fs`).
  readonly builtinImports: readonly string[];
}

let runs = 0;
// Runs `trustgate ARGS` from the scratch directory (not the project's) with the recording hook.
function loadedBy(args: readonly string[], env: Record<string, string> = {}): Loaded {
  runs += 1;
  const log = join(scratch, `loaded-${runs}.log`);
  writeFileSync(log, '');
  const run = spawnSync(process.execPath, ['--import', pathToFileURL(hooks).href, CLI, ...args], {
    cwd: scratch,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: scratch, LOADED_MODULES_LOG: log, ...env },
    timeout: 60_000,
  });
  const lines = readFileSync(log, 'utf8').split('\n');
  const files = lines
    .filter((url) => url.startsWith(`${DIST}/`))
    .map((url) => url.slice(DIST.length + 1));
  const sources = files.flatMap((file) => {
    const map = JSON.parse(readFileSync(join(PROJECT_ROOT, 'dist', `${file}.map`), 'utf8')) as { sources: string[] };
    return map.sources.map((source) => source.replace(/^(\.\.\/)+/, ''));
  });
  const required = lines.filter((line) => line.startsWith('require:')).map((line) => line.slice('require:'.length));
  const builtinImports = lines.filter((line) => line.startsWith('node:'));
  return { status: run.status, files, sources, required, builtinImports };
}

const fromPackage = (name: string) => (source: string) => source.startsWith(`node_modules/${name}/`);
const AWS_SDK = (source: string): boolean => fromPackage('@aws-sdk/client-dynamodb')(source) || source.startsWith('node_modules/@smithy/');
const OPENWHISK = fromPackage('openwhisk');
const SERVER_CODE = (source: string): boolean => source.startsWith('infra/webhook-proxy/');
// YAML parsing and the policy schema (ajv), needed only where policies are read.
const POLICY_READER = (source: string): boolean => fromPackage('yaml')(source) || fromPackage('ajv')(source);

describe('the trustgate command, built', () => {
  it('prints its help from the entry file alone, loading no command and no package', () => {
    const loaded = loadedBy(['--help']);
    expect(loaded.status).toBe(0);
    expect(loaded.files).toContain('cli.mjs');
    expect(loaded.sources).toContain('cli/main.ts');
    expect(loaded.sources.filter((source) => source.startsWith('cli/commands/') || source.startsWith('node_modules/'))).toEqual([]);
  });

  it('lints policies without loading the AWS SDK, the OpenWhisk client or the server', () => {
    const loaded = loadedBy(['policy', 'lint', join(PROJECT_ROOT, 'examples/policies')]);
    expect(loaded.status).toBe(0);
    expect(loaded.sources).toContain('cli/commands/policy-lint.ts');
    expect(loaded.sources.filter((source) => AWS_SDK(source) || OPENWHISK(source) || SERVER_CODE(source))).toEqual([]);
  });

  it('verifies with a SQLite state directory without loading the AWS SDK, the OpenWhisk client, the server or the policy reader', async () => {
    const trustServer = `http://127.0.0.1:${await findClosedPort()}`;
    const loaded = loadedBy(['verify', 'registry.test/app:v1', '--trust-server', trustServer, '--state-dir', join(scratch, 'state')]);
    expect(loaded.status).toBe(1);
    expect(loaded.sources).toContain('cli/commands/verify.ts');
    expect(loaded.sources).toContain('shared/cache/sqlite-store.ts');
    expect(loaded.sources.filter((source) => AWS_SDK(source) || OPENWHISK(source) || SERVER_CODE(source) || POLICY_READER(source))).toEqual([]);
    // OpenPGP is for simple signing signatures only.
    expect(loaded.sources.filter(fromPackage('openpgp'))).toEqual([]);
  });

  it('verifies from the verify command\'s own CommonJS build alone, loading no file of the main build and no bundle file as an ES module', async () => {
    const trustServer = `http://127.0.0.1:${await findClosedPort()}`;
    const loaded = loadedBy(['verify', 'registry.test/app:v1', '--trust-server', trustServer, '--state-dir', join(scratch, 'state')]);
    expect(loaded.status).toBe(1);
    expect(loaded.files).toContain('cli-verify/index.cjs');
    expect(loaded.sources).toContain('cli/commands/verify.ts');
    expect(loaded.files.filter((file) => !file.startsWith('cli-verify/') || !file.endsWith('.cjs'))).toEqual([]);
    // Only verify's code: no other command is in that build.
    expect(loaded.sources.filter((source) => source.startsWith('cli/commands/') && !['cli/commands/verify.ts', 'cli/commands/describe-policy.ts'].includes(source))).toEqual([]);
  });

  it('verifies taking Node\'s built-ins through require, importing none as an ES module', async () => {
    const trustServer = `http://127.0.0.1:${await findClosedPort()}`;
    const loaded = loadedBy(['verify', 'registry.test/app:v1', '--trust-server', trustServer, '--state-dir', join(scratch, 'state')]);
    expect(loaded.status).toBe(1);
    expect(loaded.required).toEqual(expect.arrayContaining(['node:https', 'node:crypto']));
    expect(loaded.builtinImports).toEqual([]);
    // zlib inflates simple signing signatures only; perf_hooks is not needed for deadlines;
    // fs/promises (and the readline and stream modules it loads) only reads key files.
    expect(loaded.required.filter((name) => ['node:zlib', 'zlib', 'node:perf_hooks', 'perf_hooks', 'node:fs/promises', 'fs/promises'].includes(name))).toEqual([]);
  });

  it('opens SQLite with its JavaScript inlined and the addon of the install, without the search of the bindings package', async () => {
    const trustServer = `http://127.0.0.1:${await findClosedPort()}`;
    const loaded = loadedBy(['verify', 'registry.test/app:v1', '--trust-server', trustServer, '--state-dir', join(scratch, 'state')]);
    expect(loaded.status).toBe(1);
    expect(loaded.required.filter((name) => name.endsWith('/better-sqlite3/build/Release/better_sqlite3.node'))).toHaveLength(1);
    // Neither the package's own files (required by relative names) nor bindings; the one
    // relative name is the launcher's code cache (bin/code-cache.cjs).
    expect(loaded.required.filter((name) => name === 'better-sqlite3' || name === 'bindings' || (name.startsWith('.') && name !== './code-cache.cjs'))).toEqual([]);
  });

  it('loads the policy reader for verify --policies', () => {
    const loaded = loadedBy(['verify', 'registry.example.com/app:v1', '--policies', join(scratch, 'no-such-policies')]);
    expect(loaded.status).toBe(2);
    expect(loaded.sources.some(POLICY_READER)).toBe(true);
  });

  it('loads OpenPGP when a policy requires simple signing', () => {
    const policies = join(scratch, 'simple-policies.yaml');
    writeFileSync(
      policies,
      `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: simple}
spec:
  repositories:
    - name: "registry.test/*"
      policy: {simple: {requirements: [{type: signedBy, keySecret: gpg}]}}
---
apiVersion: v1
kind: Secret
metadata: {name: gpg, namespace: default}
stringData: {key: "not a keyring"}
`,
    );
    const loaded = loadedBy(['verify', 'registry.test/app:v1', '--policies', policies, '--state-dir', join(scratch, 'state')]);
    expect(loaded.status).toBe(1);
    expect(loaded.sources.some(fromPackage('openpgp'))).toBe(true);
  });

  it('loads the AWS SDK when a DynamoDB table is configured', async () => {
    const endpoint = `http://127.0.0.1:${await findClosedPort()}`;
    const loaded = loadedBy(['store', 'check', '--dynamodb-table', 'trust-state', '--dynamodb-endpoint', endpoint], {
      TRUSTGATE_STATE_KEY: 'cd'.repeat(32),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    expect(loaded.status).toBe(1);
    expect(loaded.sources.some(AWS_SDK)).toBe(true);
    expect(loaded.sources.filter((source) => OPENWHISK(source) || SERVER_CODE(source))).toEqual([]);
  });

  it('loads the OpenWhisk client for deploy only', () => {
    const loaded = loadedBy(['deploy', 'openwhisk', '--manifest', join(scratch, 'no-such-manifest.yaml')]);
    expect(loaded.status).toBe(2);
    expect(loaded.sources.some(OPENWHISK)).toBe(true);
    expect(loaded.sources.filter((source) => AWS_SDK(source) || SERVER_CODE(source))).toEqual([]);
  });

  it('loads tuf-js only when a Sigstore trusted root refresh runs', async () => {
    const TUF_JS = (source: string): boolean => fromPackage('tuf-js')(source) || fromPackage('@tufjs/models')(source);
    const mirror = `http://127.0.0.1:${await findClosedPort()}`;
    const trustServer = `http://127.0.0.1:${await findClosedPort()}`;
    const verify = loadedBy(['verify', 'registry.test/app:v1', '--trust-server', trustServer, '--state-dir', join(scratch, 'state'), '--sigstore-tuf-url', mirror]);
    expect(verify.status).toBe(1);
    expect(verify.sources.filter(TUF_JS)).toEqual([]);
    const refresh = loadedBy(['sigstore', 'root', '--refresh', '--state-dir', join(scratch, 'state'), '--sigstore-tuf-url', mirror]);
    expect(refresh.status).toBe(1);
    expect(refresh.sources.some(TUF_JS)).toBe(true);
  });

  it('runs from any working directory through bin/trustgate.cjs', () => {
    const run = spawnSync(process.execPath, [CLI, '--help'], { cwd: fileURLToPath(new URL('.', import.meta.url)), encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^usage: trustgate <command>/);
  });
});
