import { describe, expect, it } from 'vitest';
import { anyString } from '../../support/matchers.js';
import type { AdmissionReviewResponse } from '../../../shared/admission/admission-review.js';
import { decideAdmission, type AdmissionDecision, type BudgetTimer, type VerifyImageFn } from '../../../shared/admission/decide-admission.js';
import { decodeAdmissionReview } from '../../../shared/admission/decode-admission-review.js';
import type { PullSecretEntry } from '../../../shared/registry/pull-secret.js';
import type { VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { POD_SPEC_PATHS, applyReplacePatch, imagesOf, loadCapture, objectOfKind, podSpec, reviewFor, type Json } from '../../support/admission-reviews.js';

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;
const APP = 'registry.test:5000/team/app';
const TOOLS = 'registry.test:5000/team/tools';

type Answer = Partial<VerifyImageResponse> | 'hang' | 'throw';

// A verify-image use case answering from a table keyed by normalised image; records calls.
function fakeVerify(answers: Readonly<Record<string, Answer>>): { verify: VerifyImageFn; calls: string[] } {
  const calls: string[] = [];
  const verify: VerifyImageFn = async (image, namespace) => {
    calls.push(`${namespace}:${image}`);
    const answer = answers[image];
    if (answer === 'hang') return new Promise<VerifyImageResponse>(() => undefined);
    if (answer === 'throw') throw new Error('boom with secret details');
    if (answer === undefined) throw new Error(`unexpected image ${image}`);
    return { allowed: true, image, digest: null, reasons: [], codes: [], signers: ['targets'], mutateImage: true, policy: null, ...answer };
  };
  return { verify, calls };
}

const signedAs = (digest: string): Answer => ({ allowed: true, digest });
const deniedWith = (image: string, code: string, why: string): Answer => ({ allowed: false, digest: null, reasons: [`${image}: ${why}`], codes: [code] });

const neverExpires = (): BudgetTimer => ({ expired: new Promise<void>(() => undefined), cancel: () => undefined });
const expiresNow = (): BudgetTimer => ({ expired: Promise.resolve(), cancel: () => undefined });

async function decide(review: Json, verify: VerifyImageFn, startTimer: (ms: number) => BudgetTimer = neverExpires, budgetMs = 8_000): Promise<AdmissionDecision> {
  const decoded = decodeAdmissionReview(review);
  if (decoded.kind === 'not-a-review') throw new Error(decoded.reason);
  return decideAdmission({ verify, budgetMs, startTimer }, decoded);
}

function patchOf(review: AdmissionReviewResponse): string {
  const patch = review.response.patch;
  if (patch === undefined) throw new Error('no patch in the response');
  return patch;
}

describe('decideAdmission', () => {
  describe('when several containers use the same image', () => {
    it('verifies each distinct image once, concurrently', async () => {
      const started: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const verify: VerifyImageFn = async (image) => {
        started.push(image);
        await gate;
        return { allowed: true, image, digest: image.startsWith(APP) ? DIGEST_A : DIGEST_B, reasons: [], codes: [], signers: [], mutateImage: true };
      };
      const spec = podSpec({
        initContainers: [{ name: 'setup', image: `${TOOLS}:1` }],
        containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'copy', image: `${APP}:v1` }],
      });
      const pending = decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      await new Promise((resolve) => setImmediate(resolve));
      // Both verifications are in flight before either finishes.
      expect(started.sort()).toEqual([`${APP}:v1`, `${TOOLS}:1`]);
      release();
      expect((await pending).outcome).toBe('allowed');
    });

    it('treats short and fully qualified names of one image as one', async () => {
      const { verify, calls } = fakeVerify({ 'docker.io/library/nginx:latest': signedAs(DIGEST_A) });
      const spec = podSpec({ containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'docker.io/library/nginx:latest' }] });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      expect(calls).toEqual(['default:docker.io/library/nginx:latest']);
      const patched = applyReplacePatch(objectOfKind('Pod', spec), patchOf(decision.review));
      expect(imagesOf(patched, ['spec'])['containers']).toEqual([`docker.io/library/nginx@${DIGEST_A}`, `docker.io/library/nginx@${DIGEST_A}`]);
    });
  });

  describe('when every image is signed', () => {
    it('pins every tag to its signed digest with one replace per container', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: signedAs(DIGEST_A), [`${TOOLS}:1`]: signedAs(DIGEST_B) });
      const spec = podSpec({
        initContainers: [{ name: 'setup', image: `${TOOLS}:1` }],
        containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'copy', image: `${APP}:v1` }],
      });
      const object = objectOfKind('Pod', spec);
      const decision = await decide(reviewFor('Pod', object, { uid: 'uid-1' }), verify);

      expect(decision.review).toMatchObject({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: 'uid-1', allowed: true, status: { code: 200 }, patchType: 'JSONPatch' },
      });
      const operations = JSON.parse(Buffer.from(patchOf(decision.review), 'base64').toString('utf8')) as unknown[];
      expect(operations).toEqual([
        { op: 'replace', path: '/spec/initContainers/0/image', value: `${TOOLS}@${DIGEST_B}` },
        { op: 'replace', path: '/spec/containers/0/image', value: `${APP}@${DIGEST_A}` },
        { op: 'replace', path: '/spec/containers/1/image', value: `${APP}@${DIGEST_A}` },
      ]);
      expect(imagesOf(applyReplacePatch(object, patchOf(decision.review)), ['spec'])).toEqual({
        initContainers: [`${TOOLS}@${DIGEST_B}`],
        containers: [`${APP}@${DIGEST_A}`, `${APP}@${DIGEST_A}`],
      });
    });

    it.each(['Deployment', 'CronJob', 'CronJobBeta', 'PodTemplate'] as const)('patches the images of a %s at its pod spec path', async (kindName) => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: signedAs(DIGEST_A) });
      const object = objectOfKind(kindName, podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }));
      const decision = await decide(reviewFor(kindName, object), verify);
      const patched = applyReplacePatch(object, patchOf(decision.review));
      expect(imagesOf(patched, POD_SPEC_PATHS[kindName])['containers']).toEqual([`${APP}@${DIGEST_A}`]);
    });

    it('patches the real captured Deployment only where it holds a tag', async () => {
      const capture = loadCapture('deploymentCreate');
      const { verify, calls } = fakeVerify({ [`127.0.0.1:5000/lab/signed@sha256:9fbbd45da42addf3b820839b5622b86ce2ae7c04c46896f5ea05d283becd5f7a`]: signedAs(`sha256:9fbbd45da42addf3b820839b5622b86ce2ae7c04c46896f5ea05d283becd5f7a`) });
      const decision = await decide(capture, verify);
      expect(calls).toHaveLength(1);
      expect(decision.outcome).toBe('allowed');
      // Already pinned: verified, and left as written.
      expect(decision.review.response).not.toHaveProperty('patch');
      expect(decision.review.response).not.toHaveProperty('patchType');
    });

    it('leaves digest-pinned images alone, with or without a tag, but still verifies them', async () => {
      const pinned = `${APP}@${DIGEST_A}`;
      const taggedAndPinned = `${TOOLS}:1@${DIGEST_B}`;
      const { verify, calls } = fakeVerify({ [pinned]: signedAs(DIGEST_A), [taggedAndPinned]: signedAs(DIGEST_B) });
      const spec = podSpec({ containers: [{ name: 'a', image: pinned }, { name: 'b', image: taggedAndPinned }] });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      expect(calls.sort()).toEqual([`default:${pinned}`, `default:${taggedAndPinned}`]);
      expect(decision.review.response).toMatchObject({ allowed: true });
      expect(decision.review.response).not.toHaveProperty('patch');
    });

    it('sends no patch when the policy sets mutateImage false', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: { allowed: true, digest: DIGEST_A, mutateImage: false } });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify);
      expect(decision.review.response).toEqual({ uid: anyString(), allowed: true, status: { code: 200, message: anyString() } });
    });

    it('says which images were verified and which were admitted by a policy that requires no signature', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: { allowed: true, digest: DIGEST_A, verifiedBy: ['notary'] }, [`${TOOLS}:1`]: { allowed: true, digest: null, mutateImage: false } });
      const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      expect(decision.review.response.allowed).toBe(true);
      expect(decision.review.response.status.message).toBe('trustgate allowed: 1 image verified, 1 under a policy that requires no signature, 1 pinned to signed digests');
    });

    it('verifies objects that carry ownerReferences like any other', async () => {
      const { verify, calls } = fakeVerify({ [`${APP}:v1`]: deniedWith(`${APP}:v1`, 'TRUST_NO_SIGNED_TARGET', 'no signed target') });
      const object = objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] })) as Record<string, Json>;
      object['metadata'] = { name: 'hello', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'x', controller: true }] };
      const decision = await decide(reviewFor('Pod', object), verify);
      expect(calls).toHaveLength(1);
      expect(decision.review.response.allowed).toBe(false);
    });
  });

  describe('when images fail verification', () => {
    it('denies with 403 and one message naming every failing image, its containers and codes', async () => {
      const { verify } = fakeVerify({
        [`${APP}:v1`]: deniedWith(`${APP}:v1`, 'TRUST_NO_SIGNED_TARGET', 'tag v1 is not signed'),
        [`${TOOLS}:1`]: { allowed: false, digest: null, reasons: [`${TOOLS}:1: no policy`, `${TOOLS}:1: signer missing`], codes: ['POLICY_NO_MATCH', 'TRUST_SIGNER_MISSING'] },
        'docker.io/library/nginx:latest': signedAs(DIGEST_A),
      });
      const spec = podSpec({
        initContainers: [{ name: 'setup', image: `${TOOLS}:1` }],
        containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'web', image: 'nginx' }, { name: 'copy', image: `${APP}:v1` }],
      });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      expect(decision.outcome).toBe('denied');
      expect(decision.review.response).toEqual({
        uid: '5aac83b0-0542-4e24-ac2c-0cc6a07f38a3',
        allowed: false,
        status: {
          code: 403,
          message:
            `trustgate denied: init container "setup" image ${TOOLS}:1: [POLICY_NO_MATCH] no policy, [TRUST_SIGNER_MISSING] signer missing; ` +
            `container "app", container "copy" image ${APP}:v1: [TRUST_NO_SIGNED_TARGET] tag v1 is not signed`,
        },
      });
    });

    it('denies with INTERNAL, without the error text, when verification throws', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: 'throw' });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify);
      expect(decision.review.response.allowed).toBe(false);
      expect(decision.review.response.status.message).toContain('[INTERNAL]');
      expect(decision.review.response.status.message).not.toContain('secret');
    });
  });

  describe('when the time budget runs out', () => {
    it('denies and says the budget was exhausted, naming the pending images', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: 'hang', [`${TOOLS}:1`]: signedAs(DIGEST_B) });
      const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify, expiresNow, 50);
      expect(decision.outcome).toBe('timeout');
      expect(decision.review.response.allowed).toBe(false);
      expect(decision.review.response.status.code).toBe(403);
      expect(decision.review.response.status.message).toContain('time budget of 50 ms exhausted');
      expect(decision.review.response.status.message).toContain(`${APP}:v1`);
      expect(decision.review.response).not.toHaveProperty('patch');
    });

    it('answers in time with a real timer', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: 'hang' });
      const timer = (ms: number): BudgetTimer => {
        let handle: NodeJS.Timeout | undefined;
        return { expired: new Promise<void>((resolve) => (handle = setTimeout(resolve, ms))), cancel: () => clearTimeout(handle) };
      };
      const started = performance.now();
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify, timer, 30);
      expect(decision.outcome).toBe('timeout');
      expect(performance.now() - started).toBeLessThan(1_000);
    });
  });

  describe('when the review cannot be judged', () => {
    it('answers allowed:false with code 400 for an unknown kind', async () => {
      const review = reviewFor('Pod', {});
      (review['request'] as Record<string, unknown>)['kind'] = { group: '', version: 'v1', kind: 'Secret' };
      const { verify, calls } = fakeVerify({});
      const decision = await decide(review, verify);
      expect(decision.outcome).toBe('invalid');
      expect(decision.review.response).toMatchObject({ uid: '5aac83b0-0542-4e24-ac2c-0cc6a07f38a3', allowed: false, status: { code: 400 } });
      expect(calls).toEqual([]);
    });

    it('answers allowed:false with code 400 for a malformed object', async () => {
      const { verify } = fakeVerify({});
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', { containers: [{ name: 'app' }] })), verify);
      expect(decision.review.response).toMatchObject({ allowed: false, status: { code: 400 } });
      expect(decision.review.response.status.message).toContain('request.object.spec.containers[0].image');
    });
  });

  describe('when the operation is DELETE', () => {
    it('allows without verifying anything', async () => {
      const { verify, calls } = fakeVerify({});
      const decision = await decide(reviewFor('Pod', null, { operation: 'DELETE' }), verify);
      expect(decision.outcome).toBe('unchecked');
      expect(decision.review.response).toMatchObject({ allowed: true, status: { code: 200 } });
      expect(calls).toEqual([]);
    });
  });

  describe('when the request is a dry run', () => {
    it('gets the same answer as the real request', async () => {
      const answers = { '127.0.0.1:5000/lab/signed:v1': signedAs(DIGEST_A) };
      const real = await decide(loadCapture('podCreate'), fakeVerify(answers).verify);
      const dryRun = await decide(loadCapture('podCreateDryRun'), fakeVerify(answers).verify);
      expect({ ...dryRun.review.response, uid: '' }).toEqual({ ...real.review.response, uid: '' });
      expect(dryRun.review.response.patch).toBeDefined();
    });
  });
});

