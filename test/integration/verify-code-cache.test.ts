// `trustgate verify` keeps what V8 compiled of its own build in a per-user cache folder
// (bin/code-cache.cjs) and hands it back to V8 on the next run. Whoever can write an entry
// decides the code that runs, so the cache must be as private as the user's own files: these
// runs show that an entry is used only from a folder and file only the user can write, that a
// damaged or foreign entry is ignored (the verdict is the same), and what an entry does when
// it is used (an entry planted in a private folder changes the code that runs).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { cliHomeEnvironment } from './support/cli-home.js';
import { uniqueGun } from './support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgate, runTrustgateVerify, type TrustgateRun } from './support/trustgate-cli.js';

interface CodeCacheModule {
  entryKey(source: string): Buffer;
  entryPath(folder: string, source: string): string;
  entryBytes(key: Buffer, data: Buffer): Buffer;
}

const codeCache = createRequire(import.meta.url)('../../bin/code-cache.cjs') as CodeCacheModule;
const VERIFY_ENTRY = join(PROJECT_ROOT, 'dist/cli-verify/index.cjs');
const MAGIC = 'trustgate-code-cache-2\n'.length;
const HEADER = MAGIC + 32 + 32;

let env: TrustEnvironment;
let gun: string;
let digestHex: string;

beforeAll(async () => {
  ensureBuilt([VERIFY_ENTRY]);
  env = await startTrustEnvironment();
  gun = uniqueGun('code-cache');
  digestHex = (await env.scenarios.signedInTargets(gun, 'v1')).digestHex;
});

afterAll(async () => {
  await env?.stop();
});

// A cache home (XDG_CACHE_HOME) of its own, and the folder the cache lives in under it.
async function cacheHome(): Promise<{ readonly home: string; readonly folder: string }> {
  const home = await env.makeDir('cache-home');
  return { home, folder: join(home, 'trustgate', 'code-cache') };
}

// `trustgate verify` of the signed tag with a fresh state directory and the given cache home.
async function verifyWith(home: string): Promise<TrustgateRun> {
  return runTrustgateVerify({ image: `${gun}:v1`, trustServer: env.server.url, caFile: env.caFile, stateDir: await env.makeDir('state'), env: { XDG_CACHE_HOME: home } });
}

function expectAllowed(run: TrustgateRun): void {
  expect(run.json, run.stderr).toMatchObject({ allowed: true, digest: `sha256:${digestHex}`, codes: [] });
  expect(run.exitCode).toBe(0);
}

// The entry names of the verify build's files (every .cjs under dist/cli-verify) with this Node.
function buildEntryNames(): Set<string> {
  const dir = join(PROJECT_ROOT, 'dist/cli-verify');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.cjs'));
  return new Set(files.map((name) => `${codeCache.entryKey(readFileSync(join(dir, name), 'utf8')).toString('hex')}.bin`));
}

// An intact entry, as the cache writes it, for a source that is not this build's (an older
// build's, or this build's under another Node), with the file name its key gives.
function plantOldEntry(folder: string, oldSource: string): string {
  const key = codeCache.entryKey(oldSource);
  const name = `${key.toString('hex')}.bin`;
  writeFileSync(join(folder, name), codeCache.entryBytes(key, Buffer.from('v8 data of an older build')), { mode: 0o600 });
  return name;
}

const entries = (folder: string): string[] => readdirSync(folder).filter((name) => name.endsWith('.bin')).sort();
const mode = (path: string): number => statSync(path).mode & 0o777;

// True when every entry holds its name's key and the SHA-256 of key and data (as the cache
// writes them).
function entriesIntact(folder: string): boolean {
  return entries(folder).every((name) => {
    const bytes = readFileSync(join(folder, name));
    const key = Buffer.from(name.slice(0, -'.bin'.length), 'hex');
    return bytes.length > HEADER && codeCache.entryBytes(key, bytes.subarray(HEADER)).equals(bytes);
  });
}

