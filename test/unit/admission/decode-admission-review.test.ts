import { describe, expect, it } from 'vitest';
import type { DecodedReview } from '../../../shared/admission/admission-review.js';
import { decodeAdmissionReview } from '../../../shared/admission/decode-admission-review.js';
import { escapePointerToken, toJsonPointer } from '../../../shared/admission/json-patch.js';
import { parseJsonBytesInPlace } from '../../../shared/json.js';
import { KINDS, POD_SPEC_PATHS, loadCapture, objectOfKind, podSpec, reviewFor, type Json } from '../../support/admission-reviews.js';

const IMAGE = 'registry.test:5000/team/app:v1';

function expectKind<K extends DecodedReview['kind']>(decoded: DecodedReview, kind: K): Extract<DecodedReview, { kind: K }> {
  expect(decoded.kind, JSON.stringify(decoded)).toBe(kind);
  return decoded as Extract<DecodedReview, { kind: K }>;
}

describe('decodeAdmissionReview', () => {
  describe('when the review is a real captured one', () => {
    it.each(['podCreate', 'podCreateDryRun', 'deploymentCreate'] as const)('decodes %s into the images to check', (name) => {
      const capture = loadCapture(name);
      const decoded = expectKind(decodeAdmissionReview(capture), 'check');
      const request = capture['request'] as { uid: string };
      expect(decoded.request.uid).toBe(request.uid);
      expect(decoded.request.namespace).toBe('default');
      expect(decoded.containers.map((c) => c.name)).toEqual(['app']);
      expect(decoded.containers[0]?.image).toMatch(/^127\.0\.0\.1:5000\/lab\/signed/);
    });

    it('decodes the captured UPDATE, whose image the old object already held, as unchecked', () => {
      const decoded = expectKind(decodeAdmissionReview(loadCapture('podUpdate')), 'unchecked');
      expect(decoded.request).toMatchObject({ uid: '137d3bea-87c2-44aa-a6a2-bc317c5a2032', namespace: 'default', operation: 'UPDATE' });
      expect(decoded.reason).toBe('operation UPDATE changes no image (1 image unchanged from the old object)');
      expect(decoded.unchanged?.map((c) => [c.name, c.image, c.pointer])).toEqual([['app', '127.0.0.1:5000/lab/signed:v1', '/spec/containers/0/image']]);
    });

    it('reads dryRun and the operation', () => {
      expect(expectKind(decodeAdmissionReview(loadCapture('podCreateDryRun')), 'check').request).toMatchObject({ dryRun: true, operation: 'CREATE' });
      expect(expectKind(decodeAdmissionReview(loadCapture('podUpdate')), 'unchecked').request).toMatchObject({ dryRun: false, operation: 'UPDATE' });
    });
  });

  describe('for each admitted kind', () => {
    it.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('finds the pod spec of a %s and points at every image', (kindName) => {
      const spec = podSpec({
        initContainers: [{ name: 'setup', image: 'busybox:1' }],
        containers: [{ name: 'app', image: IMAGE }, { name: 'side', image: 'nginx' }],
        ephemeralContainers: [{ name: 'debug', image: 'alpine' }],
      });
      const decoded = expectKind(decodeAdmissionReview(reviewFor(kindName, objectOfKind(kindName, spec))), 'check');
      const base = toJsonPointer(POD_SPEC_PATHS[kindName]);
      expect(decoded.containers).toEqual([
        { list: 'initContainers', index: 0, name: 'setup', image: 'busybox:1', pointer: `${base}/initContainers/0/image` },
        { list: 'containers', index: 0, name: 'app', image: IMAGE, pointer: `${base}/containers/0/image` },
        { list: 'containers', index: 1, name: 'side', image: 'nginx', pointer: `${base}/containers/1/image` },
        { list: 'ephemeralContainers', index: 0, name: 'debug', image: 'alpine', pointer: `${base}/ephemeralContainers/0/image` },
      ]);
    });
  });

  describe('when a template holds an image field that only a Pod refuses', () => {
    const TEMPLATE_KINDS = (Object.keys(KINDS) as (keyof typeof KINDS)[]).filter((kind) => kind !== 'Pod');

    it.each(TEMPLATE_KINDS)('passes over the placeholder image " " of a %s and checks the rest', (kindName) => {
      const spec = podSpec({ containers: [{ name: 'triggered', image: ' ' }, { name: 'app', image: IMAGE }], initContainers: [{ name: 'setup', image: ' busybox:1\t' }] });
      const decoded = expectKind(decodeAdmissionReview(reviewFor(kindName, objectOfKind(kindName, spec))), 'check');
      expect(decoded.containers.map((container) => [container.name, container.pointer])).toEqual([['app', `${toJsonPointer(POD_SPEC_PATHS[kindName])}/containers/1/image`]]);
    });

    it('passes over a template\'s image volume without a reference, or with a padded one', () => {
      const spec = podSpec({ containers: [{ name: 'app', image: IMAGE }] });
      spec['volumes'] = [{ name: 'empty', image: {} }, { name: 'blank', image: { reference: '' } }, { name: 'padded', image: { reference: ' tools:1' } }];
      const decoded = expectKind(decodeAdmissionReview(reviewFor('Deployment', objectOfKind('Deployment', spec))), 'check');
      expect(decoded.containers.map((container) => container.name)).toEqual(['app']);
    });

    it('still refuses a template\'s image volume whose image is no object', () => {
      const spec = podSpec({ containers: [{ name: 'app', image: IMAGE }] });
      spec['volumes'] = [{ name: 'flat', image: 'tools:1' }];
      expect(expectKind(decodeAdmissionReview(reviewFor('Deployment', objectOfKind('Deployment', spec))), 'reject').reason).toContain('request.object.spec.template.spec.volumes[0].image.reference');
    });

    it('keeps the same fields of a Pod, to be checked and refused as the API server refuses them', () => {
      const padded = expectKind(decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: ' ' }] })))), 'check');
      expect(padded.containers.map((container) => container.image)).toEqual([' ']);
      const spec = podSpec({ containers: [{ name: 'app', image: IMAGE }] });
      spec['volumes'] = [{ name: 'empty', image: {} }];
      expect(expectKind(decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', spec))), 'reject').reason).toContain('request.object.spec.volumes[0].image.reference');
    });

    it('checks a template image that Go\'s TrimSpace leaves as it is (a leading U+FEFF), and refuses an empty one', () => {
      const bom = expectKind(decodeAdmissionReview(reviewFor('Deployment', objectOfKind('Deployment', podSpec({ containers: [{ name: 'app', image: '\ufeffnginx' }] })))), 'check');
      expect(bom.containers.map((container) => container.image)).toEqual(['\ufeffnginx']);
      const empty = expectKind(decodeAdmissionReview(reviewFor('Deployment', objectOfKind('Deployment', podSpec({ containers: [{ name: 'app', image: '' }] })))), 'reject');
      expect(empty.reason).toContain('request.object.spec.template.spec.containers[0].image');
    });
  });

  describe('when the request is the pods/ephemeralcontainers subresource', () => {
    it('checks only the ephemeral containers of the Pod', () => {
      const spec = podSpec({ containers: [{ name: 'app', image: IMAGE }], ephemeralContainers: [{ name: 'debug', image: 'alpine:3' }] });
      const review = reviewFor('Pod', objectOfKind('Pod', spec), { capture: 'podUpdate', subResource: 'ephemeralcontainers' });
      const decoded = expectKind(decodeAdmissionReview(review), 'check');
      expect(decoded.containers.map((c) => [c.name, c.pointer])).toEqual([['debug', '/spec/ephemeralContainers/0/image']]);
    });

    it('reads the EphemeralContainers object older API servers send', () => {
      const review = reviewFor('Pod', { kind: 'EphemeralContainers', apiVersion: 'v1', ephemeralContainers: [{ name: 'debug', image: 'alpine:3' }] }, {
        subResource: 'ephemeralcontainers',
      });
      ((review['request'] as Record<string, unknown>)['kind'] as Record<string, unknown>)['kind'] = 'EphemeralContainers';
      const decoded = expectKind(decodeAdmissionReview(review), 'check');
      expect(decoded.containers.map((c) => c.pointer)).toEqual(['/ephemeralContainers/0/image']);
    });
  });

  describe('when the request is an UPDATE', () => {
    const update = (kindName: keyof typeof KINDS, lists: Parameters<typeof podSpec>[0], old: Json, options: { subResource?: string; dryRun?: boolean } = {}): DecodedReview =>
      decodeAdmissionReview(reviewFor(kindName, objectOfKind(kindName, podSpec(lists)), { capture: 'podUpdate', oldObject: old, ...options }));
    const oldOf = (kindName: keyof typeof KINDS, lists: Parameters<typeof podSpec>[0]): Json => objectOfKind(kindName, podSpec(lists));

    it.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('checks only the images a %s did not already hold, at their own pointers', (kindName) => {
      const old = oldOf(kindName, { initContainers: [{ name: 'setup', image: 'busybox:1' }], containers: [{ name: 'app', image: IMAGE }] });
      const decoded = expectKind(update(kindName, { initContainers: [{ name: 'setup', image: 'busybox:1' }], containers: [{ name: 'app', image: `${IMAGE}-next` }] }, old), 'check');
      const base = toJsonPointer(POD_SPEC_PATHS[kindName]);
      expect(decoded.containers).toEqual([{ list: 'containers', index: 0, name: 'app', image: `${IMAGE}-next`, pointer: `${base}/containers/0/image` }]);
      expect(decoded.unchanged).toEqual([{ list: 'initContainers', index: 0, name: 'setup', image: 'busybox:1', pointer: `${base}/initContainers/0/image` }]);
    });

    it.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('answers a %s whose every image is unchanged unchecked, naming them', (kindName) => {
      const lists = { containers: [{ name: 'app', image: IMAGE }, { name: 'side', image: IMAGE }], volumes: [{ name: 'data', image: 'tools:1' }] };
      const decoded = expectKind(update(kindName, lists, oldOf(kindName, lists)), 'unchecked');
      expect(decoded.reason).toBe('operation UPDATE changes no image (2 images unchanged from the old object)');
      expect(decoded.unchanged?.map((c) => c.name)).toEqual(['app', 'side', 'data']);
    });

    it('counts an image as held only by the same item of the same list: another list or a new item is checked', () => {
      const old = oldOf('Pod', { initContainers: [{ name: 'setup', image: 'busybox:1' }], containers: [{ name: 'app', image: IMAGE }], volumes: [{ name: 'data', image: 'tools:1' }] });
      const lists = {
        initContainers: [{ name: 'setup', image: 'busybox:1' }],
        containers: [{ name: 'app', image: IMAGE }, { name: 'copy', image: 'busybox:1' }],
        volumes: [{ name: 'data', image: 'tools:1' }],
      };
      const decoded = expectKind(update('Pod', lists, old), 'check');
      // `copy` is new, though the old init container `setup` held its string.
      expect(decoded.containers.map((c) => c.name)).toEqual(['copy']);
      expect(decoded.unchanged?.map((c) => c.name)).toEqual(['setup', 'app', 'data']);
    });

    it('checks an ephemeral container added with the image string an app container holds (a tag may name another digest by now)', () => {
      const old = oldOf('Pod', { containers: [{ name: 'app', image: IMAGE }] });
      const lists = { containers: [{ name: 'app', image: IMAGE }], ephemeralContainers: [{ name: 'debug', image: IMAGE }] };
      const decoded = expectKind(update('Pod', lists, old, { subResource: 'ephemeralcontainers' }), 'check');
      expect(decoded.containers.map((c) => [c.name, c.pointer])).toEqual([['debug', '/spec/ephemeralContainers/0/image']]);
    });

    it('checks an image whose string changed, even to another spelling of the same reference', () => {
      const old = oldOf('Pod', { containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: `${IMAGE}@sha256:${'a'.repeat(64)}` }] });
      const lists = { containers: [{ name: 'a', image: 'docker.io/library/nginx:latest' }, { name: 'b', image: IMAGE }] };
      const decoded = expectKind(update('Pod', lists, old), 'check');
      expect(decoded.containers.map((c) => c.image)).toEqual(['docker.io/library/nginx:latest', IMAGE]);
      expect(decoded.unchanged).toBeUndefined();
    });

    it('does not count an image string the old object held outside the image fields of its pod spec', () => {
      const old = oldOf('Deployment', { containers: [{ name: 'app', image: 'nginx' }] }) as Record<string, Json>;
      old['metadata'] = { name: 'hello', annotations: { image: IMAGE }, labels: { image: IMAGE } };
      (old['spec'] as Record<string, Json>)['image'] = IMAGE;
      expect(expectKind(update('Deployment', { containers: [{ name: 'app', image: IMAGE }] }, old), 'check').containers.map((c) => c.image)).toEqual([IMAGE]);
      // Nor one held by another pod spec path (a Pod's spec where a Deployment keeps its template).
      expect(expectKind(update('Deployment', { containers: [{ name: 'app', image: IMAGE }] }, oldOf('Pod', { containers: [{ name: 'app', image: IMAGE }] })), 'check').containers).toHaveLength(1);
    });

    it('checks only the ephemeral containers added on pods/ephemeralcontainers', () => {
      const old = oldOf('Pod', { containers: [{ name: 'app', image: IMAGE }], ephemeralContainers: [{ name: 'debug-1', image: 'alpine:3' }] });
      const lists = { containers: [{ name: 'app', image: IMAGE }], ephemeralContainers: [{ name: 'debug-1', image: 'alpine:3' }, { name: 'debug-2', image: 'busybox:1' }] };
      const decoded = expectKind(update('Pod', lists, old, { subResource: 'ephemeralcontainers' }), 'check');
      expect(decoded.containers.map((c) => [c.name, c.pointer])).toEqual([['debug-2', '/spec/ephemeralContainers/1/image']]);
      expect(decoded.unchanged?.map((c) => c.name)).toEqual(['debug-1']);
    });

    it('gives a dry run the same reading', () => {
      const lists = { containers: [{ name: 'app', image: IMAGE }] };
      expectKind(update('Pod', lists, oldOf('Pod', lists), { dryRun: true }), 'unchecked');
    });

    describe('when the old object is missing or does not decode', () => {
      const lists = { containers: [{ name: 'app', image: IMAGE }, { name: 'side', image: 'nginx' }] };
      const heldBoth = (): Record<string, Json> => oldOf('Pod', lists) as Record<string, Json>;
      const oldSpec = (old: Record<string, Json>): Record<string, Json> => old['spec'] as Record<string, Json>;
      it.each<[string, () => Json]>([
        ['missing', () => null],
        ['not an object', () => 'old'],
        ['without a pod spec', () => ({ metadata: { name: 'hello' } })],
        ['with an image that is not a string', () => {
          const old = heldBoth();
          (oldSpec(old)['containers'] as Record<string, Json>[]).push({ name: 'bad', image: 42 });
          return old;
        }],
        ['with a list that is not an array', () => {
          const old = heldBoth();
          oldSpec(old)['initContainers'] = { name: 'x', image: IMAGE };
          return old;
        }],
        ['with more images than a review may hold', () => {
          const old = heldBoth();
          oldSpec(old)['initContainers'] = Array.from({ length: 1025 }, (_, index) => ({ name: `i${index}`, image: IMAGE }));
          return old;
        }],
      ])('checks every image when it is %s', (_label, old) => {
        const decoded = expectKind(update('Pod', lists, old()), 'check');
        expect(decoded.containers.map((c) => c.name)).toEqual(['app', 'side']);
        expect(decoded.unchanged).toBeUndefined();
      });

      it('checks every image when the review has no oldObject member at all', () => {
        const review = reviewFor('Pod', objectOfKind('Pod', podSpec(lists)), { capture: 'podUpdate' });
        delete (review['request'] as Record<string, Json>)['oldObject'];
        expect(expectKind(decodeAdmissionReview(review), 'check').containers).toHaveLength(2);
      });
    });

    it('still rejects a malformed object whatever the old object held', () => {
      const old = oldOf('Pod', { containers: [{ name: 'app', image: IMAGE }] });
      const review = reviewFor('Pod', objectOfKind('Pod', { containers: [{ name: 'app', image: IMAGE }, { name: 'bad', image: 7 }] }), { capture: 'podUpdate', oldObject: old });
      expect(expectKind(decodeAdmissionReview(review), 'reject').reason).toContain('request.object.spec.containers[1].image');
    });
  });

  describe('when the request is a CREATE carrying an oldObject', () => {
    it('ignores the oldObject and checks every image', () => {
      const lists = { containers: [{ name: 'app', image: IMAGE }] };
      const review = reviewFor('Pod', objectOfKind('Pod', podSpec(lists)), { oldObject: objectOfKind('Pod', podSpec(lists)) });
      const decoded = expectKind(decodeAdmissionReview(review), 'check');
      expect(decoded.containers.map((c) => c.image)).toEqual([IMAGE]);
      expect(decoded.unchanged).toBeUndefined();
    });
  });

  describe('when the operation brings no new image', () => {
    it.each(['DELETE', 'CONNECT'])('answers %s unchecked', (operation) => {
      const decoded = expectKind(decodeAdmissionReview(reviewFor('Pod', null, { operation })), 'unchecked');
      expect(decoded.reason).toContain(operation);
    });

    it('answers the status subresource unchecked', () => {
      expectKind(decodeAdmissionReview(reviewFor('Deployment', {}, { subResource: 'status', capture: 'podUpdate' })), 'unchecked');
    });
  });

  describe('when the review cannot be judged', () => {
    it('rejects an unknown kind', () => {
      const review = reviewFor('Pod', {});
      (review['request'] as Record<string, unknown>)['kind'] = { group: '', version: 'v1', kind: 'ConfigMap' };
      expect(expectKind(decodeAdmissionReview(review), 'reject').reason).toContain('v1/ConfigMap');
    });

    it('rejects a version the webhook does not register', () => {
      const review = reviewFor('Deployment', objectOfKind('Deployment', podSpec({ containers: [{ name: 'a', image: IMAGE }] })));
      (review['request'] as Record<string, unknown>)['kind'] = { group: 'apps', version: 'v1beta1', kind: 'Deployment' };
      expectKind(decodeAdmissionReview(review), 'reject');
    });

    it('rejects an unknown subresource', () => {
      expectKind(decodeAdmissionReview(reviewFor('Pod', {}, { subResource: 'exec-into-me' })), 'reject');
    });

    it('rejects an unknown operation', () => {
      expectKind(decodeAdmissionReview(reviewFor('Pod', {}, { operation: 'PATCH' })), 'reject');
    });

    it('rejects a missing uid, echoing an empty one', () => {
      const review = loadCapture('podCreate');
      delete (review['request'] as Record<string, unknown>)['uid'];
      const decoded = expectKind(decodeAdmissionReview(review), 'reject');
      expect(decoded.uid).toBe('');
      expect(decoded.reason).toContain('request.uid');
    });

    it('names every bad field path of a malformed object at once', () => {
      const spec = { containers: [{ name: 'app', image: 42 }, 'not-a-container'], initContainers: 'nope' };
      const decoded = expectKind(decodeAdmissionReview(reviewFor('Deployment', objectOfKind('Deployment', spec))), 'reject');
      expect(decoded.uid).toBe('5aac83b0-0542-4e24-ac2c-0cc6a07f38a3');
      expect(decoded.reason).toContain('request.object.spec.template.spec.containers[0].image');
      expect(decoded.reason).toContain('request.object.spec.template.spec.containers[1]');
      expect(decoded.reason).toContain('request.object.spec.template.spec.initContainers');
    });

    it('rejects an object without the pod spec of its kind', () => {
      const decoded = expectKind(decodeAdmissionReview(reviewFor('CronJob', { spec: { jobTemplate: {} } })), 'reject');
      expect(decoded.reason).toContain('request.object.spec.jobTemplate.spec');
    });

    it('rejects a missing object', () => {
      expectKind(decodeAdmissionReview(reviewFor('Pod', null)), 'reject');
    });
  });

  describe('when the body is not an AdmissionReview v1', () => {
    it.each([
      ['a string', 'hello'],
      ['an array', []],
      ['the v1beta1 API', { ...loadCapture('podCreate'), apiVersion: 'admission.k8s.io/v1beta1' }],
      ['another kind', { ...loadCapture('podCreate'), kind: 'Pod' }],
      ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    ])('says it is not a review for %s', (_label, body) => {
      expectKind(decodeAdmissionReview(body), 'not-a-review');
    });
  });
});

