// Builds the CLI bundle and one bundle per function and platform with esbuild:
//   dist/cli.mjs                              the `trustgate` command
//   dist/functions/<name>/aws.mjs             Lambda handler (AWS SDK left external)
//   dist/functions/<name>/openwhisk.cjs       OpenWhisk plain-code action exporting main
// A function without an openwhisk.ts (the Lambda authorizer) gets only the Lambda bundle.
// All target Node 20, with source maps. Names are not kept (esbuild keepNames): it wraps every
// function created at run time in a naming call, which the per-request path pays for, and
// nothing matches on function or class names (errors carry literal names and codes).
import { build } from 'esbuild';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// better-sqlite3 loads a native addon relative to its own package, so it cannot be inlined:
// bundles require it from node_modules at run time (only the embedded store opens it).
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', absWorkingDir: root, external: ['better-sqlite3'] };
// ESM bundles that inline CommonJS dependencies need a real `require` for Node built-ins.
const requireShim = "import { createRequire as __trustgateCreateRequire } from 'node:module'; const require = __trustgateCreateRequire(import.meta.url);";

const builds = [{ ...common, entryPoints: ['cli/trustgate.ts'], outfile: 'dist/cli.mjs', format: 'esm', banner: { js: requireShim } }];
for (const name of readdirSync(join(root, 'functions'))) {
  const dir = join(root, 'functions', name);
  if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'handler.ts'))) continue;
  builds.push({
    ...common,
    entryPoints: [`functions/${name}/aws.ts`],
    outfile: `dist/functions/${name}/aws.mjs`,
    format: 'esm',
    banner: { js: requireShim },
    external: ['@aws-sdk/*', 'better-sqlite3'],
  });
  if (!existsSync(join(dir, 'openwhisk.ts'))) continue;
  builds.push({
    ...common,
    entryPoints: [`functions/${name}/openwhisk.ts`],
    outfile: `dist/functions/${name}/openwhisk.cjs`,
    format: 'cjs',
    // CommonJS has no import.meta: give modules that resolve files relative to themselves
    // the bundle's own URL.
    banner: { js: "const __trustgateModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__trustgateModuleUrl' },
  });
}

await Promise.all(builds.map((options) => build(options)));
for (const { outfile } of builds) {
  const kib = (statSync(join(root, outfile)).size / 1024).toFixed(1);
  console.log(`${relative(root, join(root, outfile)).padEnd(44)} ${kib.padStart(8)} KiB`);
}
