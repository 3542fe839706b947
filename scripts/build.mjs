// Builds the CLI bundle and one bundle per function and platform with esbuild:
//   dist/cli.mjs                              the `trustgate` command: a small entry that
//   dist/cli-chunks/*.mjs                     imports each command's chunk when it runs
//   dist/cli-verify/index.cjs                 `trustgate verify` alone, CommonJS: the entry
//   dist/cli-verify/chunks/*.cjs              and the chunks it requires when first needed
//   dist/functions/<name>/aws.mjs             Lambda handler (AWS SDK left external): an entry
//   dist/functions/<name>/chunks/*.mjs        and the chunks it imports when first needed
//   dist/functions/<name>/openwhisk.js        OpenWhisk plain-code action: one file, its chunks
//   dist/functions/<name>/openwhisk-maps/     compiled on first use (see below), source maps
// A function without an openwhisk.ts (the Lambda authorizer) gets only the Lambda bundle.
// All target Node 20, with source maps; the function bundles are minified (a cold container
// parses every byte it loads). Names are not kept (esbuild keepNames): it wraps every
// function created at run time in a naming call, which the per-request path pays for, and
// nothing matches on function or class names (errors carry literal names and codes).
import { build, transform } from 'esbuild';
import { readdirSync, statSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join, relative } from 'node:path';
import { eagerFiles, packPlainAction } from './openwhisk-plain-action.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// better-sqlite3 loads a native addon relative to its own package, so it cannot be inlined:
// bundles require it from node_modules at run time (only the embedded store opens it).
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', absWorkingDir: root, external: ['better-sqlite3'] };
// ESM bundles that inline CommonJS dependencies need a real `require` for Node built-ins.
const requireShim = "import { createRequire as __trustgateCreateRequire } from 'node:module'; const require = __trustgateCreateRequire(import.meta.url);";

// The CLI is split (ESM code splitting): cli/main.ts imports each command dynamically, so a
// command loads only its own chunks (`--help` none, `policy lint` no AWS SDK or HTTP code).
// Chunk names carry a content hash: stale ones are removed first. Minified: a cold `trustgate
// verify` spends a good part of its start compiling the chunks it loads.
//
// `verify` is also built on its own (dist/cli-verify/), as CommonJS, and bin/trustgate.cjs
// runs that build for `trustgate verify`. Inside the shared build its code was spread over
// some 25 chunks shared with other commands, and even built alone as ES modules a cold verify
// paid the ES module loader (resolution, linking, a module record per file) for each of about
// 19 files. Its entry (cli/verify-entry.ts) is cli/main.ts's runCli with every other command
// left out (a module that throws: the process never reaches it). It is split like the main
// build (ESM code splitting), so what verify imports dynamically (the policy reader, the
// Sigstore and OpenPGP libraries, the DynamoDB store) stays in chunks a plain verify never
// reads, and each output file is then turned into CommonJS: static imports become require()
// calls and dynamic import() becomes `Promise.resolve().then(() => require(...))`. One
// process loads either this build or dist/cli.mjs, never both, so cli/cli-error.ts's classes
// (which main.ts tells apart with instanceof) are one module in each. dist/cli.mjs keeps the
// verify command for whoever runs it directly.
const CLI_CHUNKS = 'dist/cli-chunks';
const CLI_VERIFY = 'dist/cli-verify';
for (const dir of [CLI_CHUNKS, CLI_VERIFY]) rmSync(join(root, dir), { recursive: true, force: true });
// Node's built-in modules are taken through the bundle's require (requireShim) rather than
// imported: for each built-in an ES module imports, Node builds an ES module facade that
// copies every export, which for the ten or so a command uses was a visible part of a
// cold verify's profile. Each import of one becomes a small ES module in the bundle, shared
// by every module that imports it, that requires the built-in and exports its plain values
// by name (read once, when it is first imported). Had it been a CommonJS module, esbuild
// would wrap it for each importer in an object with a getter per export (copying some 60
// properties of `crypto` for each of its importers: about a tenth of what a cold verify
// allocated). An export that is a getter on the built-in (`fs.promises`, `tls.rootCertificates`,
// `crypto.webcrypto`) is computed on first use, so it is not read up front: those are
// re-exported from a CommonJS module that has only them, as getters.
const builtinExports = new Map();
// The names `specifier` exports: its plain values, and its getters.
function exportsOf(specifier) {
  if (!builtinExports.has(specifier)) {
    const module = createRequire(import.meta.url)(specifier);
    const names = Object.getOwnPropertyNames(module).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
    const isGetter = (name) => Object.getOwnPropertyDescriptor(module, name).get !== undefined;
    builtinExports.set(specifier, { values: names.filter((name) => !isGetter(name)), getters: names.filter(isGetter) });
  }
  return builtinExports.get(specifier);
}
const builtinsByRequire = {
  name: 'builtins by require',
  setup(builder) {
    const ours = new Set(['builtin', 'builtin-values', 'builtin-getters']);
    builder.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      if (ours.has(args.namespace)) return { path: args.path, external: true };
      // A CommonJS file (better-sqlite3's) requires the built-in itself.
      return { path: args.path, namespace: args.kind === 'require-call' ? 'builtin' : 'builtin-values' };
    });
    builder.onResolve({ filter: /^builtin-getters:/ }, (args) => ({ path: args.path.slice('builtin-getters:'.length), namespace: 'builtin-getters' }));
    builder.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    builder.onLoad({ filter: /.*/, namespace: 'builtin-values' }, (args) => {
      const { values, getters } = exportsOf(args.path);
      const lines = [`const m = require(${JSON.stringify(args.path)});`, 'export default m;'];
      if (values.length > 0) lines.push(`export const { ${values.join(', ')} } = m;`);
      if (getters.length > 0) lines.push(`export { ${getters.join(', ')} } from ${JSON.stringify(`builtin-getters:${args.path}`)};`);
      return { contents: lines.join('\n'), loader: 'js' };
    });
    builder.onLoad({ filter: /.*/, namespace: 'builtin-getters' }, (args) => {
      const getters = JSON.stringify(exportsOf(args.path).getters);
      return { contents: `const m = require(${JSON.stringify(args.path)});\nfor (const name of ${getters}) Object.defineProperty(exports, name, { enumerable: true, get: () => m[name] });`, loader: 'js' };
    });
  },
};
// Every command module cli/main.ts imports, but verify's, becomes a module that throws.
const verifyOnly = {
  name: 'verify only',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (args) => {
      if (args.importer !== join(root, 'cli/main.ts') || args.path === './commands/verify.js') return undefined;
      return { path: args.path, namespace: 'left-out' };
    });
    builder.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is not part of the verify build`)});`, loader: 'js' }));
  },
};
// better-sqlite3's JavaScript is inlined (a dozen CommonJS files less to load when a store is
// opened); its native addon is still loaded from node_modules (shared/cache/sqlite-store.ts).
const cliBuild = {
  ...common,
  external: ['bindings'],
  splitting: true,
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  minify: true,
  banner: { js: requireShim },
  entryPoints: { cli: 'cli/trustgate.ts' },
  outdir: 'dist',
  chunkNames: 'cli-chunks/[name]-[hash]',
  plugins: [builtinsByRequire],
};

