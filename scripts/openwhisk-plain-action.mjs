// Packs an action split into CommonJS files (an entry and its chunks) into one plain-code
// OpenWhisk action. Apache OpenWhisk's Node.js runtime (openwhisk-runtime-nodejs,
// core/nodejsActionBase/runner.js initializeActionHandler) initialises a plain-code action
// (binary false) by a direct `eval` of its code inside a function wrapper,
//   (function(){ <code>  try { return <main> } catch (e) { ... } })()
// in runner.js's own scope: no file is written and no process started, unlike a zip action,
// whose init runs `mktemp` twice and `unzip` before it can require anything.
//
// The file keeps the split's laziness. The entry and the chunks it requires at start-up are
// plain JavaScript, each in a function wrapper like Node's CommonJS one (V8 only pre-parses
// a function until it is first called). Every other chunk is a string literal, which the
// parser only scans: its source Brotli-compressed, in base64. Compressed, the file is less
// than half the size (the runtime receives, parses and scans all of it at every cold
// init); scanning a string costs per byte (V8 copies and hashes each literal), and
// decompressing a chunk when it is first required costs a few milliseconds. It is then
// compiled by vm.compileFunction, with its own file name for stack traces.
//
// A small loader ties them together. Security: `require` inside the action resolves a
// relative specifier among the embedded modules only, passes a Node built-in to the
// runtime's own `require`, and refuses anything else (a package, an absolute or climbing
// path, a name not embedded), so the action can load nothing from the container's file
// system through it; it compiles nothing but the build's own strings, never outside input.
// The code declares `main` and touches nothing of the runtime's scope (its `module` and
// `exports` are runner.js's) but its `require`: packing fails when any other name the code
// does not declare is not a global of Node (scripts/openwhisk-action-scope.mjs), since the
// runtime would resolve it in its own scope.
//
// The file's source map is an index map whose sections are the plain modules' maps, placed
// where the runtime's eval sees them (one line down: the wrapper's first line comes before
// the code); stack frames in them name `sourceURL`. A string chunk keeps its own map, for
// the file name the loader compiles it under.

import { brotliCompressSync, constants } from 'node:zlib';
import { assertOwnScope } from './openwhisk-action-scope.mjs';

const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];

// The loader, inside the action's one top-level declaration. `plain` and `strings` map each
// module's name (its path in the split, `/`-separated) to its wrapper function or its
// compressed source.
const loader = (prefix) => `
  const { compileFunction } = hostRequire('node:vm');
  const { isBuiltin } = hostRequire('node:module');
  const loaded = new Map();
  // An embedded module's function: its wrapper, or its source decompressed and compiled.
  function bodyOf(name, filename) {
    const plainBody = plain.get(name);
    if (plainBody !== undefined) return plainBody;
    const source = hostRequire('node:zlib').brotliDecompressSync(Buffer.from(strings.get(name), 'base64')).toString('utf8');
    return compileFunction(source, ${JSON.stringify(PARAMETERS)}, { filename });
  }
  // The exports of the embedded module \`name\`, evaluated on first use (as Node's require
  // does: cached before it runs, so a cycle sees the exports so far; dropped if it throws).
  function load(name) {
    const cached = loaded.get(name);
    if (cached !== undefined) return cached.exports;
    const module = { exports: {} };
    const filename = ${JSON.stringify(prefix)} + name;
    const body = bodyOf(name, filename);
    loaded.set(name, module);
    try {
      body.call(module.exports, module.exports, requireFrom(name), module, filename, filename.slice(0, filename.lastIndexOf('/')));
    } catch (error) {
      loaded.delete(name);
      throw error;
    }
    return module.exports;
  }
  // The \`require\` of the embedded module \`name\`: another embedded module by a relative
  // specifier, or a Node built-in; anything else (a package, an absolute or climbing path, a
  // name not embedded) is refused.
  function requireFrom(name) {
    const folder = name.split('/').slice(0, -1);
    return function require(specifier) {
      if (typeof specifier === 'string' && (specifier.startsWith('./') || specifier.startsWith('../'))) {
        const path = [...folder];
        for (const segment of specifier.split('/')) {
          if (segment === '..' && path.length > 0) path.pop();
          else if (segment === '..') return refuse(specifier);
          else if (segment !== '.' && segment !== '') path.push(segment);
        }
        const target = path.join('/');
        if (plain.has(target) || strings.has(target)) return load(target);
      } else if (typeof specifier === 'string' && isBuiltin(specifier)) {
        return hostRequire(specifier);
      }
      return refuse(specifier);
    };
  }
  function refuse(specifier) {
    const error = new Error(\`Cannot find module \${JSON.stringify(String(specifier))}: this action loads only its own embedded modules and Node's built-ins\`);
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
`;

