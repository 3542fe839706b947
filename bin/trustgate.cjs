#!/usr/bin/env node
// Runs the bundled CLI. `npm install` (prepare) or `npm run build` creates dist/.
// A CommonJS file: Node runs an ES module entry through its ES module loader, which a cold
// command would pay for before any of its own code runs. `trustgate verify` runs the verify
// command's own CommonJS build (dist/cli-verify/, see scripts/build.mjs), so a cold verify
// loads no ES module at all; every other command imports dist/cli.mjs.
'use strict';
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');

const bundle = join(__dirname, '../dist/cli.mjs');
const verifyBundle = join(__dirname, '../dist/cli-verify/index.cjs');
if (!existsSync(bundle) || !existsSync(verifyBundle)) {
  process.stderr.write('trustgate: dist/ is incomplete; run `npm run build` first\n');
  process.exit(2);
}
if (process.argv[2] === 'verify') {
  // Kept compiled between runs (bin/code-cache.cjs): a cold verify compiles little of its own.
  require('./code-cache.cjs').useCodeCache(dirname(verifyBundle), process.env);
  require(verifyBundle);
} else void import(pathToFileURL(bundle).href);
