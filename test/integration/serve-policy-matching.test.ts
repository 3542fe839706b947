// `trustgate serve` matching policies the way an operator wrote them, against the real
// notary-server: an enforced baseline governs every spelling of its registry's port, the
// Notary GUN stays the reference as written, and a pattern no image can match stops serve
// from starting. A host-glob baseline for a Docker Hub official image's name (`*/nginx`) governs
// it however it is spelled (`nginx`, `docker.io/library/nginx`), as on any other registry.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetDigest } from './support/scenarios.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { admitPodImage, startTrustgateServe, type PodAdmissionAnswer, type ServeProcess } from './support/trustgate-serve.js';
import { sandboxWithEnforcedBaseline } from './support/trust-policies.js';

// The suffix keeps repositories of separate runs apart on the shared notary-server.
const RUN = Math.random().toString(16).slice(2, 10);
const SIGNED_GUN = `registry.example.com:443/prod/signed-${RUN}`;

let env: TrustEnvironment;
let serve: ServeProcess;
let signed: TargetDigest;

beforeAll(async () => {
  env = await startTrustEnvironment();
  // Signed under the reference as written, port included: that is the GUN signers use.
  signed = await env.scenarios.signedInTargets(SIGNED_GUN, 'v1');
  const policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'policies.yaml'), sandboxWithEnforcedBaseline(env.server.url, 'production-baseline', ['registry.example.com/prod/*', '*/nginx']));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

// Admits a Pod running `image` in namespace `sandbox`, which runs anything unchecked.
const admit = (image: string): Promise<PodAdmissionAnswer> => admitPodImage(serve, image, 'sandbox');

describe('trustgate serve with an enforced baseline for registry.example.com/prod/*', () => {
  it('admits an image outside the baseline unchecked, as the namespace policy says', async () => {
    const answer = await admit('registry.example.com:443/dev/app:v1');
    expect(answer.response.allowed).toBe(true);
  });

  it.each(['registry.example.com:443/prod/app:v1', 'registry.example.com:0443/prod/app:v1', 'registry.example.com:5000/prod/app:v1'])(
    'denies the unsigned %s: the baseline governs every spelling of the port',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain(`image ${image}: [TRUST_METADATA_MISSING]`);
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy production-baseline (pattern "registry.example.com/prod/*")');
    },
  );

  it('verifies a signed image under the GUN as written, port included, and pins it there', async () => {
    const answer = await admit(`${SIGNED_GUN}:v1`);
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
    const operations = JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as { value: string }[];
    expect(operations.map((operation) => operation.value)).toEqual([`${SIGNED_GUN}@sha256:${signed.digestHex}`]);
  });
});

describe('trustgate serve with an enforced baseline for */nginx', () => {
  it.each(['nginx:1.27', 'docker.io/nginx:1.27', 'docker.io/library/nginx:1.27', 'registry-1.docker.io/library/nginx:1.27', 'quay.io/nginx:1.27'])(
    'denies the unsigned %s: the host glob covers Docker Hub, where the name is library/nginx',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy production-baseline (pattern "*/nginx")');
    },
  );

  it('admits another repository of Docker Hub unchecked', async () => {
    const answer = await admit('docker.io/team/nginx:1.27');
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
  });
});

describe('trustgate serve given an image written as an image ID', () => {
  // containerd's CRI reads `sha256:<hex>`, whole or shortened, as an image ID and runs the
  // node's image with that ID; read as a name it is docker.io/library/sha256, which the
  // sandbox runs unchecked, so the baseline would never see whichever prod image it is.
  it.each([`sha256:${'a'.repeat(64)}`, `sha512:${'b'.repeat(128)}`, 'sha256:aaaaaaaaaaaa', 'sha256:aaa'])('denies %s as an invalid reference, even where anything runs', async (image) => {
    const answer = await admit(image);
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.message).toContain('IMAGE_REF_INVALID');
    expect(answer.response.patch).toBeUndefined();
  });

  it('admits the repository named sha256 when it is written as one', async () => {
    const answer = await admit(`library/sha256:${'a'.repeat(64)}`);
    expect(answer.response.allowed, answer.response.status.message).toBe(true);
  });
});

describe('trustgate serve given a pattern no image can match', () => {
  it.each(['registry.example.com/Prod/*', 'registry.example.com:https/prod/*', 'registry.example.com/prod/* '])(
    'refuses to start on %j and names the field',
    async (pattern) => {
      const policiesDir = await env.makeDir('inert');
      await mkdir(policiesDir, { recursive: true });
      await writeFile(join(policiesDir, 'policies.yaml'), sandboxWithEnforcedBaseline(env.server.url, 'production-baseline', [pattern]));
      const started = startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
      await expect(started).rejects.toThrow(/serve exited 2 during startup[\s\S]*policies\.yaml:2: spec\.repositories\[0\]\.name: /);
    },
    30_000,
  );
});
