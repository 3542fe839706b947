// Process entry of the CLI bundle (dist/cli.mjs).
import { systemClock } from '../infra/clock/system-clock.js';
import { runCli } from './main.js';

const exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  clock: systemClock,
});
process.exitCode = exitCode;