describe('decideAdmission on UPDATE', () => {
  const update = (lists: Parameters<typeof podSpec>[0], oldLists: Parameters<typeof podSpec>[0], options: { dryRun?: boolean } = {}): Json =>
    reviewFor('Pod', objectOfKind('Pod', podSpec(lists)), { capture: 'podUpdate', oldObject: objectOfKind('Pod', podSpec(oldLists)), ...options });

  describe.each([false, true])('with validate %s', (validate) => {
    const decideUpdate = async (review: Json, verify: VerifyImageFn): Promise<AdmissionDecision> => {
      const decoded = decodeAdmissionReview(review);
      if (decoded.kind === 'not-a-review') throw new Error(decoded.reason);
      return decideAdmission({ verify, budgetMs: 8_000, startTimer: neverExpires, validate }, decoded);
    };

    it('allows an UPDATE that changes no image without verifying or patching, and says so', async () => {
      const { verify, calls } = fakeVerify({});
      const lists = { containers: [{ name: 'app', image: `${APP}:v1` }], volumes: [{ name: 'data', image: `${TOOLS}:1` }] };
      const decision = await decideUpdate(update(lists, lists), verify);
      expect(calls).toEqual([]);
      expect(decision.outcome).toBe('unchecked');
      expect(decision.review.response).toEqual({
        uid: '137d3bea-87c2-44aa-a6a2-bc317c5a2032',
        allowed: true,
        status: { code: 200, message: 'trustgate allowed without checks: operation UPDATE changes no image (2 images unchanged from the old object)' },
      });
      expect(decision.unchanged?.map((c) => c.image)).toEqual([`${APP}:v1`, `${TOOLS}:1`]);
    });

    it('verifies only the image the UPDATE changed, and patches only it', async () => {
      const { verify, calls } = fakeVerify({ [`${APP}:v2`]: signedAs(DIGEST_A) });
      const decision = await decideUpdate(update({ containers: [{ name: 'app', image: `${APP}:v2` }, { name: 'side', image: `${TOOLS}:1` }] }, { containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'side', image: `${TOOLS}:1` }] }), verify);
      expect(calls).toEqual([`default:${APP}:v2`]);
      expect(decision.unchanged?.map((c) => c.name)).toEqual(['side']);
      if (validate) {
        expect(decision.outcome).toBe('denied');
        expect(decision.review.response.status.message).toContain(`container "app" image ${APP}:v2: [IMAGE_NOT_PINNED]`);
        expect(decision.review.response.status.message).not.toContain('side');
      } else {
        expect(decision.outcome).toBe('allowed');
        expect(decision.review.response.status.message).toMatch(/, 1 pinned to signed digests, 1 unchanged from the old object and not checked$/);
        expect(JSON.parse(Buffer.from(patchOf(decision.review), 'base64').toString('utf8'))).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: `${APP}@${DIGEST_A}` }]);
      }
    });

    it('denies an UPDATE that changes an image to an unsigned one', async () => {
      const { verify } = fakeVerify({ [`${APP}:unsigned`]: deniedWith(`${APP}:unsigned`, 'TRUST_NO_SIGNED_TARGET', 'no signed target') });
      const decision = await decideUpdate(update({ containers: [{ name: 'app', image: `${APP}:unsigned` }] }, { containers: [{ name: 'app', image: `${APP}:v1` }] }), verify);
      expect(decision.outcome).toBe('denied');
      expect(decision.review.response.status.message).toContain(`container "app" image ${APP}:unsigned: [TRUST_NO_SIGNED_TARGET]`);
    });

    it('gives a dry run the same answer', async () => {
      const lists = { containers: [{ name: 'app', image: `${APP}:v1` }] };
      const real = await decideUpdate(update(lists, lists), fakeVerify({}).verify);
      const dryRun = await decideUpdate(update(lists, lists, { dryRun: true }), fakeVerify({}).verify);
      expect(dryRun.review).toEqual(real.review);
    });
  });
});

