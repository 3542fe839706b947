// The deployed functions' Sigstore trusted root, built from their environment: the shipped
// root without a mirror, the refreshing source with one (a TUF repository served on
// loopback), and a setting that cannot be used refused at start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVerifyImageDeps } from '../../../functions/platform/runtime-deps.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../../shared/trust/sigstore/trusted-root-source.js';
import type { LocalServer } from '../../support/local-http-server.js';
import { TufRepository } from '../../support/tuf-repository.js';

let dir = '';
let repo: TufRepository;
let server: LocalServer;
let tufRoot = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-runtime-sigstore-'));
  repo = new TufRepository();
  server = await repo.serve();
  tufRoot = join(dir, 'root.json');
  await writeFile(tufRoot, repo.root(1));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the verify-image function dependencies', () => {
  it('serve the shipped Sigstore trusted root when no TUF mirror is configured', async () => {
    const { sigstoreRoot } = buildVerifyImageDeps({});
    expect(await sigstoreRoot.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
    expect((await sigstoreRoot.status()).origin).toBe('shipped');
  });

  it('refresh the trusted root from TRUSTGATE_SIGSTORE_TUF_URL starting from TRUSTGATE_SIGSTORE_TUF_ROOT', async () => {
    const mirrored = { ...PUBLIC_GOOD_TRUSTED_ROOT, ctlogs: [] };
    repo.publishTarget(Buffer.from(JSON.stringify(mirrored)));
    const { sigstoreRoot } = buildVerifyImageDeps({ TRUSTGATE_SIGSTORE_TUF_URL: server.url, TRUSTGATE_SIGSTORE_TUF_ROOT: tufRoot, TRUSTGATE_SIGSTORE_REFRESH_INTERVAL: '0' });
    expect(await sigstoreRoot.current()).toBe(PUBLIC_GOOD_TRUSTED_ROOT);
    expect(await sigstoreRoot.refresh()).toMatchObject({ result: 'updated' });
    expect(await sigstoreRoot.current()).toEqual(mirrored);
  });

  it('refuse a TUF root file that is not TUF root metadata with CONFIG_INVALID', async () => {
    const notRoot = join(dir, 'not-root.json');
    await writeFile(notRoot, JSON.stringify({ signed: { _type: 'targets' } }));
    expect(() => buildVerifyImageDeps({ TRUSTGATE_SIGSTORE_TUF_URL: server.url, TRUSTGATE_SIGSTORE_TUF_ROOT: notRoot })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
