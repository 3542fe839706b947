// What a plain-code OpenWhisk action's free names resolve to. Apache OpenWhisk's Node.js
// runtime evaluates a plain-code action by a direct `eval` inside a function wrapper in
// runner.js's own scope (see scripts/openwhisk-plain-action.mjs), so a name the action uses
// without declaring it is looked up in runner.js before the global object: the CommonJS
// wrapper's `require`, `module`, `exports`, `__filename`, `__dirname`, runner.js's top-level
// `fs`, `path`, `exec`, ..., and initializeActionHandler's `message` (the /init request) and
// `handler`. Such a name would silently be the runtime's (an action naming `message` would
// read the init request; one naming `path` would get Node's path module), and which names
// exist depends on the runtime's version. So the packed action may use, undeclared, only
// the runtime's `require` (deliberately: the loader passes built-ins to it) and the globals
// of Node; anything else, a runtime name or a name that is no global, is refused.
//
// The action's code is parsed (acorn) and its scopes analysed (eslint-scope) as a CommonJS
// module, whose top level is a function scope like the runtime's wrapper. Code that never
// runs is left out: esbuild ends each CommonJS file with `0 && (module.exports = {...})`, a
// note for Node's detection of CommonJS exports, whose names are never looked up.

import { parse } from 'acorn';
import { analyze } from 'eslint-scope';
import { runInNewContext } from 'node:vm';

// The names runner.js's eval sees besides the globals (openwhisk-runtime-nodejs,
// core/nodejsActionBase/runner.js, current and earlier versions), and where they come from.
export const RUNTIME_SCOPE_NAMES = new Map([
  ...['exports', 'require', 'module', '__filename', '__dirname'].map((name) => [name, 'the CommonJS wrapper of runner.js']),
  ...['fs', 'path', 'util', 'child_process', 'serializeError', 'initializeActionHandler', 'NodeActionRunner', 'unzipInTmpDir', 'exec', 'splitMainHandler', 'assertMainIsFunction'].map((name) => [name, 'the top level of runner.js']),
  ...['message', 'handler', 'thisRunner'].map((name) => [name, 'the runner.js function that evaluates the action']),
]);

// The runtime's names the action uses on purpose: its `require`, for Node's built-ins.
export const PROVIDED_NAMES = new Set(['require']);

// The names the runtime's wrapper reads after the action's code (its fallback for `main`):
// the action must not declare them, or the wrapper would read the action's.
const WRAPPER_READS = ['module', 'exports'];

// Node's own globals (Node 20, the runtime's), besides the language's.
const NODE_GLOBALS = [
  'global', 'process', 'Buffer', 'console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
  'queueMicrotask', 'structuredClone', 'atob', 'btoa', 'URL', 'URLSearchParams', 'DOMException', 'AbortController', 'AbortSignal', 'Event',
  'EventTarget', 'CustomEvent', 'TextEncoder', 'TextDecoder', 'TextEncoderStream', 'TextDecoderStream', 'CompressionStream', 'DecompressionStream',
  'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest', 'ReadableByteStreamController',
  'ReadableStreamDefaultController', 'WritableStream', 'WritableStreamDefaultController', 'WritableStreamDefaultWriter', 'TransformStream',
  'TransformStreamDefaultController', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy', 'BroadcastChannel', 'MessageChannel', 'MessagePort',
  'MessageEvent', 'Blob', 'File', 'performance', 'Performance', 'PerformanceEntry', 'PerformanceMark', 'PerformanceMeasure', 'PerformanceObserver',
  'PerformanceObserverEntryList', 'PerformanceResourceTiming', 'fetch', 'FormData', 'Headers', 'Request', 'Response', 'crypto', 'Crypto',
  'CryptoKey', 'SubtleCrypto',
];

// The language's globals (those of a fresh V8 context) and Node's.
const GLOBALS = new Set([...runInNewContext('Object.getOwnPropertyNames(globalThis)'), ...NODE_GLOBALS]);

// What is wrong with the names of the plain-code action `code`, one sentence each; none
// when every free name is a global or the runtime's `require`.
export function actionScopeProblems(code) {
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'script', ranges: true });
  leaveOutDeadCode(ast);
  const manager = analyze(ast, { ecmaVersion: 2022, sourceType: 'commonjs' });
  const global = manager.globalScope;
  const problems = [];
  // Names looked up at run time, which no analysis sees: a direct eval (it sees the runtime's
  // scope) and a with statement.
  if (manager.scopes.some((scope) => scope.directCallToEvalScope)) problems.push('a direct `eval` in the action would see the runtime\'s scope');
  if (manager.scopes.some((scope) => scope.type === 'with')) problems.push('a `with` statement in the action looks names up at run time, past this check');
  for (const name of new Set(global.through.map((reference) => reference.identifier.name))) {
    if (PROVIDED_NAMES.has(name)) continue;
    const runtime = RUNTIME_SCOPE_NAMES.get(name);
    if (runtime !== undefined) problems.push(`\`${name}\` is free in the action and would be the runtime's (${runtime})`);
    else if (!GLOBALS.has(name)) problems.push(`\`${name}\` is free in the action and no global: it would be whatever the runtime's scope holds by that name, or fail`);
  }
  const topLevel = global.childScopes[0]?.variables ?? [];
  for (const variable of topLevel) {
    if (variable.defs.length > 0 && WRAPPER_READS.includes(variable.name)) {
      problems.push(`\`${variable.name}\` is declared at the action's top level, where the runtime's wrapper reads its own`);
    }
  }
  return problems;
}

// Throws, naming `label`, when the action `code` has any of the problems above.
export function assertOwnScope(code, label) {
  const problems = actionScopeProblems(code);
  if (problems.length > 0) {
    throw new Error(`${label}: the OpenWhisk runtime evaluates a plain-code action in its own scope, and\n  - ${problems.join('\n  - ')}`);
  }
}

// Replaces, in place, every `A && B` whose A is a falsy literal by A: B never runs.
function leaveOutDeadCode(node) {
  for (const [key, value] of Object.entries(node)) {
    if (Array.isArray(value)) {
      for (const [index, child] of value.entries()) if (isNode(child)) value[index] = liveOf(child);
    } else if (isNode(value) && key !== 'loc') {
      node[key] = liveOf(value);
    }
  }
}

function liveOf(node) {
  if (node.type === 'LogicalExpression' && node.operator === '&&' && node.left.type === 'Literal' && !node.left.value) return node.left;
  leaveOutDeadCode(node);
  return node;
}

function isNode(value) {
  return typeof value === 'object' && value !== null && typeof value.type === 'string';
}