describe('decideAdmission in the validating pass', () => {
  async function validate(spec: Parameters<typeof podSpec>[0], answers: Readonly<Record<string, Answer>>): Promise<AdmissionDecision> {
    const decoded = decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', podSpec(spec))));
    if (decoded.kind !== 'check') throw new Error(`expected a review to check, got ${decoded.kind}`);
    return decideAdmission({ verify: fakeVerify(answers).verify, budgetMs: 8_000, startTimer: neverExpires, validate: true }, decoded);
  }

  it('allows images pinned to their signed digests and patches nothing', async () => {
    const decision = await validate({ containers: [{ name: 'app', image: `${APP}@${DIGEST_A}` }] }, { [`${APP}@${DIGEST_A}`]: signedAs(DIGEST_A) });
    expect(decision.outcome).toBe('allowed');
    expect(decision.review.response.patch).toBeUndefined();
    expect(decision.review.response.patchType).toBeUndefined();
  });

  it('denies a signed tag left unpinned with IMAGE_NOT_PINNED, naming the container and the digest', async () => {
    const decision = await validate(
      { containers: [{ name: 'app', image: `${APP}:1` }], volumes: [{ name: 'tools', image: `${TOOLS}:1` }] },
      { [`${APP}:1`]: signedAs(DIGEST_A), [`${TOOLS}:1`]: signedAs(DIGEST_B) },
    );
    expect(decision.outcome).toBe('denied');
    expect(decision.review.response.patch).toBeUndefined();
    const message = decision.review.response.status.message;
    expect(message).toContain(`container "app" image ${APP}:1: [IMAGE_NOT_PINNED] not pinned to its signed digest ${DIGEST_A}`);
    expect(message).toContain(`image volume "tools" image ${TOOLS}:1: [IMAGE_NOT_PINNED] not pinned to its signed digest ${DIGEST_B}`);
  });

  it('allows a tag when the policy asks for no pinning (mutateImage: false)', async () => {
    const decision = await validate({ containers: [{ name: 'app', image: `${APP}:1` }] }, { [`${APP}:1`]: { allowed: true, digest: DIGEST_A, mutateImage: false } });
    expect(decision.outcome).toBe('allowed');
  });

  it('denies a digest nobody trusted signed, as the mutating pass does', async () => {
    const decision = await validate(
      { containers: [{ name: 'app', image: `${APP}@${DIGEST_B}` }] },
      { [`${APP}@${DIGEST_B}`]: deniedWith(`${APP}@${DIGEST_B}`, 'TRUST_NO_SIGNED_TARGET', 'no signed target has this digest') },
    );
    expect(decision.outcome).toBe('denied');
    expect(decision.review.response.status.message).toContain('[TRUST_NO_SIGNED_TARGET]');
  });
});

