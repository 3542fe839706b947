// The home of the CLI processes the tests start. A CLI started without HOME would take the
// user's home from the password database, and `trustgate verify` keeps its code cache under
// $XDG_CACHE_HOME (else ~/.cache): a test run must not read or write the user's files, so
// every CLI the test support starts gets HOME and XDG_CACHE_HOME inside a folder of this test
// process (a test that sets either keeps its own). The folder is created on first use under
// the run's folder that the suite's global set-up makes (TRUSTGATE_TEST_HOMES, removed at
// the end of the run), else under the system's temporary folder, removed when the process
// exits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CliHome {
  readonly HOME: string;
  readonly XDG_CACHE_HOME: string;
}

let home: string | undefined;

// HOME and XDG_CACHE_HOME for a CLI process started by a test.
export function cliHomeEnvironment(): CliHome {
  home ??= createHome();
  return { HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
}

function createHome(): string {
  const runFolder = process.env['TRUSTGATE_TEST_HOMES'];
  if (runFolder !== undefined) return mkdtempSync(join(runFolder, 'cli-home-'));
  const created = mkdtempSync(join(tmpdir(), 'trustgate-cli-home-'));
  process.once('exit', () => rmSync(created, { recursive: true, force: true }));
  return created;
}
