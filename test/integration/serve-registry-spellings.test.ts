// `trustgate serve` with an enforced baseline and a permissive namespace policy, against the
// real notary-server and docker-registry: another spelling of the baseline's registry (Docker
// Hub's registry host, an IPv6 address written differently, an IPv4 address written as an
// IPv4-mapped IPv6 address or in another of inet_aton's numeric forms, `127.1`, `0x7f000001`)
// must meet the baseline, and a baseline pattern that no image can match (a host written with
// a trailing dot) must stop serve from starting.
import { lookup } from 'node:dns/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, startDockerRegistry, type DockerRegistry } from './support/docker-registry.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { admitPodImage, startTrustgateServe, type PodAdmissionAnswer, type ServeProcess } from './support/trustgate-serve.js';
import { sandboxWithEnforcedBaseline } from './support/trust-policies.js';

let env: TrustEnvironment;
let registry: DockerRegistry;
let serve: ServeProcess;

// The baseline: Docker Hub's official images, two IPv6 registries, a host name, and the
// IPv4 loopback on every port (an enforced pattern without a port), where the real registry
// listens; `[::ffff:10.0.0.1]` is the IPv4 registry 10.0.0.1 written as an IPv4-mapped address,
// and `0xc0.0250.1` is 192.168.0.1 written in inet_aton's hex, octal and two-byte last part.
const BASELINE = ['docker.io/library/*', '[::1]:5000/prod/*', 'registry.example.com/prod/*:*', '127.0.0.1/prod/*', '[::ffff:10.0.0.1]/prod/*', '0xc0.0250.1/prod/*'];

beforeAll(async () => {
  env = await startTrustEnvironment();
  registry = await startDockerRegistry();
  await pushImage(registry, 'prod/app', 'v1'); // unsigned
  const policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'policies.yaml'), sandboxWithEnforcedBaseline(env.server.url, 'baseline', BASELINE));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await registry?.stop();
  await env?.stop();
});

// Admits a Pod running `image` in namespace `sandbox`, which runs anything unchecked.
const admit = (image: string): Promise<PodAdmissionAnswer> => admitPodImage(serve, image, 'sandbox');

describe('trustgate serve with an enforced baseline for docker.io/library/*, [::1]:5000/prod/*, registry.example.com/prod/*:*, 127.0.0.1/prod/*, [::ffff:10.0.0.1]/prod/* and 0xc0.0250.1/prod/*', () => {
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

  // Go's net package (containerd, CRI-O) dials an IPv4-mapped IPv6 address over IPv4, and TLS
  // holds both forms of the address equal: `[::ffff:7f00:1]:PORT` is the registry at
  // 127.0.0.1:PORT, as the real registry answering through it shows.
  it('denies the unsigned image of the real registry at 127.0.0.1 pulled through its IPv4-mapped spelling [::ffff:7f00:1]', async () => {
    const port = registry.host.slice(registry.host.lastIndexOf(':') + 1);
    const mapped = `[::ffff:7f00:1]:${port}`;
    const manifest = await fetch(`http://${mapped}/v2/prod/app/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifest.status).toBe(200);
    for (const image of [`127.0.0.1:${port}/prod/app:v1`, `${mapped}/prod/app:v1`, `[0:0:0:0:0:ffff:7f00:1]:${port}/prod/app:v1`]) {
      const answer = await admit(image);
      expect(answer.response, image).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message, image).toContain('required by ClusterImagePolicy baseline');
    }
  });

  it.each(['10.0.0.1:5000/prod/app:v1', '[::ffff:a00:1]/prod/app:v1'])(
    'denies the unsigned %s under the baseline pattern written [::ffff:10.0.0.1]/prod/*',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy baseline');
    },
  );

  // glibc's getaddrinfo (what a cgo-built containerd or CRI-O resolves with) takes any host
  // inet_aton reads as an address for that address, without asking DNS: `127.1:PORT` and the
  // rest are the registry at 127.0.0.1:PORT, as the resolver and the real registry show. (Go's
  // own resolver reads them as names; the enforced baseline, a floor, covers both readings.)
  it('denies the unsigned image of the real registry at 127.0.0.1 pulled through 127.1, 0x7f.0.0.1, 0177.0.0.1, 2130706433 and 0x7f000001', async () => {
    const port = registry.host.slice(registry.host.lastIndexOf(':') + 1);
    const spellings = ['127.1', '127.0.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '0x7f000001', '0x7f.0.1'];
    for (const spelling of spellings) {
      expect(await lookup(spelling, { family: 4 }), spelling).toEqual({ address: '127.0.0.1', family: 4 });
    }
    const manifest = await fetch(`http://127.1:${port}/v2/prod/app/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifest.status).toBe(200);
    for (const spelling of spellings) {
      const image = `${spelling}:${port}/prod/app:v1`;
      const answer = await admit(image);
      expect(answer.response, image).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message, image).toContain('required by ClusterImagePolicy baseline');
    }
  });

  it.each(['192.168.0.1:5000/prod/app:v1', '3232235521:5000/prod/app:v1'])(
    'denies the unsigned %s under the baseline pattern written 0xc0.0250.1/prod/*',
    async (image) => {
      const answer = await admit(image);
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain('required by ClusterImagePolicy baseline');
    },
  );

  // A leading 0 is octal to inet_aton: 0127.0.0.1 is 87.0.0.1, another registry, so the
  // namespace's own policy applies.
  it('admits 0127.0.0.1:5000/prod/app:v1 under the namespace policy: it is the registry at 87.0.0.1', async () => {
    expect(await lookup('0127.0.0.1', { family: 4 })).toEqual({ address: '87.0.0.1', family: 4 });
    const answer = await admit('0127.0.0.1:5000/prod/app:v1');
    expect(answer.response.allowed).toBe(true);
  });

  // An IPv4-compatible address (::a.b.c.d, deprecated) is an IPv6 address to Go: another
  // registry than the IPv4 one, so the namespace's own policy applies.
  it('admits [::7f00:1]:5000/prod/app:v1 under the namespace policy: an IPv4-compatible address is not the IPv4 registry', async () => {
    const answer = await admit('[::7f00:1]:5000/prod/app:v1');
    expect(answer.response.allowed).toBe(true);
  });

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
