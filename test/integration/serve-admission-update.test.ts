// `trustgate serve` answering UPDATE reviews on /admit and /validate: an image the old object
// already held is neither verified nor patched, so metadata edits of running pods (a
// controller removing a finalizer, a label) never depend on their images still verifying
// and never restart their containers on another digest, while an image the UPDATE brings
// (a changed container image, a new ephemeral container) is checked like on CREATE.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor, type Json, type KINDS } from '../support/admission-reviews.js';
import { uniqueGun, type TargetDigest } from './support/scenarios.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type ServeProcess } from './support/trustgate-serve.js';

interface Response {
  uid: string;
  allowed: boolean;
  status: { code: number; message: string };
  patchType?: string;
  patch?: string;
}

// Images of a repository nobody signed, admitted unchecked until the operator tightens the
// policy (a workload that ran before trust was required).
const LEGACY = 'legacy.test/team/app:v1';
const LEGACY_PATTERN = 'legacy.test/team/*';

let env: TrustEnvironment;
let serve: ServeProcess;
let policiesDir = '';
let app: { gun: string; target: TargetDigest };

beforeAll(async () => {
  env = await startTrustEnvironment();
  const gun = uniqueGun('update');
  app = { gun, target: await env.scenarios.signedInTargets(gun, 'v1') };
  policiesDir = await env.makeDir('policies');
  await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url, LEGACY_PATTERN));
  serve = await startTrustgateServe({ policiesDir, stateDir: await env.makeDir('state'), caFile: env.caFile, extraArgs: ['--policies-interval', '0'] });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await env?.stop();
});

async function review(body: Json, path: '/admit' | '/validate'): Promise<Response> {
  const answer = await httpsRequest(`${serve.url}${path}`, serve.caPem, { method: 'POST', body: JSON.stringify(body) });
  expect(answer.status, answer.text).toBe(200);
  return (JSON.parse(answer.text) as { response: Response }).response;
}

// The answers of both passes to one review.
async function both(body: Json): Promise<{ admit: Response; validate: Response }> {
  return { admit: await review(body, '/admit'), validate: await review(body, '/validate') };
}

type Lists = Parameters<typeof podSpec>[0];

function update(kindName: keyof typeof KINDS, lists: Lists, oldLists: Lists, edit: (object: Record<string, Json>, old: Record<string, Json>) => void = () => undefined, options: { dryRun?: boolean; subResource?: string } = {}): Json {
  const object = objectOfKind(kindName, podSpec(lists));
  const old = objectOfKind(kindName, podSpec(oldLists));
  edit(object, old);
  return reviewFor(kindName, object, { capture: 'podUpdate', oldObject: old, ...options });
}

// A controller removing its finalizer from a pod being deleted (the Job controller does so
// with batch.kubernetes.io/job-tracking): the object differs from the old one only there.
function finalizerRemoval(lists: Lists, options: { dryRun?: boolean } = {}): Json {
  return update('Pod', lists, lists, (object, old) => {
    old['metadata'] = { name: 'hello', namespace: 'default', deletionTimestamp: '2031-01-01T00:00:00Z', finalizers: ['batch.kubernetes.io/job-tracking'] };
    object['metadata'] = { name: 'hello', namespace: 'default', deletionTimestamp: '2031-01-01T00:00:00Z' };
  }, options);
}

const labelled = (object: Record<string, Json>): void => void (object['metadata'] = { name: 'hello', namespace: 'default', labels: { touched: 'yes' } });

function decisionLines(): Record<string, unknown>[] {
  return serve
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line['message'] === 'admission decision');
}

