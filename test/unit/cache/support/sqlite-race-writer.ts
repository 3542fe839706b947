// A separate process racing onlyIfNewer puts into a shared SQLite store. Arguments: the
// database file, the key and a number of rounds. It opens the store, prints "ready", waits
// for a line on stdin (so two processes start together), then each round reads the stored
// version and tries to write the next one, and finally prints the versions it won as a
// JSON array. Writers that both read version N both try N + 1: only one may win.
import { once } from 'node:events';
import { openSqliteStore } from '../../../../shared/cache/sqlite-store.js';

const [file, key, rounds] = process.argv.slice(2);
if (file === undefined || key === undefined || rounds === undefined) {
  process.stderr.write('usage: sqlite-race-writer FILE KEY ROUNDS\n');
  process.exit(2);
}
// No entry here expires: any clock serves.
const store = openSqliteStore(file, { clock: { now: () => new Date(0) } });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const won: number[] = [];
for (let round = 0; round < Number(rounds); round += 1) {
  const version = ((await store.get(key))?.version ?? 0) + 1;
  const value = new TextEncoder().encode(`${process.pid}:${version}`);
  if (await store.put(key, { value, version }, { onlyIfNewer: true })) won.push(version);
}
store.close();
process.stdout.write(`${JSON.stringify(won)}\n`);
process.stdin.destroy();
