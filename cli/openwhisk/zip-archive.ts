// A zip archive of a few files, as `trustgate deploy openwhisk` sends a zip action: deflated
// entries with CRC-32, UTF-8 names, Unix permissions (rw-r--r--) and a fixed timestamp
// (1980-01-01), so one folder always gives the same bytes. No ZIP64: an archive or entry
// past the classic format's limits is refused, as OpenWhisk refuses actions far smaller.
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  readonly name: string; // relative path, `/`-separated
  readonly data: Buffer;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const VERSION = 20; // 2.0: deflate
const MADE_BY_UNIX = (3 << 8) | VERSION;
const UTF8_NAMES = 0x0800;
const STORED = 0;
const DEFLATED = 8;
const DOS_DATE_1980_01_01 = (1 << 5) | 1;
const FILE_MODE = 0o100644;
const MAX_ENTRIES = 0xffff;
const MAX_OFFSET = 0xffffffff;

// The archive holding `entries` in the order given. A name must be a relative path without
// `.` or `..` segments: whoever unpacks the archive writes each file at that path.
export function createZip(entries: readonly ZipEntry[]): Buffer {
  if (entries.length > MAX_ENTRIES) throw new RangeError(`a zip archive holds at most ${MAX_ENTRIES} entries`);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(checkedName(entry.name), 'utf8');
    const deflated = deflateRawSync(entry.data, { level: 9 });
    // Stored when deflating does not shrink the file (already compressed data).
    const [method, body] = deflated.length < entry.data.length ? [DEFLATED, deflated] : [STORED, entry.data];
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_HEADER, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time 00:00
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL_HEADER, 0);
    central.writeUInt16LE(MADE_BY_UNIX, 4);
    local.copy(central, 6, 4, 26); // version needed .. uncompressed size
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((FILE_MODE << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
    if (offset > MAX_OFFSET || entry.data.length > MAX_OFFSET) throw new RangeError('a zip archive without ZIP64 holds at most 4 GiB');
  }
  const directorySize = centrals.reduce((total, part) => total + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

// Unpacking tools write an entry at its name: a name that is absolute or climbs out of the
// target folder would write outside it, so none is ever put in an archive.
function checkedName(name: string): string {
  const segments = name.split('/');
  if (name === '' || segments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\') || segment.includes('\0'))) {
    throw new RangeError(`not a relative file path for a zip entry: ${JSON.stringify(name)}`);
  }
  return name;
}
