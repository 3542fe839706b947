// What an entry file imports before its first line runs: the modules reachable from it by
// static imports and require calls, not through import(). Read from esbuild's metafile,
// bundling as scripts/build.mjs does (a module reached only by import() is a lazily
// evaluated part of a function bundle, or a separate chunk).
import { builtinModules } from 'node:module';
import { build } from 'esbuild';
import { PROJECT_ROOT } from './built-bundles.js';

// The packages (node_modules names, externals included) the entry loads at start-up.
export async function packagesLoadedAtStartup(entry: string): Promise<string[]> {
  const { metafile } = await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    splitting: true,
    outdir: 'startup-imports-out',
    external: ['@aws-sdk/*', 'better-sqlite3'],
    logLevel: 'silent',
  });
  const packages = new Set<string>();
  const seen = new Set<string>([entry]);
  const pending = [entry];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    for (const imported of metafile.inputs[path]?.imports ?? []) {
      if (imported.kind === 'dynamic-import') continue;
      const name = packageName(imported.path, imported.external === true);
      if (name !== undefined) packages.add(name);
      if (imported.external === true || seen.has(imported.path)) continue;
      seen.add(imported.path);
      pending.push(imported.path);
    }
  }
  return [...packages].sort();
}

// `@scope/name` or `name` of a node_modules path or a bare external specifier.
function packageName(path: string, external: boolean): string | undefined {
  if (path.startsWith('node:') || builtinModules.includes(path)) return undefined;
  const inModules = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (inModules !== null) return inModules[1];
  if (!external) return undefined;
  return /^((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
}
