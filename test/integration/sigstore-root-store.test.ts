// `trustgate sigstore root`, run as a user does (the built CLI, one process per command),
// against a real TUF repository served on loopback and the real DynamoDB-compatible server
// (dynalite): a refresh picks up the mirror's trusted root and writes it and its TUF state to
// the table; a later process with the mirror gone serves it from the table; a tampered
// target is refused (exit 1, the code on stderr) and the last good root stays in force for
// the next process too. Without a mirror the shipped root is in force.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trustedRootFingerprint } from '../../shared/trust/sigstore/trusted-root-shape.js';
import { PUBLIC_GOOD_TRUSTED_ROOT, type TrustedRootJson } from '../../shared/trust/sigstore/trusted-root-source.js';
import { startDynalite, type DynaliteServer } from '../support/dynalite-server.js';
import { TufRepository } from '../support/tuf-repository.js';
import { ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { runTrustgate, type TrustgateRun } from './support/trustgate-cli.js';

const STATE_KEY = randomBytes(32).toString('hex');

let dynamo: DynaliteServer;
let dir: string;
let storeEnv: Record<string, string>;
let storeFlags: string[];

beforeAll(async () => {
  ensureBuilt([join(PROJECT_ROOT, 'dist/cli.mjs')]);
  dynamo = await startDynalite();
  dir = await makeTempDir('sigstore-root');
  const table = `trustgate-${randomBytes(4).toString('hex')}`;
  storeEnv = { ...dynamo.clientEnv, TRUSTGATE_STATE_KEY: STATE_KEY, NODE_NO_WARNINGS: '1' };
  storeFlags = ['--dynamodb-table', table, '--dynamodb-endpoint', dynamo.endpoint];
  const init = await runTrustgate(['store', 'init', ...storeFlags], { stateDir: dir, extra: storeEnv });
  expect(init.exitCode, init.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await dynamo?.stop();
  if (dir !== undefined) await removeDir(dir);
});

function rootVariant(name: string): TrustedRootJson {
  const copy = JSON.parse(JSON.stringify(PUBLIC_GOOD_TRUSTED_ROOT)) as { tlogs: Array<{ baseUrl: string }> };
  const first = copy.tlogs[0];
  if (first === undefined) throw new Error('shipped root has no tlog');
  first.baseUrl = `https://rekor.${name}.example`;
  return copy;
}

interface RootStatus {
  readonly origin: string;
  readonly fingerprint: string;
  readonly tuf: { readonly targets: number } | null;
  readonly lastRefresh: { readonly result: string; readonly code?: string } | null;
}

async function sigstoreRoot(args: readonly string[]): Promise<TrustgateRun & { readonly status: RootStatus }> {
  const run = await runTrustgate(['sigstore', 'root', '--json', ...args], { stateDir: dir, extra: storeEnv });
  return { ...run, status: JSON.parse(run.stdout) as RootStatus };
}

describe('trustgate sigstore root over the DynamoDB store', () => {
  it('without a mirror, reports the shipped root in force', async () => {
    const run = await sigstoreRoot(storeFlags);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.status).toMatchObject({ origin: 'shipped', fingerprint: trustedRootFingerprint(PUBLIC_GOOD_TRUSTED_ROOT), mirror: null });
  });

  it('refreshes from the mirror, keeps the root across processes, and refuses a tampered target keeping the last good one', async () => {
    const repo = new TufRepository();
    const good = rootVariant('dynamo-good');
    repo.publishTarget(Buffer.from(JSON.stringify(good)));
    const tufRoot = join(dir, 'root.json');
    await writeFile(tufRoot, repo.root(1));
    const server = await repo.serve();
    const mirrorFlags = [...storeFlags, '--sigstore-tuf-url', server.url, '--sigstore-tuf-root', tufRoot];
    try {
      const refreshed = await sigstoreRoot([...mirrorFlags, '--refresh']);
      expect(refreshed.exitCode, refreshed.stderr).toBe(0);
      expect(refreshed.status).toMatchObject({ origin: 'mirror', fingerprint: trustedRootFingerprint(good), tuf: { targets: 1 }, lastRefresh: { result: 'updated' } });

      repo.offline = true;
      const restarted = await sigstoreRoot(mirrorFlags);
      expect(restarted.exitCode, restarted.stderr).toBe(0);
      expect(restarted.status).toMatchObject({ origin: 'store', fingerprint: trustedRootFingerprint(good), tuf: { targets: 1 }, lastRefresh: { result: 'updated' } });

      repo.offline = false;
      repo.publishTarget(Buffer.from(JSON.stringify(rootVariant('dynamo-genuine'))));
      repo.replaceServedTarget(Buffer.from(JSON.stringify(rootVariant('dynamo-forged'))));
      const tampered = await sigstoreRoot([...mirrorFlags, '--refresh']);
      expect(tampered.exitCode).toBe(1);
      expect(tampered.stderr).toContain('TRUST_HASH_MISMATCH');
      expect(tampered.status).toMatchObject({ fingerprint: trustedRootFingerprint(good), lastRefresh: { result: 'rejected', code: 'TRUST_HASH_MISMATCH' } });
    } finally {
      await server.close();
    }
  });
});
