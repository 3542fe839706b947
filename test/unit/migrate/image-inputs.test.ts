import { describe, expect, it } from 'vitest';
import { decodeImageFile, MAX_IMAGE_INPUTS } from '../../../shared/migrate/image-inputs.js';
import { thrownError } from '../../support/trustgate-errors.js';

const pod = (namespace: string, images: readonly string[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace },
  spec: { containers: images.map((image, index) => ({ name: `c${index}`, image })), volumes: [{ name: 'v', image: { reference: 'reg.example/data:1' } }, { name: 'e', emptyDir: {} }] },
});

describe('decodeImageFile', () => {
  describe('when the file lists images one per line', () => {
    it('takes each image in each namespace and skips comments and blank lines', () => {
      const inputs = decodeImageFile('# images\nreg.example/a:1\n\n  reg.example/b:2  \n', ['x', 'y'], 'default');

      expect(inputs).toEqual([
        { image: 'reg.example/a:1', namespace: 'x' },
        { image: 'reg.example/a:1', namespace: 'y' },
        { image: 'reg.example/b:2', namespace: 'x' },
        { image: 'reg.example/b:2', namespace: 'y' },
      ]);
    });
  });

  describe('when the file is a kubectl dump', () => {
    it('reads containers and image volumes through the pod image field table, once per namespace and image', () => {
      const dump = { kind: 'List', items: [pod('team', ['reg.example/a:1', 'reg.example/a:1']), pod('other', ['reg.example/c:1'])] };

      const inputs = decodeImageFile(JSON.stringify(dump), ['team'], 'default');

      expect(inputs.map((input) => [input.image, input.namespace])).toEqual([
        ['reg.example/a:1', 'team'],
        ['reg.example/data:1', 'team'],
      ]);
    });

    it('treats keys such as __proto__ as data, never as a prototype', () => {
      const text = '{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","__proto__":{"namespace":"kube-system"}},"spec":{"containers":[{"name":"c","image":"reg.example/a:1"}]}}]}';

      const inputs = decodeImageFile(text, [], 'default');

      expect(inputs).toEqual([{ image: 'reg.example/a:1', namespace: 'default', source: 'pod default/p container "c"' }]);
      expect(({} as Record<string, unknown>)['namespace']).toBeUndefined();
    });

    it('refuses a dump naming more images than are looked at with REQUEST_INVALID', () => {
      const images = Array.from({ length: MAX_IMAGE_INPUTS + 1 }, (_, index) => `reg.example/a:${index}`);

      expect(thrownError(() => decodeImageFile(JSON.stringify(pod('team', images)), [], 'default')).code).toBe('REQUEST_INVALID');
    });
  });
});