describe('decodeAdmissionReview reading a review parsed in place', () => {
  const decodeText = (text: string): DecodedReview => decodeAdmissionReview(parseJsonBytesInPlace(new TextEncoder().encode(text)));
  const review = (spec: string): string => JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: IMAGE }] })))).replace('"spec":{', spec);

  it('reads only the containers the pod spec holds, not those under a __proto__ member', () => {
    const decoded = expectKind(decodeText(review('"spec":{"__proto__":{"containers":[{"name":"hidden","image":"x/y:1"}]},')), 'check');
    expect(decoded.containers.map((container) => [container.name, container.image])).toEqual([['app', IMAGE]]);
  });

  it('takes nothing a review lacks from Object.prototype', () => {
    const text = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { __hidden: 1 } }).replace('"__hidden"', '"__proto__"');
    const decoded = expectKind(decodeText(text), 'reject');
    expect(decoded.reason).toContain('request.uid: must be a non-empty string');
    expect(decoded.reason).toContain('request.kind: must be an object');
  });

  it('decodes containers named like properties of Object.prototype as data', () => {
    const text = JSON.stringify(reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: ['constructor', 'toString', 'PROTO'].map((name) => ({ name, image: IMAGE })) })))).replaceAll('"PROTO"', '"__proto__"');
    const decoded = expectKind(decodeText(text), 'check');
    expect(decoded.containers.map((container) => container.name)).toEqual(['constructor', 'toString', '__proto__']);
  });
});

