// `trustgate serve` with an enforced baseline and a permissive namespace policy, against the
// real notary-server: another spelling of the baseline's registry (Docker Hub's registry
// host, an IPv6 address written differently) must meet the baseline, and a baseline pattern
// that no image can match (a host written with a trailing dot) must stop serve from starting.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { admitPodImage, startTrustgateServe, type PodAdmissionAnswer, type ServeProcess } from './support/trustgate-serve.js';
import { sandboxWithEnforcedBaseline } from './support/trust-policies.js';

let env: TrustEnvironment;
let serve: ServeProcess;

beforeAll(async () => {
  env = await startTrustEnvironment();
  const policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'policies.yaml'), sandboxWithEnforcedBaseline(env.server.url, 'baseline', ['docker.io/library/*', '[::1]:5000/prod/*', 'registry.example.com/prod/*:*']));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

// Admits a Pod running `image` in namespace `sandbox`, which runs anything unchecked.
const admit = (image: string): Promise<PodAdmissionAnswer> => admitPodImage(serve, image, 'sandbox');

describe('trustgate serve with an enforced baseline for docker.io/library/*, [::1]:5000/prod/* and registry.example.com/prod/*:*', () => {
  it.each(['docker.io/library/app:v1', 'index.docker.io/library/app:v1', 'app:v1', '[::1]:5000/prod/app:v1', 'registry.example.com/prod/app:v1'])(
    'denies the unsigned %s (the spellings the baseline already covers)',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy baseline');
    },
  );

  // registry-1.docker.io is the host Docker Hub's registry API is served from: the runtime
  // pulls docker.io/library/app from there, so it is the same registry.
  it.each(['registry-1.docker.io/library/app:v1', '[0::1]:5000/prod/app:v1', '[0:0:0:0:0:0:0:1]:5000/prod/app:v1'])(
    'denies the unsigned %s: another spelling of a baseline registry meets the baseline',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy baseline');
    },
  );

  // A tag glob that matches every tag (`:*`) must not leave the same image pulled by digest
  // alone outside the baseline (a raw-string glob, as Portieris matches, covers it).
  it('denies the unsigned registry.example.com/prod/app@sha256:<digest> under the baseline pattern registry.example.com/prod/*:*', async () => {
    const answer = await admit(`registry.example.com/prod/app@sha256:${'a'.repeat(64)}`);
    expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
    expect(answer.response.status.message).toContain('required by ClusterImagePolicy baseline');
  });
});

describe('trustgate serve given a baseline pattern whose host no image can have', () => {
  it.each(['registry.example.com./prod/*', '-registry.example.com/prod/*', 'registry..example.com/prod/*'])(
    'refuses to start on %j and names the field',
    async (pattern) => {
      const policiesDir = await env.makeDir('inert');
      await writeFile(join(policiesDir, 'policies.yaml'), sandboxWithEnforcedBaseline(env.server.url, 'baseline', [pattern]));
      const started = startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
      // Started anyway: stop it, so the failed expectation below leaves no process behind.
      const outcome = await started.then(
        async (process) => {
          await process.stop();
          return 'started';
        },
        (error: unknown) => String(error),
      );
      expect(outcome).toMatch(/serve exited 2 during startup[\s\S]*policies\.yaml:2: spec\.repositories\[0\]\.name: /);
    },
    30_000,
  );
});
