import { describe, expect, it } from 'vitest';
import type { BudgetTimer, VerifyImageFn } from '../../../shared/admission/decide-admission.js';
import { decideAdmission } from '../../../shared/admission/decide-admission.js';
import { decodeAdmissionReview } from '../../../shared/admission/decode-admission-review.js';
import { POD_IMAGE_FIELDS } from '../../../shared/admission/pod-image-fields.js';
import { KINDS, POD_SPEC_PATHS, applyReplacePatch, objectOfKind, reviewFor, type Json } from '../../support/admission-reviews.js';

// Every field of a Kubernetes pod spec (core/v1 PodSpec, as of Kubernetes 1.33) whose value
// is an image the kubelet pulls: `list[].path`. Written out here, independently of the
// product's table, so the table cannot lose a field unnoticed; when Kubernetes adds one, add
// it here first and this suite fails until the product verifies it.
const KUBERNETES_POD_IMAGE_FIELDS = [
  'initContainers[].image',
  'containers[].image',
  'ephemeralContainers[].image',
  'volumes[].image.reference',
];

const DIGEST = `sha256:${'d'.repeat(64)}`;
const neverExpires = (): BudgetTimer => ({ expired: new Promise<void>(() => undefined), cancel: () => undefined });

// A pod spec with one distinct tagged image in every known image field, next to a volume of
// another type that names no image.
function specWithEveryImageField(): { spec: Record<string, Json>; images: string[] } {
  const spec: Record<string, Json> = { volumes: [{ name: 'config', configMap: { name: 'settings' } }] };
  const images: string[] = [];
  for (const field of KUBERNETES_POD_IMAGE_FIELDS) {
    const [list = '', path = ''] = field.split('[].');
    const image = `registry.test/pod-fields/${list.toLowerCase()}:v1`;
    images.push(image);
    let item: Record<string, Json> = { name: `${list}-item` };
    const segments = path.split('.').reverse();
    let value: Json = image;
    for (const segment of segments.slice(0, -1)) value = { [segment]: value };
    item = { ...item, [segments.at(-1) ?? '']: value };
    const existing = spec[list];
    spec[list] = [...(Array.isArray(existing) ? existing : []), item];
  }
  return { spec, images };
}

describe('the table of pod spec image fields', () => {
  it('lists exactly the image fields Kubernetes defines', () => {
    expect(POD_IMAGE_FIELDS.map((field) => `${field.list}[].${field.imagePath.join('.')}`)).toEqual(KUBERNETES_POD_IMAGE_FIELDS);
  });

  describe.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('for a %s carrying an image in every field', (kindName) => {
    it('verifies every image and pins each at its own field', async () => {
      const { spec, images } = specWithEveryImageField();
      const object = objectOfKind(kindName, spec);
      const decoded = decodeAdmissionReview(JSON.parse(JSON.stringify(reviewFor(kindName, object))));
      if (decoded.kind !== 'check') throw new Error(`expected a review to check, got ${decoded.kind}`);
      const verified: string[] = [];
      const verify: VerifyImageFn = (image) => {
        verified.push(image);
        return Promise.resolve({ allowed: true, image, digest: DIGEST, reasons: [], codes: [], signers: ['targets'], mutateImage: true, policy: null });
      };
      const decision = await decideAdmission({ verify, budgetMs: 8_000, startTimer: neverExpires }, decoded);

      expect(decision.outcome).toBe('allowed');
      expect(verified.sort()).toEqual([...images].sort());
      const patched = applyReplacePatch(object, decision.review.response.patch ?? '') as Record<string, Json>;
      let patchedSpec: Json = patched;
      for (const segment of POD_SPEC_PATHS[kindName]) patchedSpec = (patchedSpec as Record<string, Json>)[segment] as Json;
      expect(JSON.stringify(patchedSpec)).not.toMatch(/:v1"/);
      expect(JSON.stringify(patchedSpec).split(`@${DIGEST}`).length - 1).toBe(images.length);
    });

    it('denies naming the field of an image that fails', async () => {
      const { spec } = specWithEveryImageField();
      const decoded = decodeAdmissionReview(JSON.parse(JSON.stringify(reviewFor(kindName, objectOfKind(kindName, spec)))));
      if (decoded.kind !== 'check') throw new Error(`expected a review to check, got ${decoded.kind}`);
      const verify: VerifyImageFn = (image) =>
        Promise.resolve(
          image.includes('/volumes:')
            ? { allowed: false, image, digest: null, reasons: [`${image}: no trust data`], codes: ['TRUST_DATA_NOT_FOUND'], signers: [] }
            : { allowed: true, image, digest: DIGEST, reasons: [], codes: [], signers: ['targets'], mutateImage: true, policy: null },
        );
      const decision = await decideAdmission({ verify, budgetMs: 8_000, startTimer: neverExpires }, decoded);
      expect(decision.outcome).toBe('denied');
      expect(decision.review.response.status.message).toContain('image volume "volumes-item" image registry.test/pod-fields/volumes:v1: [TRUST_DATA_NOT_FOUND]');
    });
  });

  describe('when an image volume names no reference', () => {
    it('rejects the review at that field instead of skipping the volume', () => {
      const object = objectOfKind('Pod', { containers: [{ name: 'app', image: 'registry.test/app:v1' }], volumes: [{ name: 'tools', image: { pullPolicy: 'Always' } }] });
      const decoded = decodeAdmissionReview(JSON.parse(JSON.stringify(reviewFor('Pod', object))));
      expect(decoded).toMatchObject({ kind: 'reject', reason: expect.stringContaining('request.object.spec.volumes[0].image.reference') as unknown });
    });
  });
});
