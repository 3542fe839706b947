// The bounds of a lookaside signature read that follows redirects, against real loopback
// servers through the real HTTP adapter: the hops of one signature's chain share the
// per-request timeout, and the verification's deadline covers them all (time is a monotonic
// clock the test moves, each answer "taking" a minute, never the wall clock); a redirect
// without a usable Location, or to a URL embedding credentials, is refused; a redirect hop
// that never answers is named by its origin only.
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { createNodeFetch } from '../../../../shared/http/node-fetch.js';
import { parseImageReference } from '../../../../shared/image/reference.js';
import { startDeadline } from '../../../../shared/trust/cosign/deadline.js';
import { DEFAULT_SIGNATURE_SOURCE_LIMITS, readLookasideSignatures } from '../../../../shared/trust/simple/signature-sources.js';
import { startLocalServer, type LocalServer } from '../../../support/local-http-server.js';
import { rejectionOf } from '../../../support/trustgate-errors.js';

const MINUTE = 60_000;
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE = parseImageReference('registry.example.com/team/app:v1');
const servers: LocalServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

// A store whose signature-1 is `hops` redirects away (hop N redirects to hop N+1, the last
// serves bytes), signature-2 missing; each answer moves `clock` on by a minute.
async function slowRedirectingStore(hops: number, clock: { now: number }): Promise<LocalServer> {
  const server = await startLocalServer((request, response) => {
    clock.now += MINUTE;
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const hop = path.endsWith('/signature-1') ? 0 : Number(/^\/hop\/(\d+)$/.exec(path)?.[1] ?? NaN);
    if (Number.isNaN(hop)) response.writeHead(404).end();
    else if (hop < hops) response.writeHead(302, { location: `/hop/${hop + 1}` }).end();
    else response.writeHead(200).end('signature bytes');
  });
  servers.push(server);
  return server;
}

async function read(hops: number, requestTimeoutMs: number, deadlineMs: number): Promise<{ result: Promise<unknown>; server: LocalServer }> {
  const clock = { now: 0 };
  const server = await slowRedirectingStore(hops, clock);
  const deadline = startDeadline(deadlineMs, () => clock.now);
  const limits = { ...DEFAULT_SIGNATURE_SOURCE_LIMITS, requestTimeoutMs };
  return { result: readLookasideSignatures(createNodeFetch(), server.url, undefined, IMAGE, DIGEST, limits, deadline), server };
}

describe('a lookaside signature read following redirects', () => {
  it('reads the signature at the end of the chain when the hops fit in the per-request timeout', async () => {
    const { result } = await read(3, 10 * MINUTE, 60 * MINUTE);

    expect(await result).toEqual([{ where: 'lookaside signature-1', bytes: new TextEncoder().encode('signature bytes') }]);
  });

  it('gives all the hops of one signature one per-request timeout: past it, SIMPLE_STORE_UNAVAILABLE and no further request', async () => {
    // Two answers take two minutes: a third hop would start past the 100 s timeout.
    const { result, server } = await read(3, 100_000, 60 * MINUTE);

    expect((await rejectionOf(result)).code).toBe(ErrorCode.SIMPLE_STORE_UNAVAILABLE);
    expect(server.requests.map((request) => request.url)).toEqual([`/team/app@sha256=${'ab'.repeat(32)}/signature-1`, '/hop/1']);
  });

  it('stops following redirects at the verification\'s deadline', async () => {
    const { result, server } = await read(3, 10 * MINUTE, 100_000);

    expect((await rejectionOf(result)).code).toBe(ErrorCode.SIMPLE_STORE_UNAVAILABLE);
    expect(server.requests).toHaveLength(2);
  });
});

describe('a lookaside redirect that cannot be followed', () => {
  async function readFrom(answer: (response: ServerResponse) => void): Promise<{ code: string; requests: number }> {
    const server = await startLocalServer((_request, response) => answer(response));
    servers.push(server);
    const deadline = startDeadline(60 * MINUTE, () => 0);
    const error = await rejectionOf(readLookasideSignatures(createNodeFetch(), server.url, undefined, IMAGE, DIGEST, DEFAULT_SIGNATURE_SOURCE_LIMITS, deadline));
    return { code: error.code, requests: server.requests.length };
  }

  it('refuses a redirect without a Location with SIMPLE_STORE_REDIRECT_REFUSED', async () => {
    expect(await readFrom((response) => response.writeHead(302).end())).toEqual({ code: ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED, requests: 1 });
  });

  it('refuses a redirect to a URL embedding credentials with SIMPLE_STORE_REDIRECT_REFUSED, requesting nothing there', async () => {
    expect(await readFrom((response) => response.writeHead(302, { location: 'http://user:secret@127.0.0.1:9/signature-1' }).end())).toEqual({ code: ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED, requests: 1 });
  });

  it('names a redirect hop that never answers by its origin only, not the path or query the redirect chose', async () => {
    const silent = await startLocalServer(() => undefined);
    servers.push(silent);
    const store = await startLocalServer((_request, response) => response.writeHead(302, { location: `${silent.url}/internal/probe?token=hop-secret` }).end());
    servers.push(store);
    const deadline = startDeadline(60 * MINUTE, () => 0);
    const limits = { ...DEFAULT_SIGNATURE_SOURCE_LIMITS, requestTimeoutMs: 300 };

    const error = await rejectionOf(readLookasideSignatures(createNodeFetch(), store.url, undefined, IMAGE, DIGEST, limits, deadline));

    expect(error.code).toBe(ErrorCode.SIMPLE_STORE_UNAVAILABLE);
    expect(silent.requests.map((request) => request.url)).toEqual(['/internal/probe?token=hop-secret']);
    expect(error.message).toContain(`redirect 1 to ${silent.url}`);
    expect(error.message).not.toContain('/internal/');
    expect(error.message).not.toContain('hop-secret');
  });
});
