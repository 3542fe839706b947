import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { readPolicyFiles } from '../../../shared/policy/policy-files.js';
import { rejectionCodeOf } from '../../support/trustgate-errors.js';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-policies-'));
  await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
  await writeFile(join(dir, 'a.yml'), 'kind: A\n');
  await writeFile(join(dir, 'c.json'), '{"kind":"C"}');
  await writeFile(join(dir, 'notes.txt'), 'ignored');
  await mkdir(join(dir, 'nested.yaml'));
  await writeFile(join(dir, 'nested.yaml', 'deep.yaml'), 'kind: Deep\n');
  // A mounted ConfigMap exposes its keys as symbolic links into a hidden folder.
  await mkdir(join(dir, '..data'));
  await writeFile(join(dir, '..data', 'd.yaml'), 'kind: D\n');
  await symlink(join(dir, '..data', 'd.yaml'), join(dir, 'd.yaml'));
  await writeFile(join(dir, 'latin1.bin'), Buffer.from([0xff, 0xfe]));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readPolicyFiles', () => {
  describe('when given a folder', () => {
    it('reads its yaml, yml and json files sorted by name, not recursively, following links', async () => {
      expect(await readPolicyFiles(dir)).toEqual([
        { source: 'a.yml', text: 'kind: A\n' },
        { source: 'b.yaml', text: 'kind: B\n' },
        { source: 'c.json', text: '{"kind":"C"}' },
        { source: 'd.yaml', text: 'kind: D\n' },
      ]);
    });
  });

  describe('when given a file', () => {
    it('reads that file whatever its extension', async () => {
      expect(await readPolicyFiles(join(dir, 'notes.txt'))).toEqual([{ source: 'notes.txt', text: 'ignored' }]);
    });
  });

  describe('when the path does not exist', () => {
    it('rejects with CONFIG_INVALID', async () => {
      expect(await rejectionCodeOf(readPolicyFiles(join(dir, 'missing')))).toBe(ErrorCode.CONFIG_INVALID);
    });
  });

  describe('when a file is not UTF-8', () => {
    it('rejects with CONFIG_INVALID', async () => {
      expect(await rejectionCodeOf(readPolicyFiles(join(dir, 'latin1.bin')))).toBe(ErrorCode.CONFIG_INVALID);
    });
  });
});
