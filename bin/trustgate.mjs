#!/usr/bin/env node
// Runs the bundled CLI. `npm install` (prepare) or `npm run build` creates dist/.
// `trustgate verify` runs the verify command's own CommonJS build (dist/cli-verify/, see
// scripts/build.mjs): a cold verify then loads its code through the CommonJS loader, without
// the ES module loader's per-file work. Every other command runs dist/cli.mjs.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
const verifyBundle = new URL('../dist/cli-verify/index.cjs', import.meta.url);
if (!existsSync(bundle) || !existsSync(verifyBundle)) {
  process.stderr.write('trustgate: dist/ is incomplete; run `npm run build` first\n');
  process.exit(2);
}
if (process.argv[2] === 'verify') createRequire(import.meta.url)(verifyBundle.pathname);
else await import(bundle.href);
