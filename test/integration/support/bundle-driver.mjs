// Runs one built function bundle the way its platform does, in a process of its own. Reads
// {platform, calls, out, ...} as JSON on stdin and writes {results} or {loadError} as JSON to
// the file named by `out` (stdout is the function's own log).
//   lambda:    `bundle`, the ESM entry, is imported by Node's own loader (as the Lambda
//              Node.js runtime does) and `handler(event, context)` is awaited for each event;
//              the process environment is the function's configuration.
//   openwhisk: `message` is the /init message of a plain-code action ({code, binary, main,
//              env}, the code as `trustgate deploy openwhisk` sends it): the runtime's init
//              evaluates it (see openwhisk-runtime.cjs), then `main(params)` is awaited for
//              each params object.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const input = JSON.parse(readFileSync(0, 'utf8'));
const context = { functionName: 'trustgate-test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30_000 };
const { initializeAction } = createRequire(import.meta.url)('./openwhisk-runtime.cjs');

async function load() {
  if (input.platform === 'lambda') {
    const module = await import(pathToFileURL(input.bundle).href);
    return (event) => module.handler(event, context);
  }
  return initializeAction(input.message);
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
