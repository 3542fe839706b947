// The file names in a zip archive, read from its central directory (enough to check what a
// deployment package holds without an unzip tool), and an archive unpacked by `unzip`.
import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_ENTRY = 0x02014b50;

export function listZipEntries(zip: Buffer): string[] {
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== END_OF_CENTRAL_DIRECTORY) end -= 1;
  if (end < 0) throw new Error('not a zip archive: no end of central directory record');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let index = 0; index < count; index += 1) {
    if (zip.readUInt32LE(offset) !== CENTRAL_DIRECTORY_ENTRY) throw new Error(`corrupt central directory at entry ${index}`);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    names.push(zip.toString('utf8', offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

// Unpacks a zip archive into `dir` with Info-ZIP's `unzip -qq`, the tool OpenWhisk's Node.js
// runtime unpacks a zip action with, and returns every file unpacked (path relative to `dir`,
// `/`-separated, in name order) with its content.
export async function unpackZip(zip: Buffer, dir: string): Promise<Map<string, Buffer>> {
  const archive = join(dir, '..', `${basename(dir)}.zip`);
  await writeFile(archive, zip);
  const run = spawnSync('unzip', ['-qq', archive, '-d', dir], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`unzip failed: ${run.stderr}`);
  return readTree(dir);
}

// Every file under `dir`, by relative path, in name order.
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const)));
}