// Polls until the log holds a line with this message, bounded.
async function logLine(message: string): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = serve.output().split('\n').some((line) => line.startsWith('{') && (JSON.parse(line) as { message?: string }).message === message);
    if (found || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('trustgate serve on UPDATE', () => {
  describe('when a pod\'s image stopped verifying after it was admitted', () => {
    const lists = { containers: [{ name: 'app', image: LEGACY }] };

    it('lets a controller remove a finalizer from the pod, in both passes, dry run or not, once the image is refused on CREATE', async () => {
      expect((await review(reviewFor('Pod', objectOfKind('Pod', podSpec(lists))), '/admit')).allowed).toBe(true);
      // The operator starts requiring trust for the repository.
      await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(env.server.url).replace('  repositories:\n', `  repositories:\n    - name: "${LEGACY_PATTERN}"\n      policy:\n        trust: {enabled: true, trustServer: "${env.server.url}"}\n`));
      serve.signal('SIGHUP');
      expect(await logLine('policies reloaded')).toBe(true);
      const created = await review(reviewFor('Pod', objectOfKind('Pod', podSpec(lists))), '/admit');
      expect(created).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(created.status.message).toContain(`container "app" image ${LEGACY}: [TRUST_METADATA_MISSING]`);

      for (const dryRun of [false, true]) {
        const { admit, validate } = await both(finalizerRemoval(lists, { dryRun }));
        for (const answer of [admit, validate]) {
          expect(answer, answer.status.message).toEqual({
            uid: '137d3bea-87c2-44aa-a6a2-bc317c5a2032',
            allowed: true,
            status: { code: 200, message: 'trustgate allowed without checks: operation UPDATE changes no image (1 image unchanged from the old object)' },
          });
        }
      }
    });

    it('still checks every image of an UPDATE whose review holds no old object (fail closed)', async () => {
      const body = finalizerRemoval(lists) as Record<string, Record<string, Json>>;
      delete body['request']?.['oldObject'];
      const { admit, validate } = await both(body);
      expect(admit).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(validate).toMatchObject({ allowed: false, status: { code: 403 } });
    });

    it('denies an UPDATE that adds a container running the refused image', async () => {
      const { admit, validate } = await both(update('Pod', { containers: [{ name: 'app', image: `${app.gun}:v1` }, { name: 'side', image: LEGACY }] }, { containers: [{ name: 'app', image: `${app.gun}:v1` }] }));
      for (const answer of [admit, validate]) {
        expect(answer).toMatchObject({ allowed: false, status: { code: 403 } });
        expect(answer.status.message).toContain(`container "side" image ${LEGACY}: [TRUST_METADATA_MISSING]`);
      }
    });
  });

  describe('when a running workload\'s signed tag was never pinned', () => {
    it.each(['Pod', 'Deployment'] as const)('answers a label-only UPDATE of a %s with no patch, in both passes', async (kindName) => {
      const lists = { containers: [{ name: 'app', image: `${app.gun}:v1` }] };
      const { admit, validate } = await both(update(kindName, lists, lists, labelled));
      for (const answer of [admit, validate]) {
        expect(answer).toMatchObject({ allowed: true, status: { code: 200, message: 'trustgate allowed without checks: operation UPDATE changes no image (1 image unchanged from the old object)' } });
        expect(answer).not.toHaveProperty('patch');
        expect(answer).not.toHaveProperty('patchType');
      }
    });

    it('pins only the container whose image the UPDATE changed', async () => {
      const { admit, validate } = await both(update('Pod', { containers: [{ name: 'app', image: `${app.gun}:v1` }, { name: 'side', image: LEGACY }] }, { containers: [{ name: 'app', image: `${app.gun}:v0` }, { name: 'side', image: LEGACY }] }));
      // The validating pass sees the object before the patch: the new tag alone is unpinned.
      expect(validate.allowed).toBe(false);
      expect(validate.status.message).toContain(`container "app" image ${app.gun}:v1: [IMAGE_NOT_PINNED]`);
      expect(validate.status.message).not.toContain('side');
      expect(admit.allowed, admit.status.message).toBe(true);
      expect(admit.status.message).toMatch(/, 1 unchanged from the old object and not checked$/);
      expect(JSON.parse(Buffer.from(admit.patch ?? '', 'base64').toString('utf8'))).toEqual([
        { op: 'replace', path: '/spec/containers/0/image', value: `${app.gun}@sha256:${app.target.digestHex}` },
      ]);
    });
  });

  describe('when the UPDATE brings an unsigned image', () => {
    it.each([false, true])('denies changing a container\'s image to an unsigned tag in both passes (dry run %s)', async (dryRun) => {
      const body = update('Pod', { containers: [{ name: 'app', image: `${app.gun}:unsigned` }] }, { containers: [{ name: 'app', image: `${app.gun}:v1` }] }, labelled, { dryRun });
      const { admit, validate } = await both(body);
      for (const answer of [admit, validate]) {
        expect(answer).toMatchObject({ allowed: false, status: { code: 403 } });
        expect(answer.status.message).toContain(`container "app" image ${app.gun}:unsigned: [TRUST_NO_SIGNED_TARGET]`);
        expect(answer).not.toHaveProperty('patch');
      }
    });

    it('denies adding an ephemeral container with an unsigned image on pods/ephemeralcontainers, in both passes', async () => {
      const running = { containers: [{ name: 'app', image: `${app.gun}:v1` }], ephemeralContainers: [{ name: 'debug-1', image: `${app.gun}:v1` }] };
      const body = update('Pod', { ...running, ephemeralContainers: [...running.ephemeralContainers, { name: 'debug-2', image: `${app.gun}:unsigned` }] }, running, undefined, { subResource: 'ephemeralcontainers' });
      const { admit, validate } = await both(body);
      for (const answer of [admit, validate]) {
        expect(answer).toMatchObject({ allowed: false, status: { code: 403 } });
        expect(answer.status.message).toContain(`ephemeral container "debug-2" image ${app.gun}:unsigned: [TRUST_NO_SIGNED_TARGET]`);
        expect(answer.status.message).not.toContain('debug-1');
      }
    });
  });

  it('logs an UPDATE that changes no image as unchecked, naming the images left unchecked', async () => {
    const deadline = Date.now() + 5_000;
    const unchecked = (): Record<string, unknown>[] => decisionLines().filter((line) => line['outcome'] === 'unchecked');
    while (unchecked().length < 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // The finalizer removals (2 passes, dry run or not) and the label-only UPDATEs (2 kinds, 2 passes).
    expect(unchecked()).toHaveLength(8);
    expect(unchecked()[0]).toMatchObject({ operation: 'UPDATE', images: [], unchanged: [LEGACY] });
    const metrics = (await httpsRequest(`${serve.url}/metrics`, serve.caPem)).text;
    expect(metrics).toContain('trustgate_admission_decisions_total{outcome="unchecked"} 8');
  });
});
