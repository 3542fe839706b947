// Drives the real notary client (0.7.0) the way a publisher does, with its own trust
// directory and passphrases in the environment so it never prompts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, runCommandOrThrow, type CommandResult } from './run-command.js';
import { makeTempDir, removeDir } from './temp-dir.js';

export interface NotaryEndpoint {
  readonly url: string;
  readonly caFile?: string;
}

// One row of `notary list`.
export interface ListedTarget {
  readonly tag: string;
  readonly digestHex: string;
  readonly size: number;
  readonly role: string;
}

export interface LookedUpTarget {
  readonly tag: string;
  readonly digestHex: string;
  readonly size: number;
}

export type DelegationPaths = { readonly allPaths: true } | { readonly paths: readonly string[] };

const PASSPHRASE = 'trustgate-integration-passphrase';

export class NotaryCli {
  private constructor(
    readonly endpoint: NotaryEndpoint,
    readonly trustDir: string,
  ) {}

  // A client with a fresh, empty trust directory.
  static async create(endpoint: NotaryEndpoint): Promise<NotaryCli> {
    return new NotaryCli(endpoint, await makeTempDir('notary-client'));
  }

  async remove(): Promise<void> {
    await removeDir(this.trustDir);
  }

  // Creates the repository with a server-managed snapshot key, as `docker trust` does.
  async init(gun: string): Promise<void> {
    await this.run(['init', gun]);
    await this.run(['key', 'rotate', gun, 'snapshot', '-r']);
  }

  // Stages a target by digest (no file needed: Notary signs digests and sizes).
  async addHash(gun: string, tag: string, size: number, sha256Hex: string, options: { roles?: readonly string[] } = {}): Promise<void> {
    const roleArgs = (options.roles ?? []).flatMap((role) => ['-r', role]);
    await this.run(['addhash', gun, tag, String(size), '--sha256', sha256Hex, ...roleArgs]);
  }

  async removeTarget(gun: string, tag: string, options: { roles?: readonly string[] } = {}): Promise<void> {
    const roleArgs = (options.roles ?? []).flatMap((role) => ['-r', role]);
    await this.run(['remove', gun, tag, ...roleArgs]);
  }

  async publish(gun: string): Promise<void> {
    await this.run(['publish', gun]);
  }

  // Stages a delegation role with one key (certificate or PEM public key); resolves with the
  // key IDs Notary assigned, as printed by the client.
  async addDelegation(gun: string, role: string, certOrPublicKeyFile: string, paths: DelegationPaths): Promise<string[]> {
    const pathArgs = 'allPaths' in paths ? ['--all-paths'] : paths.paths.flatMap((path) => ['--paths', path]);
    const result = await this.run(['delegation', 'add', gun, role, certOrPublicKeyFile, ...pathArgs]);
    const match = /with keys \[([0-9a-f ,]*)\]/.exec(result.stdout);
    if (match?.[1] === undefined) throw new Error(`no key IDs in delegation add output: ${result.stdout}`);
    return match[1].split(/[ ,]+/).filter((id) => id.length > 0);
  }

  // Stages removal of a whole delegation role (the client asks yes/no on stdin).
  async removeDelegation(gun: string, role: string): Promise<void> {
    await this.run(['delegation', 'remove', gun, role], 'yes\n');
  }

  // Stages removal of one key from a delegation role.
  async removeDelegationKey(gun: string, role: string, keyId: string): Promise<void> {
    await this.run(['delegation', 'remove', gun, role, keyId]);
  }

  // Imports a private key (PEM) for a role, e.g. a delegate's key for targets/releases.
  async importKey(keyFile: string, role: string): Promise<void> {
    await this.run(['key', 'import', keyFile, '--role', role]);
  }

  // Rotates the root key; the client asks yes/no on stdin even with passphrases set.
  // The new root is signed by the old and new keys and published immediately.
  async rotateRootKey(gun: string): Promise<void> {
    await this.run(['key', 'rotate', gun, 'root'], 'yes\n');
  }

  // Rotates a top-level key; snapshot and timestamp keys are rotated on the server.
  async rotateKey(gun: string, role: 'targets' | 'snapshot' | 'timestamp'): Promise<void> {
    const serverManaged = role === 'targets' ? [] : ['-r'];
    await this.run(['key', 'rotate', gun, role, ...serverManaged]);
  }

  // Removes the GUN from the server and the local cache (a fresh start for that name).
  async deleteRemote(gun: string): Promise<void> {
    await this.run(['delete', gun, '--remote']);
  }

  // `notary list GUN [-r ROLE]` as rows; an empty list when the repository has no targets.
  async list(gun: string, options: { role?: string } = {}): Promise<ListedTarget[]> {
    const roleArgs = options.role === undefined ? [] : ['-r', options.role];
    const result = await this.run(['list', gun, ...roleArgs]);
    return parseListOutput(result.stdout);
  }

  // `notary lookup GUN TAG` (walks from targets, not releases-first).
  async lookup(gun: string, tag: string): Promise<LookedUpTarget> {
    const result = await this.run(['lookup', gun, tag]);
    const match = /^(\S+) sha256:([0-9a-f]{64}) (\d+)\s*$/m.exec(result.stdout);
    if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined) {
      throw new Error(`unexpected lookup output: ${result.stdout}`);
    }
    return { tag: match[1], digestHex: match[2], size: Number(match[3]) };
  }

  // The root role's key IDs from the client's cached root.json (what a user pins).
  async rootKeyIds(gun: string): Promise<string[]> {
    const root = JSON.parse(await readFile(this.rootJsonFile(gun), 'utf8')) as {
      signed: { roles: { root: { keyids: string[] } } };
    };
    return root.signed.roles.root.keyids;
  }

  rootJsonFile(gun: string): string {
    return join(this.trustDir, 'tuf', ...gun.split('/'), 'metadata', 'root.json');
  }

  // Runs any notary command against this client's server and trust directory.
  async run(args: readonly string[], input?: string): Promise<CommandResult> {
    return runCommandOrThrow('notary', this.commonArgs(args), { env: this.env(), ...(input === undefined ? {} : { input }) });
  }

  // Like run, but a failing command resolves with its exit code instead of throwing.
  async tryRun(args: readonly string[]): Promise<CommandResult> {
    return runCommand('notary', this.commonArgs(args), { env: this.env() });
  }

  private commonArgs(args: readonly string[]): string[] {
    const tls = this.endpoint.caFile === undefined ? [] : ['--tlscacert', this.endpoint.caFile];
    return ['-d', this.trustDir, '-s', this.endpoint.url, ...tls, ...args];
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'],
      HOME: this.trustDir,
      NOTARY_ROOT_PASSPHRASE: PASSPHRASE,
      NOTARY_TARGETS_PASSPHRASE: PASSPHRASE,
      NOTARY_SNAPSHOT_PASSPHRASE: PASSPHRASE,
      NOTARY_DELEGATION_PASSPHRASE: PASSPHRASE,
    };
  }
}

// Parses the table `notary list` prints:
//   NAME    DIGEST    SIZE (BYTES)    ROLE
//   ----    ------    ------------    ----
//   v1      <hex>     123             targets
export function parseListOutput(stdout: string): ListedTarget[] {
  const rows: ListedTarget[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^(\S+)\s+([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined || match[4] === undefined) continue;
    rows.push({ tag: match[1], digestHex: match[2], size: Number(match[3]), role: match[4] });
  }
  return rows;
}
