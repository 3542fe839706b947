// The verify-image function handler answering several requests from one memoised Notary
// repository: the per-update bounds (how many delegations a resolution may look at, how many
// bytes it may read) belong to the update that built the repository, and every answer the
// memo gives from it adds to them. Once one request has spent them (the explanation of an
// unsigned tag looks at every role), the memo gives the repository up for a request it cannot
// answer within them, which verifies afresh within bounds of its own, instead of answering
// TRUST_METADATA_TOO_LARGE for the freshness window.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVerifyImageDeps } from '../../functions/platform/runtime-deps.js';
import { createVerifyImageHandler, type FunctionHandler } from '../../functions/verify-image/handler.js';
import { DEFAULT_SIZE_LIMITS } from '../../shared/trust/notary/model.js';
import type { VerifyImageResponse } from '../../shared/verify/verify-image.js';
import { fixedClock } from '../support/clocks.js';
import { startLocalServer, type LocalServer } from '../support/local-http-server.js';
import { DEFAULT_NOW, buildRepository, generateKey, type DelegationSpec } from '../support/notary-builder.js';
import { uniqueGun } from './support/scenarios.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';

let server: LocalServer;
let dir: string;
let handle: FunctionHandler;
const files = new Map<string, Uint8Array>();

beforeAll(async () => {
  server = await startLocalServer((request, response) => {
    const body = files.get(request.url ?? '');
    if (body === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
  });
  dir = await makeTempDir('memo-bounds');
  // A clock that never leaves the freshness window: every answer after the first comes from
  // the memoised repository unless the memo gives it up.
  const deps = buildVerifyImageDeps({ TRUSTGATE_STATE_DIR: dir, TRUSTGATE_FRESHNESS: '30s', TRUSTGATE_ALLOW_EXPLICIT_TRUST: 'true' }, fixedClock(DEFAULT_NOW));
  handle = createVerifyImageHandler(deps);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await removeDir(dir);
});

async function verify(request: Record<string, unknown>): Promise<VerifyImageResponse> {
  const response = await handle(request);
  expect(response.statusCode, JSON.stringify(response.body)).toBe(200);
  return response.body as VerifyImageResponse;
}

describe('verify-image answers from a memoised repository with a large delegation tree', () => {
  it('verifies a signer-pinned tag after an unsigned tag was explained by walking more roles than one update may look at', async () => {
    const alice = generateKey('ecdsa');
    const manifest = randomBytes(100);
    const target = { sha256Hex: createHash('sha256').update(manifest).digest('hex'), length: manifest.length };
    // More roles than one resolution may look at, all signing nothing, then alice's role.
    const filler: DelegationSpec[] = Array.from({ length: DEFAULT_SIZE_LIMITS.delegationCount + 6 }, (_, i) => ({ name: `targets/filler${String(i).padStart(3, '0')}` }));
    const repo = buildRepository(uniqueGun('memo-bounds'), {
      now: DEFAULT_NOW,
      delegations: [...filler, { name: 'targets/alice', keys: [alice], targets: { v1: target } }],
    });
    for (const [role, bytes] of repo.metadata) {
      const base = `/v2/${repo.gun}/_trust/tuf/`;
      files.set(`${base}${role}.json`, bytes);
      files.set(`${base}${role}.${createHash('sha256').update(bytes).digest('hex')}.json`, bytes);
    }
    const trust = { server: server.url };

    const unsigned = await verify({ image: `${repo.gun}:unsigned`, trust });
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.codes).not.toContain('TRUST_METADATA_TOO_LARGE');

    const pinned = await verify({ image: `${repo.gun}:v1`, trust: { ...trust, signers: [{ name: 'alice', publicKey: alice.publicKeyPem }] } });
    expect(pinned.codes).toStrictEqual([]);
    expect(pinned.allowed).toBe(true);
    expect(pinned.signers).toStrictEqual(['targets/alice']);
    expect(pinned.digest).toBe(`sha256:${target.sha256Hex}`);
  }, 60_000);
});
