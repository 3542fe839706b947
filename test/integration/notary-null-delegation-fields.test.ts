// Notary is written in Go, whose encoding/json writes an empty (nil) slice as null: removing
// a repository's last delegation publishes `"delegations": {"keys": {}, "roles": null}`, and
// removing a role's only key publishes that role with `"keyids": null`. `notary lookup` reads
// both as empty and passes a role without keys over; through `trustgate verify` against the
// real notary-server, so does trustgate, from a cold state directory and from one that
// verified the repository before the change. A role left without keys signs nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from './support/http-get.js';
import { randomTarget, uniqueGun } from './support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { runTrustgateVerify, type VerifyOptions } from './support/trustgate-cli.js';

let env: TrustEnvironment;

beforeAll(async () => {
  env = await startTrustEnvironment();
}, 60_000);

afterAll(async () => {
  await env?.stop();
});

// The `delegations` member of the targets.json the server now serves for `gun`.
async function servedDelegations(gun: string): Promise<unknown> {
  const served = await httpGet(`${env.server.url}/v2/${gun}/_trust/tuf/targets.json`, env.caFile);
  expect(served.status).toBe(200);
  return (JSON.parse(served.body.toString('utf8')) as { signed: { delegations: unknown } }).signed.delegations;
}

async function verify(gun: string, tag: string, stateDir: string, signers: VerifyOptions['signers'] = []): Promise<unknown> {
  return (await runTrustgateVerify({ image: `${gun}:${tag}`, trustServer: env.server.url, caFile: env.caFile, stateDir, signers })).json;
}

describe('trustgate verify of a repository whose last delegation was removed', () => {
  it('accepts the tags signed in targets, cold and warm, while targets.json holds "roles": null', async () => {
    const gun = uniqueGun('null-roles');
    const cli = env.scenarios.cli;
    const owner = await env.scenarios.signedInTargets(gun, 'v1');
    await env.scenarios.delegate(gun, 'targets/releases');
    const released = randomTarget();
    await cli.addHash(gun, 'v2', released.size, released.digestHex, { roles: ['targets/releases'] });
    await cli.publish(gun);
    const warm = await env.makeDir('state');
    expect(await verify(gun, 'v1', warm)).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });

    await cli.removeDelegation(gun, 'targets/releases');
    await cli.publish(gun);
    expect(await servedDelegations(gun)).toEqual({ keys: {}, roles: null });
    expect((await cli.lookup(gun, 'v1')).digestHex).toBe(owner.digestHex);

    expect(await verify(gun, 'v1', await env.makeDir('state'))).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });
    expect(await verify(gun, 'v1', warm)).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });
    // The removed role's tag is gone with it.
    expect(await verify(gun, 'v2', warm)).toMatchObject({ allowed: false, codes: ['TRUST_NO_SIGNED_TARGET'] });
  }, 120_000);
});

describe('trustgate verify of a repository whose targets/releases lost its only key', () => {
  it('accepts the tags signed in targets, cold and warm, while the role holds "keyids": null, and trusts nothing the role signed', async () => {
    const gun = uniqueGun('null-keyids');
    const cli = env.scenarios.cli;
    const owner = await env.scenarios.signedInTargets(gun, 'v1');
    const releases = await env.scenarios.delegate(gun, 'targets/releases');
    const released = randomTarget();
    await cli.addHash(gun, 'v2', released.size, released.digestHex, { roles: ['targets/releases'] });
    await cli.publish(gun);
    const warm = await env.makeDir('state');
    const byReleases = [{ name: 'releases', publicKeyFile: releases.key.publicKeyFile }];
    expect(await verify(gun, 'v1', warm)).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });
    expect(await verify(gun, 'v2', warm)).toMatchObject({ allowed: true, digest: `sha256:${released.digestHex}` });

    for (const keyId of releases.keyIds) await cli.removeDelegationKey(gun, 'targets/releases', keyId);
    await cli.publish(gun);
    expect(await servedDelegations(gun)).toMatchObject({ roles: [{ name: 'targets/releases', keyids: null }] });
    expect((await cli.lookup(gun, 'v1')).digestHex).toBe(owner.digestHex);

    expect(await verify(gun, 'v1', await env.makeDir('state'))).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });
    expect(await verify(gun, 'v1', warm)).toMatchObject({ allowed: true, digest: `sha256:${owner.digestHex}` });
    // No key, no signature that counts: the role is passed over, as the notary client does.
    expect(await verify(gun, 'v2', warm)).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_NO_SIGNED_TARGET'] });
    expect(await verify(gun, 'v2', warm, byReleases)).toMatchObject({ allowed: false, digest: null, codes: ['TRUST_SIGNER_MISSING'] });
  }, 120_000);
});
