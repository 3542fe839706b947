// The suite's global set-up: one temporary folder for the whole run, removed at its end, as
// the temporary folder (TMPDIR) of every test process and of the servers and CLIs they start
// (a test's scratch state, a server's files, a certificate authority), so a run leaves
// nothing behind in the machine's /tmp, whether a test removes its scratch or not; in it a
// folder for the homes of the CLI processes the tests start
// (test/integration/support/cli-home.ts); and a check that
// the run left the user's own code cache alone: an entry named by this build's verify files
// (bin/code-cache.cjs) that appeared or changed in the user's cache folder during the run
// was written by a CLI a test started with the user's home, and fails the run.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const codeCache = createRequire(import.meta.url)('../bin/code-cache.cjs') as { entryKey(source: string): Buffer };

// The user's code cache folder, found as bin/code-cache.cjs finds it.
function userCodeCache(): string {
  const base = process.env['XDG_CACHE_HOME'];
  return join(base !== undefined && isAbsolute(base) ? base : join(homedir(), '.cache'), 'trustgate', 'code-cache');
}

// Each entry file in `folder` with what tells a rewrite apart (inode, size, modification time).
function listing(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  try {
    for (const name of readdirSync(folder)) {
      const stats = lstatSync(join(folder, name));
      files.set(name, `${stats.ino}:${stats.size}:${stats.mtimeMs}`);
    }
  } catch {
    // No such folder: nothing in it.
  }
  return files;
}

// The entry names of the verify build's files (every .cjs under dist/cli-verify), with this Node.
function buildEntryNames(): Set<string> {
  const dir = join(ROOT, 'dist/cli-verify');
  try {
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.cjs'));
    return new Set(files.map((name) => `${codeCache.entryKey(readFileSync(join(dir, name), 'utf8')).toString('hex')}.bin`));
  } catch {
    return new Set();
  }
}

export default function setup(): () => void {
  const run = mkdtempSync(join(tmpdir(), 'trustgate-test-run-'));
  // Read by os.tmpdir() in the test processes (started after this) and everything they start.
  process.env['TMPDIR'] = run;
  const homes = mkdtempSync(join(run, 'homes-'));
  process.env['TRUSTGATE_TEST_HOMES'] = homes;
  const folder = userCodeCache();
  const before = listing(folder);
  return () => {
    rmSync(run, { recursive: true, force: true });
    const build = buildEntryNames();
    const written = [...listing(folder)].filter(([name, stamp]) => build.has(name) && before.get(name) !== stamp).map(([name]) => name);
    if (written.length > 0) {
      // Vitest reports an error thrown here but exits 0 unless told otherwise.
      process.exitCode = 1;
      throw new Error(`the test run wrote ${written.length} entries of this build into the user's code cache (${folder}): a test started \`trustgate verify\` with the user's home`);
    }
  };
}