describe('decideAdmission with policies in warn or audit mode', () => {
  const warned = (image: string, reasons: string[]): Answer => ({
    allowed: true,
    digest: null,
    wouldDeny: reasons.map((reason) => ({ mode: 'warn' as const, code: 'TRUST_NO_SIGNED_TARGET', reason: `${image}: ${reason}` })),
  });

  describe('when a warn policy failed', () => {
    it('admits, patches nothing and returns the reason as a warning', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: warned(`${APP}:v1`, ['no signed target']) });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify);
      expect(decision.outcome).toBe('allowed');
      expect(decision.review.response.patch).toBeUndefined();
      expect(decision.review.response.warnings).toEqual([`trustgate warn: [TRUST_NO_SIGNED_TARGET] ${APP}:v1: no signed target`]);
    });
  });

  describe('when an audit policy failed', () => {
    it('admits without warnings', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: { allowed: true, digest: null, wouldDeny: [{ mode: 'audit', code: 'TRUST_NO_SIGNED_TARGET', reason: 'x' }] } });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify);
      expect(decision.outcome).toBe('allowed');
      expect(decision.review.response.warnings).toBeUndefined();
    });
  });

  describe('when the warnings are many, long or hold control characters', () => {
    it('bounds their count and length and replaces control characters', async () => {
      const reasons = Array.from({ length: 40 }, (_, index) => `reason ${index} \u001b[31m${'x'.repeat(1000)}\n`);
      const { verify } = fakeVerify({ [`${APP}:v1`]: warned(`${APP}:v1`, reasons) });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }))), verify);
      const warnings = decision.review.response.warnings ?? [];
      expect(warnings).toHaveLength(8);
      expect(warnings.at(-1)).toContain('33 more');
      for (const warning of warnings) {
        expect(warning.length).toBeLessThanOrEqual(256);
        expect([...warning].filter((char) => char.charCodeAt(0) < 0x20)).toEqual([]);
      }
    });
  });

  describe('when another image is denied', () => {
    it('denies and still returns the warn failures as warnings', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: warned(`${APP}:v1`, ['no signed target']), [`${TOOLS}:1`]: deniedWith(`${TOOLS}:1`, 'TRUST_NO_SIGNED_TARGET', 'unsigned') });
      const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] });
      const decision = await decide(reviewFor('Pod', objectOfKind('Pod', spec)), verify);
      expect(decision.outcome).toBe('denied');
      expect(decision.review.response.status.message).toContain(`${TOOLS}:1`);
      expect(decision.review.response.warnings).toHaveLength(1);
    });
  });
});

