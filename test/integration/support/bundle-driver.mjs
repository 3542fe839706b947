// Runs one built function bundle the way its platform does, in a process of its own whose
// environment is the function's configuration. Reads {platform, bundle, calls} as JSON on
// stdin and writes {results} or {loadError} as JSON to the file named by `out` (stdout is
// the function's own log).
//   lambda:    the ESM bundle is imported by Node's own loader (as the Lambda Node.js runtime
//              does) and `handler(event, context)` is awaited for each event.
//   openwhisk: the plain-code action is read and evaluated as CommonJS with a fresh module,
//              exports and a require that resolves Node built-ins only (an action ships as
//              one file), then `main(params)` is awaited for each params object.
import { readFileSync, writeFileSync } from 'node:fs';
import { builtinModules, Module } from 'node:module';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

const input = JSON.parse(readFileSync(0, 'utf8'));
const context = { functionName: 'trustgate-test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30_000 };

async function load() {
  if (input.platform === 'lambda') {
    const module = await import(pathToFileURL(input.bundle).href);
    return (event) => module.handler(event, context);
  }
  const code = readFileSync(input.bundle, 'utf8');
  const module = { exports: {} };
  const requireBuiltin = (specifier) => {
    const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
    if (!builtinModules.includes(name)) {
      const error = new Error(`Cannot find module '${specifier}' (an OpenWhisk action has no node_modules)`);
      error.code = 'MODULE_NOT_FOUND';
      throw error;
    }
    return Module.createRequire(input.bundle)(specifier);
  };
  const wrapper = vm.runInThisContext(Module.wrap(code), { filename: input.bundle });
  wrapper.call(module.exports, module.exports, requireBuiltin, module, input.bundle, input.bundle.replace(/\/[^/]*$/, ''));
  return (params) => module.exports.main(params);
}

let run;
try {
  run = await load();
} catch (error) {
  writeFileSync(input.out, JSON.stringify({ loadError: String(error?.message ?? error) }));
  process.exit(0);
}
const results = [];
for (const call of input.calls) {
  try {
    results.push({ value: await run(call) });
  } catch (error) {
    results.push({ thrown: String(error?.message ?? error) });
  }
}
writeFileSync(input.out, JSON.stringify({ results }));
process.exit(0);
