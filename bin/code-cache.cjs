// A V8 code cache for the files of one CommonJS build (`trustgate verify`'s, dist/cli-verify/):
// what V8 compiled while a command ran (the top level of each file and every function it
// called, lazily compiled ones included) is kept on disk, and the next process hands it back
// to V8 instead of parsing and compiling the same code again. Node 20 has no such cache for
// user code (module.enableCompileCache came with Node 22); this is the same idea, scoped to
// one build.
//
// Where: $XDG_CACHE_HOME/trustgate/code-cache (an absolute XDG_CACHE_HOME), else
// ~/.cache/trustgate/code-cache; TRUSTGATE_CODE_CACHE=off turns it off. One file per source
// file, named by the SHA-256 of the source, Node's version and the architecture, so a new
// build or another Node never meets an old entry.
//
// Who can change what runs: whoever can write an entry decides the code this process runs,
// exactly as whoever can write the user's own files (~/.bashrc, the installed package) does;
// so the cache is trusted like them and no further. The folder is created 0700 and used only
// when it is a directory owned by this user that neither group nor others may write; each
// entry is a regular file owned by this user, not group- or world-writable, written 0600 to
// a temporary name and renamed into place (a reader never sees half a file); the folder
// above it (`trustgate`) must be the user's alone too, so nobody can swap `code-cache` for a
// folder of theirs. An entry holds the key it was made for (the SHA-256 its name is made of:
// Node's version, the architecture and the source) and a SHA-256 over key and data, both
// checked before V8 sees the data. V8 itself checks only its version, flags and the source's
// LENGTH, so an entry made for other code of the same length (an older build's, renamed)
// would otherwise run that code; it is ignored instead, as is a damaged or truncated entry,
// the source compiled as usual and the entry written anew. An entry V8 rejects is ignored the
// same way.
// Bounded: a run that writes entries then removes those that no file of this build names
// (an older build's, another Node version's), so upgrades do not pile entries up; the
// folder holds at most one entry per file of the build. Only our own regular files with an
// entry's name (or a temporary name of a writer that is gone) are removed; anything else in
// the folder (a symbolic link, a folder, a file of another user or of another name) is left
// as it is, and nothing is followed or removed outside the folder.
// Anything that goes wrong with the cache (no home, a read-only disk, a foreign folder) only
// means compiling as without it.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const Module = require('node:module');
const { homedir } = require('node:os');
const { dirname, isAbsolute, join, sep } = require('node:path');
const vm = require('node:vm');

const MAGIC = Buffer.from('trustgate-code-cache-2\n');
const KEY_BYTES = 32;
const DIGEST_BYTES = 32;
// An entry's name (the hex of its key) and a writer's temporary name (its process id first).
const ENTRY_NAME = /^[0-9a-f]{64}\.bin$/;
const TEMP_NAME = /^\.([1-9][0-9]*)-[0-9a-z]*\.tmp$/;

// Loads every .cjs file under `buildDir` through the cache from now on in this process.
// Does nothing when turned off, where there are no user ids to check ownership with, and
// with Node's source maps on (only Node's own loader registers a file's source map).
function useCodeCache(buildDir, env) {
  if (env.TRUSTGATE_CODE_CACHE === 'off' || typeof process.getuid !== 'function' || process.sourceMapsEnabled) return;
  const checked = cacheFolder(env);
  if (checked === undefined) return;
  const folder = checked.folder;
  const prefix = buildDir.endsWith(sep) ? buildDir : buildDir + sep;
  const loadJs = Module._extensions['.js'];
  // Scripts compiled without an accepted entry: their entries are written when the process ends.
  const pending = [];
  // The build's files this process loaded, by path, with their entries' names.
  const loaded = new Map();
  Module._extensions['.cjs'] = function loadCjs(module, filename) {
    if (!filename.startsWith(prefix)) return loadJs(module, filename);
    const source = fs.readFileSync(filename, 'utf8');
    const key = entryKey(source);
    const entry = join(folder, `${key.toString('hex')}.bin`);
    loaded.set(filename, `${key.toString('hex')}.bin`);
    const cachedData = readEntry(entry, key);
    const script = compile(source, filename, cachedData);
    if (cachedData === undefined || script.cachedDataRejected === true) pending.push({ script, entry, key });
    const wrapper = script.runInThisContext({ displayErrors: true });
    wrapper.call(module.exports, module.exports, Module.createRequire(filename), module, filename, dirname(filename));
  };
  // Written at the end, so that the entries hold what the whole command compiled, and only
  // after an allowed verdict (exit 0): such a run went through the whole verification, while
  // an entry written after a usage error would hold little more than the top level, and an
  // accepted entry is never written again. Old entries are removed at the same time: a run
  // of a new build (or Node) writes, so it is the first to see the old entries as old.
  // The folders are looked up by path again at the end: if `trustgate` or `code-cache` is no
  // longer the very folder checked at the start (someone who can rename in the folder above
  // swapped in a link or another folder while the command ran), nothing is written or removed.
  process.once('exit', (code) => {
    if (code !== 0 || pending.length === 0 || !sameFolders(checked)) return;
    for (const { script, entry, key } of pending) writeEntry(folder, entry, entryBytes(key, script.createCachedData()));
    removeStaleEntries(folder, buildDir, loaded);
  });
}

// The key of a source file's entry: the SHA-256 of Node's version, the architecture and the
// source. It names the entry and is recorded in it.
function entryKey(source) {
  return createHash('sha256').update(`${process.version}\0${process.arch}\0`).update(source).digest();
}

// The entry of a source file in the cache folder.
function entryPath(folder, source) {
  return join(folder, `${entryKey(source).toString('hex')}.bin`);
}

