import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStore } from '../../../shared/cache/file-store.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';

let root = '';

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'trustgate-file-store-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

// The file an entry lives in: SHA-256 over the key's UTF-16 code units.
function entryFile(directory: string, key: string): string {
  return join(directory, `${createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex')}.json`);
}

// Write a valid entry, then overwrite its file with `text`.
async function corrupt(key: string, text: string | Uint8Array): Promise<ReturnType<typeof createFileStore>> {
  const directory = join(root, 'kv');
  const store = createFileStore(directory);
  await store.put(key, { value: Uint8Array.from([1]), version: 1 });
  await writeFile(entryFile(directory, key), text);
  return store;
}

describe('createFileStore', () => {
  describe('when the first entry is written', () => {
    it('creates the directory with mode 0700 and the entry with mode 0600', async () => {
      const directory = join(root, 'nested', 'kv');
      await createFileStore(directory).put('k', { value: Uint8Array.from([1]), version: 1 });
      expect((await stat(directory)).mode & 0o777).toBe(0o700);
      expect((await stat(entryFile(directory, 'k'))).mode & 0o777).toBe(0o600);
    });

    it('leaves exactly one entry file and no temp file behind', async () => {
      const directory = join(root, 'kv');
      const store = createFileStore(directory);
      await store.put('k', { value: Uint8Array.from([1]), version: 1 });
      await store.put('k', { value: Uint8Array.from([2]), version: 2 });
      expect(await readdir(directory)).toStrictEqual([entryFile(directory, 'k').slice(directory.length + 1)]);
    });
  });

  describe('when a key looks like a path outside the directory', () => {
    it('writes only inside the directory', async () => {
      const directory = join(root, 'kv');
      const store = createFileStore(directory);
      await store.put('../outside', { value: Uint8Array.from([1]), version: 1 });
      await store.put('/tmp/absolute', { value: Uint8Array.from([1]), version: 1 });
      expect((await readdir(root)).sort()).toStrictEqual(['kv']);
      expect(await readdir(directory)).toHaveLength(2);
    });
  });

  describe('when the store directory does not exist yet', () => {
    it('reads as absent without creating it', async () => {
      const directory = join(root, 'absent');
      expect(await createFileStore(directory).get('k')).toBeUndefined();
      expect(await readdir(root)).toStrictEqual([]);
    });
  });

  describe('when an entry file is corrupt', () => {
    const cases: ReadonlyArray<[string, string | Uint8Array]> = [
      ['empty', ''],
      ['not JSON', '{"key":"k",'],
      ['not an object', '[1,2]'],
      ['written for another key', JSON.stringify({ key: 'other', version: 1, value: 'AQ==' })],
      ['missing the version', JSON.stringify({ key: 'k', value: 'AQ==' })],
      ['a string version', JSON.stringify({ key: 'k', version: '1', value: 'AQ==' })],
      ['a string expiry', JSON.stringify({ key: 'k', version: 1, expiresAt: 'never', value: 'AQ==' })],
      ['a non-string value', JSON.stringify({ key: 'k', version: 1, value: [1] })],
      ['bad base64', JSON.stringify({ key: 'k', version: 1, value: 'A*Q==' })],
      ['a prototype-polluting key', '{"key":"k","version":1,"value":"AQ==","__proto__":{"x":1}}'],
      ['invalid UTF-8', Uint8Array.from([0xff, 0xfe, 0x7b])],
    ];
    for (const [label, text] of cases) {
      it(`reads as absent when ${label}`, async () => {
        const store = await corrupt('k', text);
        expect(await store.get('k')).toBeUndefined();
      });
    }

    it('is replaced by an onlyIfNewer put of any version', async () => {
      const store = await corrupt('k', 'garbage');
      expect(await store.put('k', { value: Uint8Array.from([5]), version: 1 }, { onlyIfNewer: true })).toBe(true);
      expect((await store.get('k'))?.version).toBe(1);
    });
  });

  describe('when the directory cannot be created', () => {
    it('rejects with STATE_STORE_FAILED', async () => {
      const blocker = join(root, 'file');
      await writeFile(blocker, 'not a directory');
      const store = createFileStore(join(blocker, 'kv'));
      const failure = store.put('k', { value: Uint8Array.from([1]), version: 1 });
      await expect(failure).rejects.toBeInstanceOf(TrustgateError);
      await expect(failure).rejects.toMatchObject({ code: ErrorCode.STATE_STORE_FAILED });
    });
  });
});
