import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../shared/cache/sqlite-store.js';
import { ErrorCode } from '../../../shared/errors.js';
import { fixedClock } from '../../support/clocks.js';

const clock = fixedClock(new Date('2030-01-01T00:00:00Z'));

const WRITER = fileURLToPath(new URL('./support/sqlite-race-writer.ts', import.meta.url));
let root = '';

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'trustgate-sqlite-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

interface RaceWriter {
  readonly ready: Promise<void>;
  go(): void;
  // The versions this process won.
  readonly result: Promise<number[]>;
}

// Starts the race writer in its own Node process (through tsx); it writes once go() is called.
function startRaceWriter(file: string, key: string, rounds: number): RaceWriter {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, file, key, String(rounds)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.startsWith('ready\n')) signalReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const result = new Promise<number[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length)) as number[]) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
  return { ready, go: () => child.stdin.write('go\n'), result };
}

describe('openSqliteStore', () => {
  describe('when the state directory does not exist yet', () => {
    it('creates the directory 0700 and the database 0600 in WAL mode', async () => {
      const file = join(root, 'state', 'trustgate.db');
      const store = openSqliteStore(file, { clock });
      await store.put('k', { value: Uint8Array.from([1]), version: 1 });
      store.close();
      expect((await stat(join(root, 'state'))).mode & 0o777).toBe(0o700);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const db = new Database(file);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
    });
  });

  describe('when the database is reopened', () => {
    it('reads what an earlier connection wrote', async () => {
      const file = join(root, 'trustgate.db');
      const first = openSqliteStore(file, { clock });
      await first.put('k', { value: Uint8Array.from([7]), version: 3 });
      first.close();
      const second = openSqliteStore(file, { clock });
      expect((await second.get('k'))?.version).toBe(3);
      second.close();
    });
  });

  describe('when two processes race onlyIfNewer puts on one key', () => {
    it('never lets both win the same version and loses no win', async () => {
      const file = join(root, 'trustgate.db');
      openSqliteStore(file, { clock }).close();
      const writers = [startRaceWriter(file, 'race', 2_000), startRaceWriter(file, 'race', 2_000)];
      await Promise.all(writers.map((writer) => writer.ready));
      for (const writer of writers) writer.go();
      const [a = [], b = []] = await Promise.all(writers.map((writer) => writer.result));
      // Both processes won some versions: the writes really interleaved.
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      // Every version was won exactly once, and the stored version counts every win.
      const all = [...a, ...b].sort((x, y) => x - y);
      expect(all).toStrictEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      const store = openSqliteStore(file, { clock });
      expect((await store.get('race'))?.version).toBe(all.length);
      store.close();
    }, 30_000);
  });

  describe('when the path cannot hold a database', () => {
    it('throws STATE_STORE_FAILED', async () => {
      const blocker = join(root, 'file');
      await writeFile(blocker, 'not a directory');
      expect(() => openSqliteStore(join(blocker, 'trustgate.db'), { clock })).toThrow(expect.objectContaining({ code: ErrorCode.STATE_STORE_FAILED }));
    });
  });
});