// Builds dist/cli-verify/ as CommonJS, its source maps beside the files.
function buildCliVerify() {
  const folder = join(root, CLI_VERIFY);
  return buildCommonJs('cli/verify-entry.ts', folder, folder, { external: ['bindings'], plugins: [verifyOnly, builtinsByRequire] });
}
const builds = [];
const openwhiskBuilds = [];
// Function bundles: what a handler's start-up does not use is imported where it is used (the
// DynamoDB store, the heavy verifier libraries). The Lambda bundle is split like the CLI, so
// such code sits in chunks a cold start never reads, and an external package (the runtime's
// AWS SDK) imported there is imported only then; without splitting, esbuild would hoist its
// import to the top of the bundle. The OpenWhisk action is split the same way (the AWS SDK
// inlined: the runtime has none) and packed into one plain-code file, see buildOpenWhiskAction.
for (const name of readdirSync(join(root, 'functions'))) {
  const dir = join(root, 'functions', name);
  if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'handler.ts'))) continue;
  rmSync(join(root, 'dist/functions', name), { recursive: true, force: true });
  builds.push({
    ...common,
    entryPoints: { aws: `functions/${name}/aws.ts` },
    outdir: `dist/functions/${name}`,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    minify: true,
    banner: { js: requireShim },
    external: ['@aws-sdk/*', 'better-sqlite3'],
  });
  if (!existsSync(join(dir, 'openwhisk.ts'))) continue;
  openwhiskBuilds.push({ name, build: buildOpenWhiskAction(name) });
}