// Plants, under the name of the verify build's entry file, V8 data compiled from that file
// with its usage line spelled differently (same length, so V8's own check of the source
// passes): a process that uses the entry prints the other spelling. `madeFor` is the source
// the entry says it was made for: the real one (what someone who can write the folder
// writes), or the altered one (an entry an older build of that other code left, renamed).
function plantAlteredUsage(folder: string, madeFor: 'source' | 'altered' = 'source'): void {
  const source = readFileSync(VERIFY_ENTRY, 'utf8');
  const altered = source.replace('usage: trustgate <command>', 'USAGE: TRUSTGATE <command>');
  expect(altered).not.toBe(source);
  const sourceFile = join(folder, 'altered-source.txt');
  writeFileSync(sourceFile, altered);
  // Compiled by a Node started like the CLI (no V8 flags), whose code cache V8 would accept.
  const made = spawnSync(
    process.execPath,
    [
      '-e',
      `const cache = require(${JSON.stringify(join(PROJECT_ROOT, 'bin/code-cache.cjs'))});
const fs = require('node:fs');
const script = cache.compile(fs.readFileSync(process.argv[1], 'utf8'), process.argv[2]);
const key = cache.entryKey(fs.readFileSync(process.argv[4], 'utf8'));
fs.writeFileSync(process.argv[3], cache.entryBytes(key, script.createCachedData()), { mode: 0o600 });`,
      sourceFile,
      VERIFY_ENTRY,
      codeCache.entryPath(folder, source),
      madeFor === 'source' ? VERIFY_ENTRY : sourceFile,
    ],
    { env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8' },
  );
  expect(made.status, made.stderr).toBe(0);
}

// `trustgate verify` without an image: a usage error, printed by the build's entry file.
async function usageRun(home: string): Promise<string> {
  const run = await runTrustgate(['verify'], { stateDir: await env.makeDir('state'), extra: { XDG_CACHE_HOME: home } });
  expect(run.exitCode).toBe(2);
  return run.stderr;
}

describe('trustgate verify with its code cache', () => {
  it('writes the cache after an allowed verdict, in a folder and files only the user can read', async () => {
    const { home, folder } = await cacheHome();

    expectAllowed(await verifyWith(home));

    expect(mode(folder)).toBe(0o700);
    expect(entries(folder).length).toBeGreaterThan(0);
    for (const name of entries(folder)) expect(mode(join(folder, name))).toBe(0o600);
    expect(entriesIntact(folder)).toBe(true);
  });

  it('verifies the same from the cache on the next run and leaves the entries as they were', async () => {
    const { home, folder } = await cacheHome();
    expectAllowed(await verifyWith(home));
    const written = new Map(entries(folder).map((name) => [name, readFileSync(join(folder, name))]));

    expectAllowed(await verifyWith(home));

    expect(entries(folder)).toEqual([...written.keys()]);
    for (const [name, bytes] of written) expect(readFileSync(join(folder, name)).equals(bytes)).toBe(true);
  });

  it('ignores damaged entries, verifies as without them and writes them anew', async () => {
    const { home, folder } = await cacheHome();
    expectAllowed(await verifyWith(home));
    entries(folder).forEach((name, index) => {
      const file = join(folder, name);
      const bytes = readFileSync(file);
      // In turn: a flipped byte in V8's data, a truncated entry, a flipped byte in the
      // recorded digest, and bytes that are no entry at all.
      const damaged = [
        () => Buffer.concat([bytes.subarray(0, bytes.length - 9), Buffer.from([bytes[bytes.length - 9]! ^ 0xff]), bytes.subarray(bytes.length - 8)]),
        () => bytes.subarray(0, Math.floor(bytes.length / 2)),
        () => Buffer.concat([bytes.subarray(0, HEADER - 1), Buffer.from([bytes[HEADER - 1]! ^ 0xff]), bytes.subarray(HEADER)]),
        () => Buffer.from('not a code cache entry'),
      ][index % 4]!();
      writeFileSync(file, damaged);
    });
    expect(entriesIntact(folder)).toBe(false);

    expectAllowed(await verifyWith(home));

    expect(entriesIntact(folder)).toBe(true);
  });

  it('ignores foreign entries (V8 data of another file under each name) and verifies as without them', async () => {
    const { home, folder } = await cacheHome();
    expectAllowed(await verifyWith(home));
    const names = entries(folder);
    const largest = names.reduce((a, b) => (statSync(join(folder, a)).size >= statSync(join(folder, b)).size ? a : b));
    const foreign = readFileSync(join(folder, largest));
    // Each entry replaced by an intact entry of another file: V8 refuses it (the source differs).
    for (const name of names) if (name !== largest) writeFileSync(join(folder, name), foreign);
    writeFileSync(join(folder, largest), readFileSync(join(folder, names.find((name) => name !== largest)!)));

    expectAllowed(await verifyWith(home));

    expect(entriesIntact(folder)).toBe(true);
  });

  describe('old entries', () => {
    it('are removed after an allowed run: the folder keeps only entries of this build\'s files', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const old = [plantOldEntry(folder, 'an older build'), plantOldEntry(folder, 'another older build')];

      expectAllowed(await verifyWith(home));

      for (const name of old) expect(existsSync(join(folder, name))).toBe(false);
      const current = buildEntryNames();
      expect(entries(folder).length).toBeGreaterThan(0);
      expect(entries(folder).filter((name) => !current.has(name))).toEqual([]);
      expect(entriesIntact(folder)).toBe(true);
    });

    it('keep the entries of this build\'s files the run did not load (another command path\'s)', async () => {
      const first = await cacheHome();
      expectAllowed(await verifyWith(first.home));
      const unloaded = [...buildEntryNames()].filter((name) => !entries(first.folder).includes(name));
      expect(unloaded.length).toBeGreaterThan(0);
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const kept = unloaded[0]!;
      const keptBytes = codeCache.entryBytes(Buffer.from(kept.slice(0, -'.bin'.length), 'hex'), Buffer.from('v8 data of a file this run does not load'));
      writeFileSync(join(folder, kept), keptBytes, { mode: 0o600 });
      const old = plantOldEntry(folder, 'an older build');

      expectAllowed(await verifyWith(home));

      expect(existsSync(join(folder, old))).toBe(false);
      expect(readFileSync(join(folder, kept)).equals(keptBytes)).toBe(true);
    });

    it('leave the cache working: the next run verifies from it and leaves the entries as they were', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantOldEntry(folder, 'an older build');
      expectAllowed(await verifyWith(home));
      const written = new Map(entries(folder).map((name) => [name, readFileSync(join(folder, name))]));

      expectAllowed(await verifyWith(home));

      expect(entries(folder)).toEqual([...written.keys()]);
      for (const [name, bytes] of written) expect(readFileSync(join(folder, name)).equals(bytes)).toBe(true);
    });

    it('are not removed after a refused run (nothing is written then)', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const old = plantOldEntry(folder, 'an older build');

      await usageRun(home);

      expect(entries(folder)).toEqual([old]);
    });

    it('removes a temporary file whose writer is gone, and keeps a running writer\'s', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      // No process has this id (above Linux's largest pid); this test's process is running.
      const abandoned = join(folder, '.2147483646-abc123.tmp');
      const running = join(folder, `.${process.pid}-def456.tmp`);
      writeFileSync(abandoned, 'half an entry', { mode: 0o600 });
      writeFileSync(running, 'an entry being written', { mode: 0o600 });

      expectAllowed(await verifyWith(home));

      expect(existsSync(abandoned)).toBe(false);
      expect(readFileSync(running, 'utf8')).toBe('an entry being written');
    });

    it('leaves what is not its own entry, and follows no link out of the folder', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const outside = await env.makeDir('outside');
      const target = join(outside, 'precious.bin');
      const currentTarget = join(outside, 'also-precious.bin');
      writeFileSync(target, 'not the cache\'s');
      writeFileSync(currentTarget, 'not the cache\'s either');
      const staleName = (label: string): string => `${codeCache.entryKey(label).toString('hex')}.bin`;
      // A link under an old entry's name, a link under the name of this build's entry file
      // (the cache writes that entry), a folder under an old entry's name, a file of another
      // name, and (as root, who can make one) an old entry owned by another user.
      const link = join(folder, staleName('link'));
      symlinkSync(target, link);
      const currentLink = codeCache.entryPath(folder, readFileSync(VERIFY_ENTRY, 'utf8'));
      symlinkSync(currentTarget, currentLink);
      const subfolder = join(folder, staleName('folder'));
      mkdirSync(subfolder, { mode: 0o700 });
      writeFileSync(join(subfolder, 'inside'), 'kept');
      const notes = join(folder, 'notes.txt');
      writeFileSync(notes, 'kept', { mode: 0o600 });
      const foreign = plantOldEntry(folder, 'another user\'s');
      const asRoot = process.getuid?.() === 0;
      if (asRoot) chownSync(join(folder, foreign), 65534, 65534);

      expectAllowed(await verifyWith(home));

      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(target);
      expect(readFileSync(target, 'utf8')).toBe('not the cache\'s');
      // The link under the current entry's name was replaced by an entry, its target untouched.
      expect(lstatSync(currentLink).isFile()).toBe(true);
      expect(readFileSync(currentTarget, 'utf8')).toBe('not the cache\'s either');
      expect(readFileSync(join(subfolder, 'inside'), 'utf8')).toBe('kept');
      expect(readFileSync(notes, 'utf8')).toBe('kept');
      expect(existsSync(join(folder, foreign))).toBe(asRoot);
    });
    it('writes and removes nothing when the cache folder was swapped for a link while the command ran', async () => {
      const { home, folder } = await cacheHome();
      // A build of one file, loaded through the cache by a process that then finds, at its
      // end, `code-cache` replaced by a link to another folder of the user's (what someone
      // who can rename in the folder above could do).
      const build = await env.makeDir('small-build');
      writeFileSync(join(build, 'one.cjs'), 'module.exports = 1;\n');
      const victim = await env.makeDir('victim');
      const planted = plantOldEntry(victim, 'a file of another tool');
      const moved = join(await env.makeDir('moved'), 'code-cache');
      const run = spawnSync(
        process.execPath,
        [
          '-e',
          `const cache = require(${JSON.stringify(join(PROJECT_ROOT, 'bin/code-cache.cjs'))});
const fs = require('node:fs');
const [build, folder, moved, victim] = process.argv.slice(1);
cache.useCodeCache(build, { XDG_CACHE_HOME: ${JSON.stringify(home)} });
require(build + '/one.cjs');
fs.renameSync(folder, moved);
fs.symlinkSync(victim, folder);
process.exit(0);`,
          build,
          folder,
          moved,
          victim,
        ],
        { env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      expect(lstatSync(folder).isSymbolicLink()).toBe(true);
      expect(readdirSync(victim)).toEqual([planted]);
      expect(readdirSync(moved)).toEqual([]);
    });
  });

  describe('an entry planted by someone who can write the cache', () => {
    it('decides the code that runs when the folder is the user\'s alone (why the folder must be private)', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantAlteredUsage(folder);

      expect(await usageRun(home)).toContain('USAGE: TRUSTGATE <command>');
    });

    it('is not used from a folder others may write to', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantAlteredUsage(folder);
      chmodSync(folder, 0o777);

      const stderr = await usageRun(home);

      expect(stderr).toContain('usage: trustgate <command>');
      expect(stderr).not.toContain('USAGE: TRUSTGATE');
    });

    it('is not used when the folder above the cache (trustgate) is writable by others, who could swap the cache folder', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantAlteredUsage(folder);
      chmodSync(join(home, 'trustgate'), 0o777);

      const stderr = await usageRun(home);

      expect(stderr).toContain('usage: trustgate <command>');
      expect(stderr).not.toContain('USAGE: TRUSTGATE');
    });

    it('is not used under another source\'s name: an entry made for other code of the same length (an older build\'s, renamed)', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantAlteredUsage(folder, 'altered');

      const stderr = await usageRun(home);

      expect(stderr).toContain('usage: trustgate <command>');
      expect(stderr).not.toContain('USAGE: TRUSTGATE');
    });

    it('is not used when the entry itself is writable by others', async () => {
      const { home, folder } = await cacheHome();
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      plantAlteredUsage(folder);
      for (const name of entries(folder)) chmodSync(join(folder, name), 0o666);

      const stderr = await usageRun(home);

      expect(stderr).toContain('usage: trustgate <command>');
      expect(stderr).not.toContain('USAGE: TRUSTGATE');
    });
  });

  it('is kept, for a CLI the test support starts without a cache home of the test\'s, in a home of the test process, not the user\'s', async () => {
    const { HOME, XDG_CACHE_HOME } = cliHomeEnvironment();
    expect(HOME).not.toBe(homedir());
    const folder = join(XDG_CACHE_HOME, 'trustgate', 'code-cache');
    const current = buildEntryNames();

    expectAllowed(await runTrustgateVerify({ image: `${gun}:v1`, trustServer: env.server.url, caFile: env.caFile, stateDir: await env.makeDir('state') }));

    expect(entries(folder).filter((name) => current.has(name)).length).toBeGreaterThan(0);
  });

  it('is not read or written with TRUSTGATE_CODE_CACHE=off', async () => {
    const { home, folder } = await cacheHome();
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    plantAlteredUsage(folder);
    const planted = entries(folder);

    const run = await runTrustgateVerify({
      image: `${gun}:v1`,
      trustServer: env.server.url,
      caFile: env.caFile,
      stateDir: await env.makeDir('state'),
      env: { XDG_CACHE_HOME: home, TRUSTGATE_CODE_CACHE: 'off' },
    });
    const usage = await runTrustgate(['verify'], { stateDir: await env.makeDir('state'), extra: { XDG_CACHE_HOME: home, TRUSTGATE_CODE_CACHE: 'off' } });

    expectAllowed(run);
    expect(entries(folder)).toEqual(planted);
    expect(usage.stderr).toContain('usage: trustgate <command>');
  });
});
