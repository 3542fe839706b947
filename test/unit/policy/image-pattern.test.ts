import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { matchesImagePattern, matchGlob, toImagePattern } from '../../../shared/policy/image-pattern.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function matches(pattern: string, image: string): boolean {
  return matchesImagePattern(toImagePattern(pattern), parseImageReference(image));
}

describe('toImagePattern', () => {
  describe('when the pattern is written in short form', () => {
    it.each([
      ['nginx', 'docker.io/library/nginx'],
      ['nginx:1.27', 'docker.io/library/nginx:1.27'],
      ['library/nginx', 'docker.io/library/nginx'],
      ['docker.io/nginx', 'docker.io/library/nginx'],
      ['index.docker.io/library/nginx', 'docker.io/library/nginx'],
      ['nginx*', 'docker.io/library/nginx*'],
      ['docker.io/*', 'docker.io/*'],
      ['team/*', 'docker.io/team/*'],
      ['Registry.Example.com:5000/app', 'registry.example.com:5000/app'],
      ['localhost/app', 'localhost/app'],
      ['*.trusted.com/*', '*.trusted.com/*'],
      ['*/app', '*/app'],
      ['*', '*/*'],
      ['*:latest', '*/*:latest'],
      [`app@${DIGEST}`, `docker.io/library/app@${DIGEST}`],
    ])('normalises %j to %j', (pattern, text) => {
      expect(toImagePattern(pattern).text).toBe(text);
    });
  });

  describe('when computing specificity', () => {
    it('counts the normalised length minus the stars', () => {
      expect(toImagePattern('docker.io/library/*').specificity).toBe('docker.io/library/'.length);
      expect(toImagePattern('nginx').specificity).toBe('docker.io/library/nginx'.length);
    });
  });
});

describe('matchesImagePattern', () => {
  describe('when image and pattern are written differently (Portieris #337)', () => {
    it.each([
      ['docker.io/library/*', 'nginx'],
      ['docker.io/library/nginx', 'nginx'],
      ['nginx', 'docker.io/library/nginx:1.27'],
      ['nginx', 'index.docker.io/library/nginx'],
      ['library/*', 'nginx:alpine'],
    ])('%j matches %j', (pattern, image) => {
      expect(matches(pattern, image)).toBe(true);
    });
  });

  describe('when the image is pinned by digest (Portieris #390)', () => {
    it('matches a tagless pattern of its repository', () => {
      expect(matches('docker.io/library/nginx', `nginx@${DIGEST}`)).toBe(true);
    });

    it('does not match a pattern for the latest tag', () => {
      expect(matches('nginx:latest', `nginx@${DIGEST}`)).toBe(false);
    });

    it('matches a pattern for its own digest and no other', () => {
      expect(matches(`nginx@${DIGEST}`, `nginx@${DIGEST}`)).toBe(true);
      expect(matches(`nginx@sha256:${'cd'.repeat(32)}`, `nginx@${DIGEST}`)).toBe(false);
    });
  });

  describe('when the pattern names a tag', () => {
    it('matches only that tag', () => {
      expect(matches('nginx:1.27', 'nginx:1.27')).toBe(true);
      expect(matches('nginx:1.27', 'nginx:1.28')).toBe(false);
      expect(matches('nginx:1.*', 'nginx:1.28')).toBe(true);
    });

    it('matches a reference carrying both that tag and a digest', () => {
      expect(matches('nginx:1.27', `nginx:1.27@${DIGEST}`)).toBe(true);
    });
  });

  describe('when the pattern has no tag', () => {
    it('matches any tag', () => {
      expect(matches('icr.io/team/app', 'icr.io/team/app:v2')).toBe(true);
    });
  });

  describe('when an attacker hides a trusted host in the path (Portieris v0.14.2 bypass)', () => {
    it.each([
      ['trusted.com/*', 'attacker.com/x.trusted.com/app'],
      ['trusted.com/*', 'attacker.com/trusted.com/app'],
      ['*.trusted.com/*', 'evil.com/a.trusted.com/app'],
      ['*trusted.com/*', 'evil.com/trusted.com/app'],
      ['trusted.com/team/*', 'trusted.com.evil.com/team/app'],
      ['trusted.com/*', 'trusted.com:5000/app'],
    ])('%j does not match %j', (pattern, image) => {
      expect(matches(pattern, image)).toBe(false);
    });

    it('still matches real subdomains of the trusted host', () => {
      expect(matches('*.trusted.com/*', 'eu.trusted.com/team/app')).toBe(true);
    });
  });

  describe('when a star is in the path', () => {
    it('crosses "/" and is anchored at both ends', () => {
      expect(matches('icr.io/*', 'icr.io/a/b/c')).toBe(true);
      expect(matches('icr.io/team/*', 'icr.io/teammate/app')).toBe(false);
      expect(matches('icr.io/*/app', 'icr.io/a/b/app')).toBe(true);
      expect(matches('icr.io/*/app', 'icr.io/a/b/app2')).toBe(false);
    });
  });

  describe('when the pattern is only stars', () => {
    it('matches any image on any registry', () => {
      expect(matches('*', 'quay.io/org/app:1')).toBe(true);
      expect(matches('*', 'nginx')).toBe(true);
    });
  });
});

describe('matchGlob', () => {
  it.each([
    ['', '', true],
    ['*', '', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYYcd', false],
    ['**', 'anything', true],
    ['a.c', 'abc', false],
    ['a?c', 'abc', false],
    ['*a', 'bbb', false],
  ])('matchGlob(%j, %j) is %s', (glob, text, expected) => {
    expect(matchGlob(glob, text)).toBe(expected);
  });

  it('stays fast on patterns that make a backtracking regex explode', () => {
    const started = performance.now();
    expect(matchGlob(`${'*a'.repeat(50)}b`, 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
