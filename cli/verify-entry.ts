// Process entry of the verify command's own bundle (dist/cli-verify/index.cjs), which
// bin/trustgate.cjs runs for `trustgate verify`: the same runCli as dist/cli.mjs, built as
// CommonJS with only the verify command (scripts/build.mjs). No top-level await: CommonJS has
// none.
import { systemClock } from '../infra/clock/system-clock.js';
import { runCli } from './main.js';

void runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  clock: systemClock,
}).then((exitCode) => {
  process.exitCode = exitCode;
  // The verdict is out and the store closed: nothing is left to do. Ending here spares the
  // wait for the trust server's kept-alive connection and Node's teardown of the heap. Only
  // when both streams have written everything (on Linux, writes to files and pipes are
  // synchronous; elsewhere a pipe may still hold output, and then the process ends as usual).
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(exitCode);
});