// The OpenWhisk action: one plain-code file, dist/functions/<name>/openwhisk.js, that
// `trustgate deploy openwhisk` sends as it is (manifest.yaml's `function`, binary false).
// Apache OpenWhisk's Node.js runtime (openwhisk-runtime-nodejs, core/nodejsActionBase/
// runner.js) evaluates plain code in a function wrapper at init: no child process, where a
// zip action costs a `mktemp` and `unzip` run before anything of it loads (most of a cold
// init of a small zip action). The action is split like the Lambda bundle (ESM code
// splitting, the AWS SDK inlined: the runtime has none), each output file turned into
// CommonJS (splitCommonJs; the runtime evaluates the code as a script, where import and
// export are not allowed), and the files packed into one by scripts/openwhisk-plain-action.mjs:
// the entry and the chunks its start-up requires as plain code, the others as string
// literals compiled on first use. Source maps go to openwhisk-maps/: the file's as
// openwhisk.js.map, each string chunk's under its name in the split (chunks/...).
async function buildOpenWhiskAction(name) {
  // The split's files are named relative to this folder, never written there.
  const folder = join(root, `dist/functions/${name}/openwhisk`);
  const maps = join(root, `dist/functions/${name}/openwhisk-maps`);
  const file = join(root, `dist/functions/${name}/openwhisk.js`);
  const { files, eager } = await splitCommonJs(`functions/${name}/openwhisk.ts`, folder);
  const action = packPlainAction({ files, entry: 'index.cjs', eager, label: `trustgate-${name}` });
  writeFileSync(file, action.code);
  for (const [path, contents] of [[join(maps, 'openwhisk.js.map'), action.map], ...action.chunkMaps.map((chunk) => [join(maps, `${chunk.name}.map`), JSON.stringify(chunk.map)])]) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, contents);
  }
  return [`dist/functions/${name}/openwhisk.js (${eager.size} of ${files.length} modules plain)`, statSync(file).size];
}

// Builds `entry` as index.cjs in `folder` with chunks loaded on first use (see splitCommonJs),
// each source map at the same relative path under `maps`; when that is the output folder
// itself, the file names it.
async function buildCommonJs(entry, folder, maps, options = {}) {
  for (const file of (await splitCommonJs(entry, folder, options)).files) {
    const map = join(maps, `${file.name}.map`);
    const code = maps === folder ? `${file.code}//# sourceMappingURL=${basename(file.name)}.map\n` : file.code;
    for (const [path, contents] of [[file.path, code], [map, file.map]]) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, contents);
    }
  }
}

// `entry` split as ES modules in memory (inline source maps), then each file converted to
// CommonJS: static imports become require() calls and dynamic import() becomes
// `Promise.resolve().then(() => require(...))`, so a chunk still loads only on first use,
// without Node's ES module loader. Returns the files ({name relative to `folder`, path,
// code, map}) and `eager`, the names of those the entry requires at start-up.
async function splitCommonJs(entry, folder, options = {}) {
  const split = await build({
    ...common,
    ...options,
    entryPoints: { index: entry },
    outdir: folder,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.cjs' },
    format: 'esm',
    minify: true,
    sourcemap: 'inline',
    metafile: true,
    write: false,
  });
  const nameOf = (path) => relative(folder, join(root, path));
  const entryPath = Object.keys(split.metafile.outputs).find((path) => nameOf(path) === 'index.cjs');
  const eager = eagerFiles(split.metafile.outputs, entryPath, nameOf);
  const files = [];
  for (const file of split.outputFiles) {
    const name = relative(folder, file.path);
    const converted = await transform(file.text, {
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      minify: true,
      supported: { 'dynamic-import': false },
      sourcemap: 'external',
      sourcefile: name,
      // CommonJS has no import.meta: modules that resolve files relative to themselves get
      // their file's own URL.
      banner: "const __trustgateModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      define: { 'import.meta.url': '__trustgateModuleUrl' },
    });
    files.push({ name, path: file.path, code: converted.code, map: converted.map });
  }
  return { files, eager };
}

await Promise.all([build(cliBuild), buildCliVerify(), ...builds.map((options) => build(options))]);
const openwhiskSizes = await Promise.all(openwhiskBuilds.map((action) => action.build));
const chunks = readdirSync(join(root, CLI_CHUNKS)).filter((name) => name.endsWith('.mjs'));
const chunksSize = chunks.reduce((total, name) => total + statSync(join(root, CLI_CHUNKS, name)).size, 0);
const sizes = [
  ['dist/cli.mjs', statSync(join(root, 'dist/cli.mjs')).size],
  [`${CLI_CHUNKS}/ (${chunks.length} chunks)`, chunksSize],
  [`${CLI_VERIFY}/index.cjs`, statSync(join(root, CLI_VERIFY, 'index.cjs')).size],
  ...builds.map((options) => {
    const file = join(options.outdir, 'aws.mjs');
    return [relative(root, join(root, file)), statSync(join(root, file)).size];
  }),
  ...openwhiskSizes,
];
for (const [name, size] of sizes) console.log(`${name.padEnd(48)} ${(size / 1024).toFixed(1).padStart(8)} KiB`);
