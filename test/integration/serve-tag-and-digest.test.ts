// `trustgate serve` judging images written with both a tag and a digest (`repo:tag@sha256:X`),
// against the real notary-server. The runtime pulls X and ignores the tag, so the tag may
// choose the policy only when that policy enforces a Notary check, which binds the tag to X;
// otherwise the image is judged as `repo@sha256:X`. A tag-scoped exemption (checking nothing,
// or in warn mode) must not admit an arbitrary digest of the repository written under its tag.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor, type Json } from '../support/admission-reviews.js';
import { REGISTRY_HOST, uniqueGun, type TargetDigest } from './support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

let env: TrustEnvironment;
let serve: ServeProcess;
let gun: string;
let signed: TargetDigest;

// A digest nobody signed: what an attacker pushes and pulls by digest.
const UNSIGNED = `sha256:${'e'.repeat(64)}`;

beforeAll(async () => {
  env = await startTrustEnvironment();
  gun = uniqueGun('tag-and-digest');
  signed = await env.scenarios.signedInTargets(gun, 'v1');
  const policiesDir = await env.makeDir('policies');
  // Release tags must be Notary-signed, as must the whole test registry; `debug` of one
  // repository is exempt, and `canary` is being rolled out in warn mode.
  await writeFile(
    join(policiesDir, 'policies.yaml'),
    `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: releases}
spec:
  repositories:
    - name: "${REGISTRY_HOST}/it/*:v*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
    - name: "${REGISTRY_HOST}/it/*"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
    - name: "${gun}:debug"
      policy: {}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: canary-rollout, annotations: {trustgate.dev/mode: warn}}
spec:
  repositories:
    - name: "${gun}:canary"
      policy:
        trust: {enabled: true, trustServer: "${env.server.url}"}
`,
  );
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

interface ReviewResponse {
  readonly allowed: boolean;
  readonly status: { readonly message: string };
  readonly warnings?: readonly string[];
}

async function post(path: '/admit' | '/validate', image: string): Promise<ReviewResponse> {
  const object: Json = objectOfKind('Deployment', podSpec({ containers: [{ name: 'app', image }] }));
  const review = reviewFor('Deployment', object, { namespace: 'default' });
  const answer = await httpsRequest(`${serve.url}${path}`, serve.caPem, { method: 'POST', body: JSON.stringify(review) });
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.text) as { response: ReviewResponse }).response;
}

describe('trustgate serve given an image with a tag and a digest', () => {
  it.each(['/admit', '/validate'] as const)('%s denies an unsigned digest written under the exempt debug tag, as it denies the digest alone', async (path) => {
    const alone = await post(path, `${gun}@${UNSIGNED}`);
    expect(alone.allowed).toBe(false);
    const tagged = await post(path, `${gun}:debug@${UNSIGNED}`);
    expect(tagged.allowed).toBe(false);
    expect(tagged.status.message).toContain(`required by ClusterImagePolicy releases (pattern "${REGISTRY_HOST}/it/*")`);
  });

  it('denies an unsigned digest written under a tag whose policy is in warn mode', async () => {
    const answer = await post('/admit', `${gun}:canary@${UNSIGNED}`);
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain(`required by ClusterImagePolicy releases (pattern "${REGISTRY_HOST}/it/*")`);
  });

  it('admits the signed digest of a release tag, chosen by the tag whose Notary check binds it', async () => {
    const answer = await post('/admit', `${gun}:v1@sha256:${signed.digestHex}`);
    expect(answer.allowed, answer.status.message).toBe(true);
  });

  it('denies another digest written under the signed release tag', async () => {
    const answer = await post('/admit', `${gun}:v1@${UNSIGNED}`);
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain(`required by ClusterImagePolicy releases (pattern "${REGISTRY_HOST}/it/*:v*")`);
  });
});
