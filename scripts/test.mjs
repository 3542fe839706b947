// The test command: makes sure the real servers the integration tests drive are installed,
// builds the bundles the CLI tests run, runs vitest with a JSON report and prints the
// closing line `N passed, N failed` from that report.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const run = (command, args, options = {}) => spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });

const setup = run('bash', [join(root, 'scripts/install-test-servers.sh')]);
if (setup.status !== 0) process.exit(setup.status ?? 1);

const built = run(process.execPath, [join(root, 'scripts/build.mjs')]);
if (built.status !== 0) process.exit(built.status ?? 1);

mkdirSync(join(root, '.build'), { recursive: true });
const reportFile = join(root, '.build/test-report.json');
const vitest = run(process.execPath, [
  join(root, 'node_modules/vitest/vitest.mjs'), 'run',
  '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`,
  ...process.argv.slice(2),
]);

if (!existsSync(reportFile)) {
  console.log('0 passed, 1 failed');
  process.exit(vitest.status || 1);
}
const report = JSON.parse(readFileSync(reportFile, 'utf8'));
// A file whose set-up failed reports its tests as skipped, not failed: count the file as
// one failure, and a run that failed outside any test (an unhandled error) as one too, so
// the closing line never reads "0 failed" for a failing run.
const brokenFiles = report.testResults.filter((file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed')).length;
let failed = report.numFailedTests + brokenFiles;
if (vitest.status !== 0 && failed === 0) failed = 1;
console.log(`${report.numPassedTests} passed, ${failed} failed`);
process.exit(vitest.status ?? 1);