describe('escapePointerToken', () => {
  it('escapes ~ before / as RFC 6901 requires', () => {
    expect(escapePointerToken('a/b~c~1')).toBe('a~1b~0c~01');
    expect(toJsonPointer(['spec', 'containers', 0, 'image'])).toBe('/spec/containers/0/image');
  });
});

describe('decodeAdmissionReview reading where the workload\'s pull secrets are', () => {
  it('reads the pod spec\'s imagePullSecrets names and service account, of a Pod and of a template', () => {
    for (const kindName of ['Pod', 'Deployment'] as const) {
      const spec = { ...podSpec({ containers: [{ name: 'app', image: 'nginx' }] }), imagePullSecrets: [{ name: 'regcred' }, {}, { name: 'other' }], serviceAccountName: 'builder' };
      const decoded = expectKind(decodeAdmissionReview(reviewFor(kindName, objectOfKind(kindName, spec))), 'check');
      expect(decoded.pullSecrets).toEqual({ imagePullSecrets: ['regcred', 'other'], serviceAccount: 'builder' });
    }
  });

  it('uses the default service account when the pod names none', () => {
    const spec = { ...podSpec({ containers: [{ name: 'app', image: 'nginx' }] }) };
    delete spec['serviceAccountName'];
    delete spec['serviceAccount'];
    const decoded = expectKind(decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', spec))), 'check');
    expect(decoded.pullSecrets?.serviceAccount).toBe('default');
  });

  it('rejects a pull secret reference that is not a Secret name, and an endless list', () => {
    const bad = { ...podSpec({ containers: [{ name: 'app', image: 'nginx' }] }), imagePullSecrets: [{ name: '../x' }] };
    expectKind(decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', bad))), 'reject');
    const endless = { ...podSpec({ containers: [{ name: 'app', image: 'nginx' }] }), imagePullSecrets: Array.from({ length: 1000 }, (_, index) => ({ name: `s${index}` })) };
    expectKind(decodeAdmissionReview(reviewFor('Pod', objectOfKind('Pod', endless))), 'reject');
  });
});
