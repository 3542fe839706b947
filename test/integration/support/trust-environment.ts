// Everything one integration test file shares: a real notary-server over TLS, a publisher
// with its own trust directory, and a scratch directory for keys and state directories.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NotaryCli } from './notary-cli.js';
import { startNotaryServer, type NotaryServer } from './notary-server.js';
import { Scenarios } from './scenarios.js';
import { makeTempDir, removeDir } from './temp-dir.js';

export interface TrustEnvironment {
  readonly server: NotaryServer;
  // The CA every https endpoint of this environment is signed by.
  readonly caFile: string;
  readonly publisher: NotaryCli;
  readonly scenarios: Scenarios;
  // A new empty directory under the environment's scratch space (e.g. a state dir).
  makeDir(label: string): Promise<string>;
  stop(): Promise<void>;
}

// Starts the server and a publisher; stop() removes every process and file they made.
export async function startTrustEnvironment(): Promise<TrustEnvironment> {
  const server = await startNotaryServer({ tls: true });
  if (server.caFile === undefined) throw new Error('notary-server started without TLS');
  const scratch = await makeTempDir('scratch');
  const publisher = await NotaryCli.create(server);
  let counter = 0;
  return {
    server,
    caFile: server.caFile,
    publisher,
    scenarios: new Scenarios(publisher, scratch),
    async makeDir(label) {
      counter += 1;
      const dir = join(scratch, `${label}-${counter}`);
      await mkdir(dir);
      return dir;
    },
    async stop() {
      await publisher.remove();
      await removeDir(scratch);
      await server.stop();
    },
  };
}
