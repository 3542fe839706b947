import { describe, expect, it } from 'vitest';
import { pathOf } from '../../../infra/webhook-proxy/webhook-server.js';

describe('pathOf', () => {
  describe('when the API server calls /admit', () => {
    it.each(['/admit', '/admit?timeout=10s'])('gives /admit for %s', (url) => {
      expect(pathOf(url)).toBe('/admit');
    });
  });

  describe('when the target only looks like /admit', () => {
    it.each([
      ['/admitx', '/admitx'],
      ['/admit/', '/admit/'],
      ['/admit#x', '/admit'],
      ['/./admit?timeout=10s', '/admit'],
      ['/x/../admit', '/admit'],
      ['/%61dmit', '/%61dmit'],
    ])('gives what the URL parser gives for %s', (url, path) => {
      expect(pathOf(url)).toBe(path);
      expect(pathOf(url)).toBe(new URL(url, 'http://localhost').pathname);
    });
  });
});
