// The zip archives `trustgate deploy openwhisk` makes of an action folder, unpacked by Info-ZIP's
// `unzip` (what OpenWhisk's Node.js runtime unpacks a zip action with) and tested with `unzip -t`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readActionCode } from '../../../cli/openwhisk/action-code.js';
import { ConfigError } from '../../../cli/cli-error.js';
import { createZip } from '../../../cli/openwhisk/zip-archive.js';
import { makeTempDir, removeDir } from '../../integration/support/temp-dir.js';
import { listZipEntries, unpackZip } from '../../integration/support/zip-entries.js';

let work: string;

beforeEach(async () => {
  work = await makeTempDir('zip');
});

afterEach(async () => {
  await removeDir(work);
});

const text = (files: Map<string, Buffer>): Record<string, string> => Object.fromEntries([...files].map(([name, data]) => [name, data.toString('utf8')]));

describe('createZip', () => {
  it('makes an archive unzip unpacks to the same files, compressible and incompressible ones alike', async () => {
    const noise = randomBytes(4096);
    const entries = [
      { name: 'index.cjs', data: Buffer.from("exports.main = () => ({});\n".repeat(50)) },
      { name: 'chunks/deep/noise.bin', data: noise },
      { name: 'empty.txt', data: Buffer.alloc(0) },
      { name: 'ünïcode.mjs', data: Buffer.from('export {};\n') },
    ];
    const zip = createZip(entries);
    const unpacked = await unpackZip(zip, join(work, 'out'));
    expect([...unpacked.keys()]).toEqual(['chunks/deep/noise.bin', 'empty.txt', 'index.cjs', 'ünïcode.mjs']);
    for (const entry of entries) expect(unpacked.get(entry.name)?.equals(entry.data)).toBe(true);
    expect(listZipEntries(zip)).toEqual(entries.map((entry) => entry.name));
  });

  it('passes unzip\'s integrity test (CRC-32 of every entry)', async () => {
    const archive = join(work, 'a.zip');
    await writeFile(archive, createZip([{ name: 'a.txt', data: Buffer.from('a'.repeat(10_000)) }, { name: 'b/c.txt', data: randomBytes(100) }]));
    const run = spawnSync('unzip', ['-t', archive], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('No errors detected');
  });

  it('gives the same bytes for the same files (no timestamps)', () => {
    const entries = () => [{ name: 'x.mjs', data: Buffer.from('export const x = 1;\n') }];
    expect(createZip(entries()).equals(createZip(entries()))).toBe(true);
  });

  it.each(['../escape.js', '/etc/passwd', 'a/../../b', 'a//b', './a', 'a\\..\\b', ''])('refuses the entry name %j, which would unpack outside the target folder', (name) => {
    expect(() => createZip([{ name, data: Buffer.from('x') }])).toThrow(RangeError);
  });
});

describe('readActionCode', () => {
  async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), content);
    }
  }

  it('zips a folder with every file at its relative path, base64 with binary set', async () => {
    const files = { 'package.json': '{"main":"index.cjs"}', 'index.cjs': 'exports.main = () => ({});', 'chunks/a.mjs': 'export {};' };
    await writeFiles(join(work, 'action'), files);
    const code = await readActionCode(join(work, 'action'));
    expect(code.binary).toBe(true);
    expect(text(await unpackZip(Buffer.from(code.code, 'base64'), join(work, 'out')))).toEqual(files);
    expect(code.bytes).toBe(Buffer.from(code.code, 'base64').length);
  });

  it('sends a .zip file as it is and any other file as plain code', async () => {
    const zip = createZip([{ name: 'index.js', data: Buffer.from('exports.main = () => ({});') }]);
    await writeFile(join(work, 'action.zip'), zip);
    await writeFile(join(work, 'action.js'), 'function main() { return {}; }');
    expect(await readActionCode(join(work, 'action.zip'))).toEqual({ code: zip.toString('base64'), binary: true, bytes: zip.length });
    expect(await readActionCode(join(work, 'action.js'))).toEqual({ code: 'function main() { return {}; }', binary: false, bytes: 30 });
  });

  it('refuses a folder holding a symbolic link instead of packing its target', async () => {
    await writeFiles(join(work, 'action'), { 'index.js': 'exports.main = () => ({});' });
    await writeFile(join(work, 'secret'), 'outside');
    await symlink(join(work, 'secret'), join(work, 'action', 'linked.js'));
    await expect(readActionCode(join(work, 'action'))).rejects.toThrow(ConfigError);
  });

  it('refuses an empty folder', async () => {
    await mkdir(join(work, 'empty'));
    await expect(readActionCode(join(work, 'empty'))).rejects.toThrow(ConfigError);
  });
});
