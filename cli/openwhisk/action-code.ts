// An action's code as the OpenWhisk API takes it (exec.code and exec.binary), read from the
// manifest's `function` path the way wskdeploy reads it: a folder is zipped into a zip action,
// a .zip file is sent as it is (both base64, binary), any other file is plain code.
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../cli-error.js';
import { createZip, type ZipEntry } from './zip-archive.js';

export interface ActionCode {
  readonly code: string;
  readonly binary: boolean;
  readonly bytes: number; // of the file or archive, before base64
}

// Throws ConfigError when the path is neither a readable file nor a folder of plain files.
export async function readActionCode(path: string): Promise<ActionCode> {
  if ((await stat(path)).isDirectory()) {
    const zip = createZip(await readFolderEntries(path));
    return { code: zip.toString('base64'), binary: true, bytes: zip.length };
  }
  const data = await readFile(path);
  if (path.endsWith('.zip')) return { code: data.toString('base64'), binary: true, bytes: data.length };
  return { code: data.toString('utf8'), binary: false, bytes: data.length };
}

// Every file under `folder`, named by its path relative to it, in name order (the same folder
// always zips to the same bytes). A symbolic link or special file is refused rather than
// followed: the archive holds exactly the folder's own files, nothing it points elsewhere to.
async function readFolderEntries(folder: string): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [];
  const refused: string[] = [];
  async function walk(relative: string): Promise<void> {
    const children: Dirent[] = await readdir(join(folder, relative), { withFileTypes: true });
    for (const child of children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const name = relative === '' ? child.name : `${relative}/${child.name}`;
      if (child.isDirectory()) await walk(name);
      else if (child.isFile()) entries.push({ name, data: await readFile(join(folder, name)) });
      else refused.push(`${join(folder, name)}: is not a plain file or folder`);
    }
  }
  await walk('');
  if (refused.length > 0) throw new ConfigError('an action folder may hold only plain files and folders', refused);
  if (entries.length === 0) throw new ConfigError(`action folder ${folder} is empty`);
  return entries;
}
