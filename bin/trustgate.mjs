#!/usr/bin/env node
// Runs the bundled CLI. `npm install` (prepare) or `npm run build` creates dist/.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write('trustgate: dist/cli.mjs is missing; run `npm run build` first\n');
  process.exit(2);
}
await import(bundle.href);