describe('decideAdmission with answers from memory', () => {
  const noTimer = (): BudgetTimer => {
    throw new Error('the budget timer was started');
  };
  const decoded = (spec: ReturnType<typeof podSpec>, options: Parameters<typeof reviewFor>[2] = {}) => {
    const result = decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', spec), options));
    if (result.kind !== 'check') throw new Error(`expected a review to check, got ${result.kind}`);
    return result;
  };
  const known = (answers: Readonly<Record<string, Answer>>) => (image: string): VerifyImageResponse | undefined => {
    const answer = answers[image];
    return answer === undefined || typeof answer === 'string' ? undefined : { allowed: true, image, digest: null, reasons: [], codes: [], signers: [], mutateImage: true, policy: null, ...answer };
  };

  describe('when every image is known', () => {
    it('decides without starting the budget timer or calling verify', async () => {
      const { verify, calls } = fakeVerify({});
      const spec = podSpec({ initContainers: [{ name: 'setup', image: `${TOOLS}:1` }], containers: [{ name: 'app', image: `${APP}:v1` }] });
      const decision = await decideAdmission(
        { verify, known: known({ [`${APP}:v1`]: signedAs(DIGEST_A), [`${TOOLS}:1`]: signedAs(DIGEST_B) }), budgetMs: 8_000, startTimer: noTimer },
        decoded(spec),
      );
      expect(calls).toEqual([]);
      expect(decision.outcome).toBe('allowed');
      expect(imagesOf(applyReplacePatch(objectOfKind('Pod', spec), patchOf(decision.review)), ['spec'])).toEqual({
        initContainers: [`${TOOLS}@${DIGEST_B}`],
        containers: [`${APP}@${DIGEST_A}`],
      });
    });

    it('patches each review from memory by its own containers, whatever reviews of the same answers came before', async () => {
      const { verify } = fakeVerify({});
      // The same answer objects for every review, as a verifier's memory gives them.
      const answers = {
        [`${APP}:v1`]: known({ [`${APP}:v1`]: signedAs(DIGEST_A) })(`${APP}:v1`), [`${TOOLS}:1`]: known({ [`${TOOLS}:1`]: signedAs(DIGEST_B) })(`${TOOLS}:1`),
        [`${TOOLS}@${DIGEST_B}`]: known({ [`${TOOLS}@${DIGEST_B}`]: signedAs(DIGEST_B) })(`${TOOLS}@${DIGEST_B}`),
      };
      const deps = { verify, known: (image: string) => answers[image], budgetMs: 8_000, startTimer: noTimer };
      const specs = [
        podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] }),
        podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] }),
        podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'copy', image: `${APP}:v1` }] }),
        podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'pinned', image: `${TOOLS}@${DIGEST_B}` }] }),
        podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] }),
      ];
      const expected = [
        [`${APP}@${DIGEST_A}`, `${TOOLS}@${DIGEST_B}`],
        [`${APP}@${DIGEST_A}`],
        [`${APP}@${DIGEST_A}`, `${APP}@${DIGEST_A}`],
        [`${APP}@${DIGEST_A}`, `${TOOLS}@${DIGEST_B}`],
        [`${APP}@${DIGEST_A}`, `${TOOLS}@${DIGEST_B}`],
      ];
      for (const [index, spec] of specs.entries()) {
        const decision = await decideAdmission(deps, decoded(spec));
        expect(imagesOf(applyReplacePatch(objectOfKind('Pod', spec), patchOf(decision.review)), ['spec'])['containers']).toEqual(expected[index]);
      }
    });

    it('denies a known denial like a verified one', async () => {
      const { verify } = fakeVerify({});
      const decision = await decideAdmission(
        { verify, known: known({ [`${APP}:v1`]: deniedWith(`${APP}:v1`, 'POLICY_NO_MATCH', 'no policy') }), budgetMs: 8_000, startTimer: noTimer },
        decoded(podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] })),
      );
      expect(decision.outcome).toBe('denied');
      expect(decision.review.response.status.message).toContain('[POLICY_NO_MATCH]');
    });
  });

  describe('when only some images are known', () => {
    it('verifies the others within the budget and decides over all of them', async () => {
      const { verify, calls } = fakeVerify({ [`${TOOLS}:1`]: signedAs(DIGEST_B) });
      const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] });
      const decision = await decideAdmission({ verify, known: known({ [`${APP}:v1`]: signedAs(DIGEST_A) }), budgetMs: 8_000, startTimer: neverExpires }, decoded(spec));
      expect(calls).toEqual([`default:${TOOLS}:1`]);
      expect(decision.verdicts.map((verdict) => verdict.result?.digest)).toEqual([DIGEST_A, DIGEST_B]);
      expect(decision.outcome).toBe('allowed');
    });

    it('names only the unknown image as pending when the budget runs out', async () => {
      const { verify } = fakeVerify({ [`${TOOLS}:1`]: 'hang' });
      const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'tools', image: `${TOOLS}:1` }] });
      const decision = await decideAdmission({ verify, known: known({ [`${APP}:v1`]: signedAs(DIGEST_A) }), budgetMs: 50, startTimer: expiresNow }, decoded(spec));
      expect(decision.outcome).toBe('timeout');
      expect(decision.review.response.status.message).toContain(`before ${TOOLS}:1 could be verified`);
    });
  });

  describe('when the workload has pull secrets', () => {
    const spec = podSpec({ containers: [{ name: 'app', image: `${APP}:v1` }] });

    it('denies every image with PULL_SECRETS_UNAVAILABLE when a source in memory fails, known or not', async () => {
      const { verify, calls } = fakeVerify({ [`${APP}:v1`]: signedAs(DIGEST_A) });
      const pullSecrets = (): never => {
        throw new Error('secret store exploded with details');
      };
      const decision = await decideAdmission({ verify, known: known({ [`${APP}:v1`]: signedAs(DIGEST_A) }), budgetMs: 8_000, startTimer: noTimer, pullSecrets }, decoded(spec));
      expect(calls).toEqual([]);
      expect(decision.outcome).toBe('denied');
      expect(decision.verdicts[0]?.result?.codes).toEqual(['PULL_SECRETS_UNAVAILABLE']);
      expect(decision.review.response.status.message).not.toContain('details');
    });

    it('denies every image with PULL_SECRETS_UNAVAILABLE when a source that reads them fails', async () => {
      const { verify, calls } = fakeVerify({ [`${APP}:v1`]: signedAs(DIGEST_A) });
      const pullSecrets = (): Promise<never> => Promise.reject(new Error('API server exploded with details'));
      const decision = await decideAdmission({ verify, known: known({ [`${APP}:v1`]: signedAs(DIGEST_A) }), budgetMs: 8_000, startTimer: neverExpires, pullSecrets }, decoded(spec));
      expect(calls).toEqual([]);
      expect(decision.verdicts[0]?.result?.codes).toEqual(['PULL_SECRETS_UNAVAILABLE']);
    });

    it('counts reading them from a source that reads them against the budget', async () => {
      const { verify, calls } = fakeVerify({});
      let read = false;
      const pullSecrets = async (): Promise<readonly []> => {
        await new Promise((resolve) => setImmediate(resolve));
        read = true;
        return [];
      };
      const decision = await decideAdmission({ verify, known: () => undefined, budgetMs: 8_000, startTimer: expiresNow, pullSecrets }, decoded(spec));
      // The budget (already spent here) covers reading the pull secrets too.
      expect(read).toBe(false);
      expect(decision.outcome).toBe('timeout');
      expect(calls).toEqual([]);
    });

    it('asks for the answer from memory with the credentials verify would be given', async () => {
      const { verify } = fakeVerify({ [`${APP}:v1`]: signedAs(DIGEST_A) });
      const entries: readonly PullSecretEntry[] = [{ key: 'registry.example.com', source: 'Secret team/regcred', credential: { username: 'puller', password: 'pw' } }];
      const asked: (readonly PullSecretEntry[] | undefined)[] = [];
      const remembered = known({ [`${APP}:v1`]: signedAs(DIGEST_A) });
      const decision = await decideAdmission(
        {
          verify,
          known: (image, _namespace, credentials) => {
            asked.push(credentials);
            return remembered(image);
          },
          budgetMs: 8_000,
          startTimer: noTimer,
          pullSecrets: () => entries,
        },
        decoded(spec),
      );
      expect(decision.outcome).toBe('allowed');
      expect(asked).toEqual([entries]);
    });
  });
});