// The action's code and source map. `files` are the split's CommonJS files ({name, code, map}
// with `name` relative to the split's folder, the map a JSON string or object), `entry` the
// name of the one whose exports hold `main`, `eager` the names the entry's start-up requires
// (the entry included), `label` names the action in file names and stack traces. Throws when
// the code would use a name of the runtime's scope (see openwhisk-action-scope.mjs).
export function packPlainAction({ files, entry, eager, main = 'main', label }) {
  const prefix = `${label}/`;
  const sourceURL = `${label}.js`;
  const lines = [];
  const sections = [];
  const push = (text) => lines.push(...text.split('\n'));
  push(`// ${label}: an OpenWhisk plain-code action (Node.js); generated by the build, see its source map.`);
  push(`const ${main} = ((hostRequire) => {`);
  push('  const plain = new Map([');
  for (const file of files.filter((candidate) => eager.has(candidate.name))) {
    push(`[${JSON.stringify(file.name)}, function (${PARAMETERS.join(', ')}) {`);
    // +1: the runtime's wrapper puts one line before the code it evaluates.
    sections.push({ offset: { line: lines.length + 1, column: 0 }, map: withFile(file.map, sourceURL) });
    push(withoutTrailingNewline(file.code));
    push('}],');
  }
  push('  ]);');
  const strings = files.filter((candidate) => !eager.has(candidate.name));
  push(`  const strings = new Map([${strings.map((file) => `[${JSON.stringify(file.name)}, ${JSON.stringify(compressed(file.code))}]`).join(',\n')}]);`);
  push(loader(prefix));
  push(`  return load(${JSON.stringify(entry)}).${main};`);
  push('})(require);');
  push(`//# sourceURL=${sourceURL}`);
  const code = `${lines.join('\n')}\n`;
  assertOwnScope(code, sourceURL);
  const map = { version: 3, file: sourceURL, sections };
  const chunkMaps = strings.map((file) => ({ name: file.name, map: withFile(file.map, `${prefix}${file.name}`) }));
  return { code, map: JSON.stringify(map), chunkMaps };
}

// The names of the files `entry` requires at start-up: itself and, transitively, every file
// it imports statically (esbuild's metafile `imports` of kind import-statement), not the
// ones it imports dynamically. `outputs` is the metafile's, keyed by path; `nameOf` turns
// such a path into a file name of the split.
export function eagerFiles(outputs, entryPath, nameOf) {
  const names = new Set();
  const visit = (path) => {
    if (names.has(nameOf(path))) return;
    names.add(nameOf(path));
    for (const imported of outputs[path]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(entryPath);
  return names;
}

// `code` Brotli-compressed at the highest quality, in base64.
function compressed(code) {
  const data = Buffer.from(code, 'utf8');
  return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }).toString('base64');
}

// A source map (JSON text or object) naming `file` as its generated file.
function withFile(map, file) {
  return { ...(typeof map === 'string' ? JSON.parse(map) : map), file };
}

function withoutTrailingNewline(text) {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