// A CommonJS file's source as Node wraps it, compiled with `cachedData` when given. The
// wrapper is on a line of its own (lineOffset -1): positions in stack traces are the file's.
function compile(source, filename, cachedData) {
  return new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${source}\n})`, {
    filename,
    lineOffset: -1,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
}

// An entry's bytes: the format's magic line, the key it is for, the SHA-256 of key and V8
// data, the data.
function entryBytes(key, data) {
  return Buffer.concat([MAGIC, key, entryDigest(key, data), data]);
}

function entryDigest(key, data) {
  return createHash('sha256').update(key).update(data).digest();
}

// The cache folder, created 0700 when missing, with the identity (device and inode) of it
// and of `trustgate` above it as checked; undefined when it is not safe to use.
function cacheFolder(env) {
  try {
    const base = env.XDG_CACHE_HOME !== undefined && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
    const parent = join(base, 'trustgate');
    const folder = join(parent, 'code-cache');
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    // Both ours alone: whoever could write `trustgate` could put another `code-cache` there.
    const parentStats = fs.lstatSync(parent);
    const folderStats = fs.lstatSync(folder);
    if (!ownedAndPrivate(parentStats, true) || !ownedAndPrivate(folderStats, true)) return undefined;
    return { folder, parent, identity: [identityOf(parentStats), identityOf(folderStats)] };
  } catch {
    return undefined;
  }
}

function identityOf(stats) {
  return `${stats.dev}:${stats.ino}`;
}

// True while `trustgate` and `code-cache` are still the folders cacheFolder checked (neither
// replaced by a link or another folder since), and still private.
function sameFolders(checked) {
  try {
    const parentStats = fs.lstatSync(checked.parent);
    const folderStats = fs.lstatSync(checked.folder);
    return (
      ownedAndPrivate(parentStats, true) &&
      ownedAndPrivate(folderStats, true) &&
      identityOf(parentStats) === checked.identity[0] &&
      identityOf(folderStats) === checked.identity[1]
    );
  } catch {
    return false;
  }
}

// A directory or a regular file (as asked) owned by this user that neither group nor others
// can write to.
function ownedAndPrivate(stats, directory) {
  return (directory ? stats.isDirectory() : stats.isFile()) && stats.uid === process.getuid() && (stats.mode & 0o022) === 0;
}

// The V8 data of an entry made for `key`, or undefined when there is none usable.
function readEntry(entry, key) {
  let fd;
  try {
    fd = fs.openSync(entry, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    if (!ownedAndPrivate(fs.fstatSync(fd), false)) return undefined;
    const bytes = fs.readFileSync(fd);
    const header = MAGIC.length + KEY_BYTES + DIGEST_BYTES;
    if (bytes.length <= header || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    if (!bytes.subarray(MAGIC.length, MAGIC.length + KEY_BYTES).equals(key)) return undefined;
    const data = bytes.subarray(header);
    return entryDigest(key, data).equals(bytes.subarray(MAGIC.length + KEY_BYTES, header)) ? data : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// Writes an entry atomically: a new 0600 file under a random name, renamed over the old one.
function writeEntry(folder, entry, bytes) {
  const temp = join(folder, `.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
  try {
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.writeSync(fd, bytes);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, entry);
  } catch {
    try {
      fs.unlinkSync(temp);
    } catch {
      // Never created, or already gone.
    }
  }
}

// Removes from the cache folder the entries that no .cjs file of the build at `buildDir`
// names (with this Node), and temporary files of writers that are no longer running.
// Security: the folder is the user's alone (checked before use), so nobody else can swap a
// name between the check and the removal; each name is checked with lstat (a symbolic link
// is never followed) and removed only when it is a regular file owned by this user; unlink
// removes a name in the folder, never what a link points to. Everything else is left alone.
// `loaded` maps the files this process loaded to their entries' names; only when the folder
// holds other entries are the build's other files read, to tell theirs from stale ones (so a
// first run, with nothing else in the folder, reads no more of the build than it ran).
function removeStaleEntries(folder, buildDir, loaded) {
  try {
    const names = fs.readdirSync(folder);
    for (const name of names) if (abandonedTemp(name)) removeOwnFile(join(folder, name));
    const known = new Set(loaded.values());
    const others = names.filter((name) => ENTRY_NAME.test(name) && !known.has(name));
    if (others.length === 0) return;
    const current = new Set(buildFiles(buildDir).map((file) => loaded.get(file) ?? `${entryKey(fs.readFileSync(file, 'utf8')).toString('hex')}.bin`));
    for (const name of others) if (!current.has(name)) removeOwnFile(join(folder, name));
  } catch {
    // The build or the folder could not be read: nothing is removed.
  }
}

// Every .cjs file under `dir` (the files the loader caches), without following links.
function buildFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((dirent) => {
    const path = join(dir, dirent.name);
    if (dirent.isDirectory()) return buildFiles(path);
    return dirent.isFile() && dirent.name.endsWith('.cjs') ? [path] : [];
  });
}

// True for a writer's temporary file whose process is gone (a writer killed between
// creating and renaming it); a running writer's, or one whose process id is unknown to us,
// stays.
function abandonedTemp(name) {
  const match = TEMP_NAME.exec(name);
  if (match === null || Number(match[1]) === process.pid) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return error.code === 'ESRCH';
  }
}

// Removes `path` when it is a regular file owned by this user (not a link, not a folder).
function removeOwnFile(path) {
  try {
    const stats = fs.lstatSync(path);
    if (stats.isFile() && stats.uid === process.getuid()) fs.unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove.
  }
}

// entryKey, entryPath, compile and entryBytes are exported for the tests, which plant entries.
module.exports = { useCodeCache, entryKey, entryPath, compile, entryBytes };
