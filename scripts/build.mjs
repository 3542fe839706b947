// Builds the CLI bundle and one bundle per function and platform with esbuild:
//   dist/cli.mjs                              the `trustgate` command: a small entry that
//   dist/cli-chunks/*.mjs                     imports each command's chunk when it runs
//   dist/functions/<name>/aws.mjs             Lambda handler (AWS SDK left external): an entry
//   dist/functions/<name>/chunks/*.mjs        and the chunks it imports when first needed
//   dist/functions/<name>/openwhisk/          OpenWhisk zip action's folder (see below);
//   dist/functions/<name>/openwhisk-maps/     its source maps, kept out of the zip
// A function without an openwhisk.ts (the Lambda authorizer) gets only the Lambda bundle.
// All target Node 20, with source maps; the function bundles are minified (a cold container
// parses every byte it loads). Names are not kept (esbuild keepNames): it wraps every
// function created at run time in a naming call, which the per-request path pays for, and
// nothing matches on function or class names (errors carry literal names and codes).
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// better-sqlite3 loads a native addon relative to its own package, so it cannot be inlined:
// bundles require it from node_modules at run time (only the embedded store opens it).
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', absWorkingDir: root, external: ['better-sqlite3'] };
// ESM bundles that inline CommonJS dependencies need a real `require` for Node built-ins.
const requireShim = "import { createRequire as __trustgateCreateRequire } from 'node:module'; const require = __trustgateCreateRequire(import.meta.url);";

// The CLI is split (ESM code splitting): cli/main.ts imports each command dynamically, so a
// command loads only its own chunks (`--help` none, `policy lint` no AWS SDK or HTTP code).
// Chunk names carry a content hash: stale ones are removed first.
const CLI_CHUNKS = 'dist/cli-chunks';
rmSync(join(root, CLI_CHUNKS), { recursive: true, force: true });
const cliBuild = {
  ...common,
  entryPoints: { cli: 'cli/trustgate.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'cli-chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  banner: { js: requireShim },
};
const builds = [];
const openwhiskActions = [];
// Function bundles: what a handler's start-up does not use is imported where it is used (the
// DynamoDB store, the heavy verifier libraries). The Lambda bundle is split like the CLI, so
// such code sits in chunks a cold start never reads, and an external package (the runtime's
// AWS SDK) imported there is imported only then; without splitting, esbuild would hoist its
// import to the top of the bundle. The OpenWhisk action is split the same way (the AWS SDK
// inlined: the runtime has none) and deployed as a zip action, see openwhiskFolder below.
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
  builds.push({
    ...common,
    entryPoints: { action: `functions/${name}/openwhisk.ts` },
    outdir: openwhiskFolder(name),
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    minify: true,
    // Maps carry no sourceMappingURL comment and are moved out of the folder after the build:
    // the zip (what a cold container unpacks) holds only code.
    sourcemap: 'external',
    banner: { js: requireShim },
  });
  openwhiskActions.push(name);
}

// The folder `trustgate deploy openwhisk` zips into the action (manifest.yaml's `function`).
// Apache OpenWhisk's Node.js runtime (openwhisk-runtime-nodejs, core/nodejsActionBase/runner.js)
// initialises a zip action by unpacking it with `unzip`, chdir-ing into it and evaluating
// `require(<folder>).<main>`: Node resolves the folder through package.json `main` (runner.js
// rejects a zip with neither package.json nor index.js), and the runtime's CommonJS `require`
// cannot load an ES module on its Node 20 (20.17 in the nodejs:20 image). So the entry is a
// CommonJS index.cjs whose dynamic import() loads the ESM action, and its chunks on first use.
// package.json lists no dependencies: with some and no node_modules, runner.js runs
// `npm install` at init.
function openwhiskFolder(name) {
  return `dist/functions/${name}/openwhisk`;
}

// Where its source maps go.
function openwhiskMapsFolder(name) {
  return `dist/functions/${name}/openwhisk-maps`;
}

const OPENWHISK_INDEX = readFileSync(join(root, 'functions/platform/openwhisk-index.cjs'), 'utf8');

// Writes the CommonJS entry and package.json beside the built action and moves its source maps
// out of the folder (to openwhisk-maps/, same relative paths).
function finishOpenWhiskFolder(name) {
  const folder = join(root, openwhiskFolder(name));
  writeFileSync(join(folder, 'index.cjs'), OPENWHISK_INDEX);
  writeFileSync(join(folder, 'package.json'), `${JSON.stringify({ name: `trustgate-${name}`, private: true, main: 'index.cjs' }, null, 2)}\n`);
  for (const file of readdirSync(folder, { recursive: true })) {
    if (!file.endsWith('.map')) continue;
    const target = join(root, openwhiskMapsFolder(name), file);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(join(folder, file), target);
  }
}

// The total size of the files under a folder.
function folderSize(folder) {
  return readdirSync(folder, { recursive: true }).reduce((total, file) => {
    const stats = statSync(join(folder, file));
    return stats.isFile() ? total + stats.size : total;
  }, 0);
}

await Promise.all([build(cliBuild), ...builds.map((options) => build(options))]);
for (const name of openwhiskActions) finishOpenWhiskFolder(name);
const chunks = readdirSync(join(root, CLI_CHUNKS)).filter((name) => name.endsWith('.mjs'));
const chunksSize = chunks.reduce((total, name) => total + statSync(join(root, CLI_CHUNKS, name)).size, 0);
const sizes = [
  ['dist/cli.mjs', statSync(join(root, 'dist/cli.mjs')).size],
  [`${CLI_CHUNKS}/ (${chunks.length} chunks)`, chunksSize],
  ...builds.map((options) => {
    if (options.outdir.endsWith('/openwhisk')) return [`${options.outdir}/ (zip action)`, folderSize(join(root, options.outdir))];
    const file = join(options.outdir, 'aws.mjs');
    return [relative(root, join(root, file)), statSync(join(root, file)).size];
  }),
];
for (const [name, size] of sizes) console.log(`${name.padEnd(48)} ${(size / 1024).toFixed(1).padStart(8)} KiB`);
