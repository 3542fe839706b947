// `trustgate serve` answering AdmissionReviews built from real kube-apiserver captures,
// verifying against repositories signed with the real notary client on the real
// notary-server, exactly as a cluster would call it: HTTPS to /admit, certificate from the
// CA serve generated.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  POD_SPEC_PATHS,
  applyReplacePatch,
  imagesOf,
  loadCapture,
  objectOfKind,
  podSpec,
  reviewFor,
  type Json,
  type KINDS,
} from '../support/admission-reviews.js';
import { randomTarget, uniqueGun, type TargetDigest } from './support/scenarios.js';
import { signedTestRegistryPolicy, trustedTestGuns } from './support/trust-policies.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

interface ReviewAnswer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; status: { code: number; message: string }; patchType?: string; patch?: string };
}

let env: TrustEnvironment;
let serve: ServeProcess;
// Two repositories signed in targets, one signed only by targets/alice (team-a's signer).
let app: { gun: string; target: TargetDigest };
let tools: { gun: string; target: TargetDigest };
let teamA: { gun: string; target: TargetDigest };
// A repository whose targets/releases delegate signed v1 and tags named like properties of
// Object.prototype.
const KEY_NAMED_TAGS = ['prototype', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
let keyNamed: { gun: string; targets: Map<string, TargetDigest> };

beforeAll(async () => {
  env = await startTrustEnvironment();
  const appGun = uniqueGun('app');
  const toolsGun = uniqueGun('tools');
  const teamGun = uniqueGun('team-a');
  const keyNamedGun = uniqueGun('key-named');
  const [appTarget, toolsTarget, teamSigned, keyNamedTargets] = await Promise.all([
    env.scenarios.signedInTargets(appGun, 'v1'),
    env.scenarios.signedInTargets(toolsGun, 'v1'),
    env.scenarios.signedByDelegationOnly(teamGun, 'v1', 'targets/alice'),
    signTagsNamedLikeObjectKeys(keyNamedGun),
  ]);
  keyNamed = { gun: keyNamedGun, targets: keyNamedTargets };
  app = { gun: appGun, target: appTarget };
  tools = { gun: toolsGun, target: toolsTarget };
  teamA = { gun: teamGun, target: teamSigned };

  const policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url));
  await writeFile(join(policiesDir, 'team-a.yaml'), teamPolicy(env.server.url, teamSigned.signer.key.publicKeyPem));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

async function signTagsNamedLikeObjectKeys(gun: string): Promise<Map<string, TargetDigest>> {
  const targets = new Map<string, TargetDigest>([['v1', await env.scenarios.signedInReleases(gun, 'v1')]]);
  for (const tag of KEY_NAMED_TAGS) {
    const target = randomTarget();
    await env.scenarios.cli.addHash(gun, tag, target.size, target.digestHex, { roles: ['targets/releases'] });
    targets.set(tag, target);
  }
  await env.scenarios.cli.publish(gun);
  return targets;
}

function teamPolicy(trustServer: string, alicePem: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata:
  name: signed-by-alice
  namespace: team-a
spec:
  repositories:
${trustedTestGuns(trustServer, ['alice-signer'])}---
apiVersion: v1
kind: Secret
metadata:
  name: alice-signer
  namespace: team-a
stringData:
  name: alice
  publicKey: |
${alicePem.trim().split('\n').map((line) => `    ${line}`).join('\n')}
`;
}

async function post(path: string, body: Json | string): Promise<HttpAnswer> {
  return httpsRequest(`${serve.url}${path}`, serve.caPem, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function admit(review: Json | string, path = '/admit'): Promise<ReviewAnswer> {
  const answer = await post(path, review);
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as ReviewAnswer;
}

function patchOperations(answer: ReviewAnswer): unknown[] {
  expect(answer.response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8')) as unknown[];
}

const pinned = (repo: { gun: string; target: TargetDigest }): string => `${repo.gun}@sha256:${repo.target.digestHex}`;

async function metricsText(): Promise<string> {
  const answer = await httpsRequest(`${serve.url}/metrics`, serve.caPem);
  expect(answer.status).toBe(200);
  return answer.text;
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('trustgate serve', () => {
  it('answers /healthz over HTTPS with a certificate from the CA it generated', async () => {
    const answer = await httpsRequest(`${serve.url}/healthz`, serve.caPem);
    expect(answer).toMatchObject({ status: 200, text: 'ok\n' });
  });

  describe('POST /admit', () => {
    it('verifies a Pod with an init container and two containers sharing an image once per image and pins all three', async () => {
      const before = sample(await metricsText(), 'trustgate_verifications_total{code="OK"}');
      const object = objectOfKind('Pod', podSpec({
        initContainers: [{ name: 'setup', image: `${tools.gun}:v1` }],
        containers: [{ name: 'app', image: `${app.gun}:v1` }, { name: 'copy', image: `${app.gun}:v1` }],
      }));
      const answer = await admit(reviewFor('Pod', object, { uid: 'pod-uid-1' }));

      expect(answer).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'pod-uid-1', allowed: true } });
      expect(patchOperations(answer)).toEqual([
        { op: 'replace', path: '/spec/initContainers/0/image', value: pinned(tools) },
        { op: 'replace', path: '/spec/containers/0/image', value: pinned(app) },
        { op: 'replace', path: '/spec/containers/1/image', value: pinned(app) },
      ]);
      expect(imagesOf(applyReplacePatch(object, answer.response.patch ?? ''), ['spec'])).toEqual({
        initContainers: [pinned(tools)],
        containers: [pinned(app), pinned(app)],
      });
      expect(sample(await metricsText(), 'trustgate_verifications_total{code="OK"}') - before).toBe(2);
    });

    it.each(['Deployment', 'CronJob', 'CronJobBeta'] as const)('pins the image of a %s at its pod spec path', async (kindName: keyof typeof KINDS) => {
      const object = objectOfKind(kindName, podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
      const answer = await admit(reviewFor(kindName, object, { capture: kindName === 'Deployment' ? 'deploymentCreate' : 'podCreate' }));
      const path = `/${POD_SPEC_PATHS[kindName].join('/')}/containers/0/image`;
      expect(patchOperations(answer)).toEqual([{ op: 'replace', path, value: pinned(app) }]);
      expect(imagesOf(applyReplacePatch(object, answer.response.patch ?? ''), POD_SPEC_PATHS[kindName])['containers']).toEqual([pinned(app)]);
    });

    it('passes over a Deployment\'s placeholder image " " (an image trigger fills it in later) and pins the rest; a Pod holding it is denied', async () => {
      const object = objectOfKind('Deployment', podSpec({ containers: [{ name: 'triggered', image: ' ' }, { name: 'app', image: `${app.gun}:v1` }] }));
      const answer = await admit(reviewFor('Deployment', object, { capture: 'deploymentCreate' }));
      expect(answer.response.allowed, answer.response.status?.message).toBe(true);
      expect(patchOperations(answer)).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: pinned(app) }]);
      const pod = await admit(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'triggered', image: ' ' }] }))));
      expect(pod.response.allowed).toBe(false);
      expect(pod.response.status?.message).toContain('IMAGE_REF_INVALID');
    });

    it('checks only the new ephemeral container on pods/ephemeralcontainers', async () => {
      const object = objectOfKind('Pod', podSpec({
        containers: [{ name: 'app', image: `${uniqueGun('never-signed')}:v1` }],
        ephemeralContainers: [{ name: 'debug', image: `${tools.gun}:v1` }],
      }));
      const answer = await admit(reviewFor('Pod', object, { capture: 'podUpdate', subResource: 'ephemeralcontainers' }));
      expect(answer.response.allowed).toBe(true);
      expect(patchOperations(answer)).toEqual([{ op: 'replace', path: '/spec/ephemeralContainers/0/image', value: pinned(tools) }]);
    });

    it('denies an unsigned tag with 403 and a message naming the container, image and code', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }, { name: 'web', image: `${app.gun}:unsigned` }] }));
      const answer = await admit(reviewFor('Pod', object));
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toMatch(new RegExp(`^trustgate denied: container "web" image ${app.gun.replaceAll('.', '\\.')}:unsigned: \\[TRUST_NO_SIGNED_TARGET\\]`));
      expect(answer.response.status.message).not.toContain('container "app"');
      expect(answer.response).not.toHaveProperty('patch');
    });

    it('applies the namespace ImagePolicy: alice-signed image allowed in team-a, denied elsewhere', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${teamA.gun}:v1` }] }));
      const inTeam = await admit(reviewFor('Pod', object, { namespace: 'team-a' }));
      expect(inTeam.response.allowed, inTeam.response.status.message).toBe(true);
      expect(patchOperations(inTeam)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: pinned(teamA) }]);

      const inDefault = await admit(reviewFor('Pod', object, { namespace: 'default' }));
      expect(inDefault.response.allowed).toBe(false);
      expect(inDefault.response.status.message).toContain(`${teamA.gun}:v1`);
    });

    it('gives a dry run the same answer as the real request', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
      const real = await admit(reviewFor('Pod', object, { capture: 'podCreate' }));
      const dryRun = await admit(reviewFor('Pod', object, { capture: 'podCreateDryRun' }));
      expect(dryRun.response.uid).toBe('8e579174-3401-4605-9879-a2e03650d05d');
      expect({ ...dryRun.response, uid: '' }).toEqual({ ...real.response, uid: '' });
    });

    it('verifies and pins on UPDATE', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
      const answer = await admit(reviewFor('Pod', object, { capture: 'podUpdate' }));
      expect(answer.response).toMatchObject({ uid: '137d3bea-87c2-44aa-a6a2-bc317c5a2032', allowed: true });
      expect(patchOperations(answer)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: pinned(app) }]);
    });

    it('answers a malformed review with allowed:false and code 400', async () => {
      const answer = await admit(reviewFor('Pod', objectOfKind('Pod', { containers: [{ name: 'app', image: 7 }] })));
      expect(answer.response).toMatchObject({ uid: '5aac83b0-0542-4e24-ac2c-0cc6a07f38a3', allowed: false, status: { code: 400 } });
      expect(answer.response.status.message).toContain('request.object.spec.containers[0].image');
    });

    describe('with image volumes', () => {
      it('denies a Pod whose signed container mounts an unsigned image volume, naming the volume', async () => {
        const object = objectOfKind('Pod', podSpec({
          containers: [{ name: 'app', image: `${app.gun}:v1` }],
          volumes: [{ name: 'payload', image: `${app.gun}:unsigned` }],
        }));
        const answer = await admit(reviewFor('Pod', object));
        expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
        expect(answer.response.status.message).toContain(`image volume "payload" image ${app.gun}:unsigned: [TRUST_NO_SIGNED_TARGET]`);
        expect(answer.response.status.message).not.toContain('container "app"');
        expect(answer.response).not.toHaveProperty('patch');
      });

      it.each(['Pod', 'Deployment', 'CronJob'] as const)('pins a signed image volume of a %s to its digest', async (kindName: keyof typeof KINDS) => {
        const object = objectOfKind(kindName, podSpec({
          containers: [{ name: 'app', image: `${app.gun}:v1` }],
          volumes: [{ name: 'payload', image: `${tools.gun}:v1` }],
        }));
        const answer = await admit(reviewFor(kindName, object));
        expect(answer.response.allowed, answer.response.status.message).toBe(true);
        const base = `/${POD_SPEC_PATHS[kindName].join('/')}`;
        expect(patchOperations(answer)).toEqual([
          { op: 'replace', path: `${base}/containers/0/image`, value: pinned(app) },
          { op: 'replace', path: `${base}/volumes/0/image/reference`, value: pinned(tools) },
        ]);
        expect(imagesOf(applyReplacePatch(object, answer.response.patch ?? ''), POD_SPEC_PATHS[kindName])).toEqual({
          containers: [pinned(app)],
          volumes: [pinned(tools)],
        });
      });
    });

    describe('when keys are named like properties of Object.prototype', () => {
      it('admits a Pod whose labels and annotations are named constructor, prototype, __proto__, toString', async () => {
        const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
        const names = { constructor: 'a', prototype: 'b', toString: 'c', hasOwnProperty: 'd', PROTO: 'e' };
        object['metadata'] = { name: 'hello', namespace: 'default', labels: names, annotations: names };
        const text = JSON.stringify(reviewFor('Pod', object)).replaceAll('"PROTO"', '"__proto__"');
        expect(text).toContain('"labels":{"constructor":"a","prototype":"b","toString":"c","hasOwnProperty":"d","__proto__":"e"}');
        const answer = await admit(text);
        expect(answer.response.allowed, answer.response.status.message).toBe(true);
        expect(patchOperations(answer)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: pinned(app) }]);
      });

      it('checks the containers the pod spec holds, not ones hidden under a __proto__ member', async () => {
        // A reader that followed prototypes would see only the signed image; the API server
        // stores the unsigned one.
        const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'web', image: `${app.gun}:unsigned` }] }));
        const text = JSON.stringify(reviewFor('Pod', object)).replace('"spec":{', `"spec":{"__proto__":{"containers":[{"name":"app","image":"${app.gun}:v1"}]},`);
        expect(text).toContain('"spec":{"__proto__":{"containers"');
        const answer = await admit(text);
        expect(answer.response.allowed).toBe(false);
        expect(answer.response.status.message).toContain(`container "web" image ${app.gun}:unsigned: [TRUST_NO_SIGNED_TARGET]`);
        expect(answer.response.status.message).not.toContain('container "app"');
      });

      it('rejects a review whose pod spec or uid exists only under __proto__ or constructor members', async () => {
        const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
        const review = JSON.stringify(reviewFor('Pod', object, { uid: 'uid-hidden' }));
        const { spec, ...rest } = object;
        const hiddenSpec = JSON.stringify(reviewFor('Pod', { ...rest, PROTO: { spec: { containers: [] } }, CTOR: { spec: spec ?? null } }))
          .replace('"PROTO"', '"__proto__"')
          .replace('"CTOR"', '"constructor"');
        expect(hiddenSpec).toContain('"__proto__":{"spec":{"containers":[]}},"constructor":{"spec":{');
        const answer = await admit(hiddenSpec);
        expect(answer.response.allowed).toBe(false);
        expect(answer.response.status.code).toBe(400);
        expect(answer.response.status.message).toContain('request.object.spec: must be an object holding the pod spec');

        const hiddenUid = review.replace('"uid":"uid-hidden"', '"__proto__":{"uid":"uid-hidden"}');
        const second = await admit(hiddenUid);
        expect(second.response.allowed).toBe(false);
        expect(second.response.uid).toBe('');
        expect(second.response.status.message).toContain('request.uid: must be a non-empty string');
      });

      it('pins containers named constructor, __proto__ and toString like any other', async () => {
        const names = ['constructor', 'PROTO', 'toString'];
        const object = objectOfKind('Pod', podSpec({ containers: names.map((name) => ({ name, image: `${app.gun}:v1` })) }));
        const text = JSON.stringify(reviewFor('Pod', object)).replaceAll('"PROTO"', '"__proto__"');
        const answer = await admit(text);
        expect(answer.response.allowed, answer.response.status.message).toBe(true);
        expect(patchOperations(answer)).toEqual(names.map((_, index) => ({ op: 'replace', path: `/spec/containers/${index}/image`, value: pinned(app) })));
      });

      it('verifies tags a delegate named like them, and the repository\'s other tags', async () => {
        const tags = ['v1', ...KEY_NAMED_TAGS];
        const object = objectOfKind('Pod', podSpec({ containers: tags.map((tag, index) => ({ name: `c${index}`, image: `${keyNamed.gun}:${tag}` })) }));
        const answer = await admit(reviewFor('Pod', object));
        expect(answer.response.allowed, answer.response.status.message).toBe(true);
        expect(patchOperations(answer)).toEqual(
          tags.map((tag, index) => ({ op: 'replace', path: `/spec/containers/${index}/image`, value: `${keyNamed.gun}@sha256:${keyNamed.targets.get(tag)?.digestHex}` })),
        );
      });

      it('still denies a tag named like them that nobody signed', async () => {
        const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}:constructor` }] }));
        const answer = await admit(reviewFor('Pod', object));
        expect(answer.response.allowed).toBe(false);
        expect(answer.response.status.message).toContain('[TRUST_NO_SIGNED_TARGET]');
      });
    });

    it('answers HTTP 400 to a review nested 200,000 levels deep, and keeps serving', async () => {
      const deepObject = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
      const deepArray = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
      const bodies = [
        `{"apiVersion":${deepArray},"kind":"AdmissionReview"}`,
        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","operation":${deepArray},"object":${deepObject}}}`,
        `[${deepArray}]`,
      ];
      for (const body of bodies) {
        const answer = await post('/admit', body);
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
      }
      expect((await httpsRequest(`${serve.url}/healthz`, serve.caPem)).status).toBe(200);
    });

    it('answers HTTP 400 to a body that is no AdmissionReview', async () => {
      expect((await post('/admit', { ...loadCapture('podCreate'), apiVersion: 'admission.k8s.io/v1beta1' })).status).toBe(400);
      expect((await post('/admit', 'not json')).status).toBe(400);
      expect((await httpsRequest(`${serve.url}/admit`, serve.caPem)).status).toBe(405);
    });
  });

  describe('POST /validate', () => {
    it('allows images pinned to their signed digests, image volumes included, and patches nothing', async () => {
      const object = objectOfKind('Deployment', podSpec({ containers: [{ name: 'app', image: pinned(app) }], volumes: [{ name: 'payload', image: pinned(tools) }] }));
      const answer = await admit(reviewFor('Deployment', object, { capture: 'deploymentCreate' }), '/validate');
      expect(answer.response.allowed, answer.response.status.message).toBe(true);
      expect(answer.response).not.toHaveProperty('patch');
      expect(answer.response).not.toHaveProperty('patchType');
    });

    it('denies a signed tag that a later webhook put back unpinned, with IMAGE_NOT_PINNED', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: pinned(app) }, { name: 'sidecar', image: `${tools.gun}:v1` }] }));
      const answer = await admit(reviewFor('Pod', object), '/validate');
      expect(answer.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(answer.response.status.message).toContain(`container "sidecar" image ${tools.gun}:v1: [IMAGE_NOT_PINNED] not pinned to its signed digest sha256:${tools.target.digestHex}`);
      expect(answer.response.status.message).not.toContain('container "app"');
      expect(answer.response).not.toHaveProperty('patch');
    });

    it('denies a digest that was swapped in for one nobody signed', async () => {
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${app.gun}@sha256:${randomTarget().digestHex}` }] }));
      const answer = await admit(reviewFor('Pod', object), '/validate');
      expect(answer.response.allowed).toBe(false);
      expect(answer.response.status.message).toContain('container "app"');
    });

    it('answers HTTP 400 to a body that is no AdmissionReview', async () => {
      expect((await post('/validate', 'not json')).status).toBe(400);
      expect((await httpsRequest(`${serve.url}/validate`, serve.caPem)).status).toBe(405);
    });
  });

  describe('POST /functions/verify-image', () => {
    it('answers the policy form with the function contract', async () => {
      const answer = await post('/functions/verify-image', { image: `${app.gun}:v1`, namespace: 'default' });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toMatchObject({
        allowed: true,
        image: `${app.gun}:v1`,
        digest: `sha256:${app.target.digestHex}`,
        signers: ['targets'],
        mutateImage: true,
        policy: { kind: 'ClusterImagePolicy', name: 'signed-test-registry' },
      });
    });

    it('answers 400 REQUEST_INVALID to a body nested 100,000 levels deep', async () => {
      const answer = await post('/functions/verify-image', `{"image":${'['.repeat(100_000)}${']'.repeat(100_000)},"namespace":"default"}`);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
    });

    it('answers 400 with every bad field, 404 for an unknown function, 405 for GET', async () => {
      const invalid = await post('/functions/verify-image', { namespace: 'Not_A_Namespace' });
      expect(invalid.status).toBe(400);
      expect(JSON.parse(invalid.text)).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
      expect((await post('/functions/no-such-function', {})).status).toBe(404);
      expect((await httpsRequest(`${serve.url}/functions/verify-image`, serve.caPem)).status).toBe(405);
    });
  });

  describe('GET /metrics', () => {
    it('counts the requests, decisions by outcome and durations so far', async () => {
      const text = await metricsText();
      // 28 reviews were posted above (to /admit and /validate); bodies that are no review
      // are not counted.
      const requests = sample(text, 'trustgate_admission_requests_total');
      expect(requests).toBe(28);
      expect(sample(text, 'trustgate_admission_decisions_total{outcome="allowed"}')).toBe(17);
      expect(sample(text, 'trustgate_admission_decisions_total{outcome="denied"}')).toBe(8);
      expect(sample(text, 'trustgate_admission_decisions_total{outcome="invalid"}')).toBe(3);
      expect(sample(text, 'trustgate_admission_duration_seconds_count')).toBe(requests);
      expect(sample(text, 'trustgate_admission_duration_seconds_bucket{le="+Inf"}')).toBe(requests);
      expect(sample(text, 'trustgate_verifications_total{code="TRUST_NO_SIGNED_TARGET"}')).toBeGreaterThanOrEqual(1);
    });

    it('logged one JSON line per decision, without credentials', async () => {
      const decisionLines = (): { message: string; outcome?: string; images?: unknown[] }[] =>
        serve
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { message: string; outcome?: string; images?: unknown[] })
          .filter((line) => line.message === 'admission decision');
      // Log lines travel through a pipe and may trail the answers: wait for them, bounded.
      const deadline = Date.now() + 5_000;
      while (decisionLines().length < 28 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const decisions = decisionLines();
      expect(decisions).toHaveLength(28);
      expect(decisions.filter((line) => (line as { pass?: string }).pass === 'validate')).toHaveLength(3);
      expect(decisions[0]).toMatchObject({ outcome: 'allowed', namespace: 'default', kind: 'Pod' });
      expect(decisions[0]?.images).toHaveLength(2);
    });
  });

  it('stops on SIGTERM with exit code 0', async () => {
    expect(await serve.stop()).toBe(0);
  });
});
