import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { imagePatternProblems, isExactPattern, matchesImagePattern, matchGlob, toImagePattern } from '../../../shared/policy/image-pattern.js';

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
      ['registry.example.com:05000/app', 'registry.example.com:5000/app'],
      ['registry.example.com:443/app', 'registry.example.com/app'],
      ['registry.example.com:0443/app', 'registry.example.com/app'],
      ['index.docker.io:443/nginx', 'docker.io/library/nginx'],
      ['reg.example.com:*/app', 'reg.example.com:*/app'],
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

  describe('when the image is pinned by digest only and the pattern has a tag glob', () => {
    // Portieris matches the raw string `repo@sha256:<hex>` against the raw `path:tag` glob.
    it.each([
      ['registry.example.com/prod/*:*', true],
      ['registry.example.com/prod/app:*', true],
      ['registry.example.com/prod/app:**', true],
      ['registry.example.com/prod/*:ab*', true],
      ['registry.example.com/prod/*:*ab', true],
      ['registry.example.com/prod/*:cd*', false],
      ['registry.example.com/prod/*:v*', false],
      ['registry.example.com/prod/app:ab*', false],
      ['registry.example.com/prod/app:latest', false],
      [`registry.example.com/prod/*:ab*@${DIGEST}`, false],
      [`registry.example.com/prod/*:*@${DIGEST}`, true],
      ['registry.example.com/other/*:*', false],
    ])('%j matches registry.example.com/prod/app@sha256:abab...: %s', (pattern, expected) => {
      expect(matches(pattern, `registry.example.com/prod/app@${DIGEST}`)).toBe(expected);
    });

    it('still matches a tag glob against the tag of an image that has both', () => {
      expect(matches('registry.example.com/prod/*:v*', `registry.example.com/prod/app:v1@${DIGEST}`)).toBe(true);
      expect(matches('registry.example.com/prod/*:ab*', `registry.example.com/prod/app:v1@${DIGEST}`)).toBe(false);
    });
  });

  describe("when the image names another of Docker Hub's hosts or another spelling of an IPv6 address", () => {
    it.each([
      ['docker.io/*', 'registry-1.docker.io/library/nginx'],
      ['docker.io/library/*', 'registry.hub.docker.com/nginx:1.27'],
      ['nginx', 'registry-1.docker.io/library/nginx:latest'],
      ['registry-1.docker.io/library/*', 'nginx'],
      ['[::1]:5000/prod/*', '[0::1]:5000/prod/app'],
      ['[::1]:5000/prod/*', '[0:0:0:0:0:0:0:1]:5000/prod/app'],
      ['[0:0:0:0:0:0:0:1]:5000/prod/*', '[::1]:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '[::ffff:7f00:1]:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '[0:0:0:0:0:ffff:7f00:1]:5000/prod/app'],
      ['[::ffff:127.0.0.1]:5000/prod/*', '127.0.0.1:5000/prod/app'],
      ['[::ffff:7f00:1]:5000/prod/*', '127.0.0.1:5000/prod/app'],
      ['127.0.0.*/prod/*', '[::ffff:7f00:1]:5000/prod/app'],
    ])('%j matches %j', (pattern, image) => {
      expect(matches(pattern, image)).toBe(true);
    });

    it('does not take a look-alike host for Docker Hub', () => {
      expect(matches('docker.io/*', 'registry-1.docker.io.evil.example/library/nginx')).toBe(false);
      expect(matches('docker.io/*', '[::2]:5000/prod/app')).toBe(false);
    });

    it('does not take an IPv4-compatible or NAT64 address for the IPv4 address it holds', () => {
      expect(matches('127.0.0.1:5000/prod/*', '[::7f00:1]:5000/prod/app')).toBe(false);
      expect(matches('127.0.0.1:5000/prod/*', '[64:ff9b::7f00:1]:5000/prod/app')).toBe(false);
    });

    it('gives an enforced IPv4 pattern without a port every port of the IPv4-mapped spelling', () => {
      expect(matchesImagePattern(toImagePattern('127.0.0.1/prod/*'), parseImageReference('[::ffff:7f00:1]:5000/prod/app'), { anyPort: true })).toBe(true);
    });

    it('counts a pattern written as an IPv4-mapped address exact for the IPv4 image', () => {
      expect(isExactPattern(toImagePattern('[::ffff:7f00:1]:5000/prod/app:v1'), parseImageReference('127.0.0.1:5000/prod/app:v1'))).toBe(true);
    });
  });

  // glibc reads these hosts as the address, Go's resolver (the runtime's) as DNS names: only an
  // enforced pattern (anyPort, a floor) meets them under both readings.
  describe('when the image or the pattern spells an IPv4 address as inet_aton reads it', () => {
    const enforcedMatches = (pattern: string, image: string): boolean => matchesImagePattern(toImagePattern(pattern), parseImageReference(image), { anyPort: true });

    it.each([
      ['127.0.0.1:5000/prod/*', '127.1:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '127.0.1:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '0x7f.0.0.1:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '0X7F.0.0.1:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '0177.0.0.1:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '2130706433:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '0x7f000001:5000/prod/app'],
      ['127.0.0.1:5000/prod/*', '0x7f.0.01:05000/prod/app'],
      ['127.1:5000/prod/*', '127.0.0.1:5000/prod/app'],
      ['0x7f.1:5000/prod/*', '2130706433:5000/prod/app'],
      ['2130706433:5000/prod/*', '[::ffff:7f00:1]:5000/prod/app'],
      ['127.0.0.*/prod/*', '127.1:5000/prod/app'],
      ['127.0.0.*/prod/*', '017700000001:5000/prod/app'],
    ])('%j matches %j only when enforced', (pattern, image) => {
      expect(enforcedMatches(pattern, image)).toBe(true);
      expect(matches(pattern, image)).toBe(false);
    });

    it('keeps a numeric IPv4 pattern host as written, lower-case with a canonical port, its address beside it', () => {
      expect(toImagePattern('0X7F.1:05000/prod/*')).toMatchObject({ text: '0x7f.1:5000/prod/*', hostName: '0x7f.1', addressHostName: '127.0.0.1' });
      expect(toImagePattern('10.1/prod/*').text).toBe('10.1/prod/*');
      expect(toImagePattern('127.0.0.1:5000/prod/*').addressHostName).toBeUndefined();
      expect(toImagePattern('127.0.0.*:5000/prod/*').addressHostName).toBeUndefined();
    });

    it('matches each spelling as written for a permissive pattern', () => {
      expect(matches('127.1:5000/prod/*', '127.1:5000/prod/app')).toBe(true);
      expect(matches('0x7f.1:5000/prod/*', '0X7F.1:5000/prod/app')).toBe(true);
      expect(matches('127.0.0.1:5000/prod/*', '127.0.0.1:5000/prod/app')).toBe(true);
    });

    it('reads a one-number pattern host without a port as a Docker Hub path, as images do', () => {
      expect(toImagePattern('2130706433/prod/*').text).toBe('docker.io/2130706433/prod/*');
      expect(enforcedMatches('127.0.0.1/prod/*', '2130706433/prod/app')).toBe(false);
    });

    it('gives an enforced IPv4 pattern without a port every port of every spelling, and a pattern with one only that port', () => {
      expect(enforcedMatches('127.0.0.1/prod/*', '127.1:5000/prod/app')).toBe(true);
      expect(enforcedMatches('127.0.0.1/prod/*', '2130706433:5000/prod/app')).toBe(true);
      expect(enforcedMatches('0xc0.0250.1/prod/*', '192.168.0.1:5000/prod/app')).toBe(true);
      expect(enforcedMatches('0xc0.0250.1/prod/*', '0xc0.0250.1/prod/app')).toBe(true);
      expect(enforcedMatches('127.0.0.1:5000/prod/*', '127.1:5001/prod/app')).toBe(false);
      expect(enforcedMatches('127.0.0.1/prod/*', '127.1:5000/other/app')).toBe(false);
    });

    it('never counts a pattern exact for the image written another way', () => {
      expect(isExactPattern(toImagePattern('127.0.0.1:5000/prod/app:v1'), parseImageReference('127.1:5000/prod/app:v1'))).toBe(false);
      expect(isExactPattern(toImagePattern('0x7f000001:5000/prod/app:v1'), parseImageReference('127.0.0.1:5000/prod/app:v1'))).toBe(false);
      expect(isExactPattern(toImagePattern('0x7f000001:5000/prod/app:v1'), parseImageReference('0x7f000001:5000/prod/app:v1'))).toBe(true);
    });

    it('reads a leading 0 as octal: 0127.0.0.1 is 87.0.0.1, another registry', () => {
      expect(enforcedMatches('127.0.0.1:5000/prod/*', '0127.0.0.1:5000/prod/app')).toBe(false);
      expect(enforcedMatches('87.0.0.1:5000/prod/*', '0127.0.0.1:5000/prod/app')).toBe(true);
    });

    it('takes a host inet_aton refuses for a name, not for an address', () => {
      expect(enforcedMatches('8.0.0.1:5000/prod/*', '08.0.0.1:5000/prod/app')).toBe(false);
      expect(enforcedMatches('0.0.0.1:5000/prod/*', '256.0.0.1:5000/prod/app')).toBe(false);
      expect(enforcedMatches('0.0.0.0:5000/prod/*', '4294967296:5000/prod/app')).toBe(false);
      expect(matches('256.0.0.1:5000/prod/*', '256.0.0.1:5000/prod/app')).toBe(true);
    });
  });

  describe("when a host glob meets a Docker Hub official image (library/)", () => {
    it.each([
      ['*/nginx', 'nginx:1.27'],
      ['*/nginx', 'docker.io/library/nginx'],
      ['*/nginx', 'registry-1.docker.io/nginx'],
      ['*/nginx:1.*', 'nginx:1.27'],
      ['*/ngin*', 'nginx'],
      ['docker.*/nginx', 'nginx'],
      ['docker.io:*/nginx', 'nginx'],
      ['*.io/nginx', 'nginx'],
    ])('%j matches %j, as docker.io/library/nginx would', (pattern, image) => {
      expect(matches(pattern, image)).toBe(true);
    });

    it('still matches the one-component repository on other registries', () => {
      expect(matches('*/nginx', 'quay.io/nginx:1.27')).toBe(true);
      expect(matches('*/nginx', 'registry.example.com/nginx')).toBe(true);
    });

    it('adds library/ on Docker Hub only', () => {
      expect(matches('*/nginx', 'quay.io/library/nginx')).toBe(false);
      expect(matches('*/nginx', 'docker.io/team/nginx')).toBe(false);
    });

    it('treats docker.io on any port as Docker Hub for an enforced policy (anyPort), as the host match does', () => {
      const pattern = toImagePattern('*/u1leg--255');
      const image = (registry: string) => parseImageReference(`${registry}/library/u1leg--255:1`);
      expect(matchesImagePattern(pattern, image('docker.io'), { anyPort: true })).toBe(true);
      expect(matchesImagePattern(pattern, image('docker.io:1'), { anyPort: true })).toBe(true);
      expect(matchesImagePattern(pattern, image('docker.io:5000'), { anyPort: true })).toBe(true);
    });

    it('does not take docker.io on another port for Docker Hub without anyPort', () => {
      expect(matches('*/nginx', 'docker.io:5000/library/nginx')).toBe(false);
      expect(matchesImagePattern(toImagePattern('*/nginx'), parseImageReference('quay.io:5000/library/nginx'), { anyPort: true })).toBe(false);
    });

    it('does not reach Docker Hub through a host glob that cannot match docker.io', () => {
      expect(matches('*.example.com/nginx', 'nginx')).toBe(false);
      expect(matches('quay*/nginx', 'nginx')).toBe(false);
    });

    it('does not change the score, which counts the pattern as written', () => {
      expect(toImagePattern('*/nginx').specificity).toBe('*/nginx'.length - 1);
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

describe('matchesImagePattern with registry ports', () => {
  describe('when the image spells the default port', () => {
    it.each(['registry.example.com:443/prod/app', 'registry.example.com:0443/prod/app', 'Registry.Example.com:00443/prod/app:v1'])(
      'lets a pattern without a port govern %j as the bare host',
      (image) => {
        expect(matches('registry.example.com/prod/*', image)).toBe(true);
      },
    );

    it('lets a pattern naming port 443 govern the bare host', () => {
      expect(matches('registry.example.com:443/prod/*', 'registry.example.com/prod/app')).toBe(true);
    });

    it('folds docker.io:443 into Docker Hub', () => {
      expect(matches('nginx', 'docker.io:443/nginx:1.25')).toBe(true);
    });
  });

  describe('when the image names another port', () => {
    it('is not governed by a pattern naming the bare host', () => {
      expect(matches('registry.example.com/prod/*', 'registry.example.com:5000/prod/app')).toBe(false);
    });

    it('is governed by the bare host pattern for an enforced policy (anyPort)', () => {
      const pattern = toImagePattern('registry.example.com/prod/*');
      expect(matchesImagePattern(pattern, parseImageReference('registry.example.com:5000/prod/app'), { anyPort: true })).toBe(true);
      expect(matchesImagePattern(pattern, parseImageReference('registry.example.com.evil.net:5000/prod/app'), { anyPort: true })).toBe(false);
    });

    it('is governed by a pattern naming that port however either spells it', () => {
      expect(matches('registry.example.com:5000/prod/*', 'registry.example.com:05000/prod/app')).toBe(true);
      expect(matches('registry.example.com:05000/prod/*', 'registry.example.com:5000/prod/app')).toBe(true);
      expect(matches('registry.example.com:5000/prod/*', 'registry.example.com:5001/prod/app')).toBe(false);
    });

    it('is governed by a port glob, which covers the default port too', () => {
      expect(matches('registry.example.com:*/prod/*', 'registry.example.com:5000/prod/app')).toBe(true);
      expect(matches('registry.example.com:*/prod/*', 'registry.example.com/prod/app')).toBe(true);
    });

    it('is governed by a host glob that spans the port, as in Portieris', () => {
      expect(matches('*', 'registry.example.com:5000/prod/app')).toBe(true);
      expect(matches('*/prod/*', 'registry.example.com:5000/prod/app')).toBe(true);
      expect(matches('registry.example.com*/prod/*', 'registry.example.com:5000/prod/app')).toBe(true);
    });
  });
});

describe('isExactPattern', () => {
  const exact = (pattern: string, image: string): boolean => isExactPattern(toImagePattern(pattern), parseImageReference(image));

  it.each([
    ['nginx', 'nginx', true],
    ['nginx', 'nginx:1.25', false],
    ['nginx', 'docker.io/library/nginx', true],
    ['docker.io/library/nginx', 'nginx', true],
    ['nginx', 'nginx:latest', true],
    ['nginx:latest', 'nginx', true],
    ['nginx:1.25', 'nginx:1.25', true],
    ['nginx:1.25', 'docker.io/library/nginx:1.25', true],
    ['nginx:1.*', 'nginx:1.25', false],
    ['nginx', `nginx@${DIGEST}`, false],
    [`nginx@${DIGEST}`, `nginx@${DIGEST}`, true],
    [`nginx@${DIGEST}`, `nginx:1.25@${DIGEST}`, false],
    ['registry.example.com/app', 'registry.example.com:443/app', true],
    ['registry.example.com/app', 'registry.example.com:5000/app', false],
  ])('%j is exact for %j: %s', (pattern, image, expected) => {
    expect(exact(pattern, image)).toBe(expected);
  });
});

describe('imagePatternProblems', () => {
  it.each([
    'registry.example.com/Prod/*',
    'Team/app',
    ' nginx',
    'nginx ',
    'ngi\nnx',
    'registry.example.com:https/app',
    'registry.example.com:4x3/app',
    'registry.example.com:/app',
    'registry.example.com/',
    'nginx:',
    'nginx:a+b',
    'nginx@',
    'nginx@SHA256:*',
    'registry_example.com/app',
    'registry.example.com/team//app',
    'registry.example.com/team/app/',
    'registry.example.com/.app',
    'registry.example.com/a..b/*',
    'nginx:.x',
    `nginx:${'a'.repeat(129)}`,
    'nginx@sha256:abc',
    'registry.example.com./prod/*',
    '.registry.example.com/prod/*',
    '-registry.example.com/prod/*',
    'registry-.example.com/prod/*',
    'registry.-example.com/prod/*',
    'registry..example.com/prod/*',
    '*..example.com/prod/*',
    'registry.example.*./prod/*',
    '-*.example.com/prod/*',
    '*-.example.com/prod/*',
    '[::1/prod/*',
    '[::g]:5000/prod/*',
    `registry.example.com/${'a'.repeat(236)}`,
    `registry.example.com/*${'a/'.repeat(118)}*`,
    `nginx:*${'a'.repeat(129)}`,
    `nginx:${'a'.repeat(65)}*${'a'.repeat(64)}`,
    '\u212Aeg.example.com/prod/*',
    'reg.example.\u212Aom/*',
    '\u212A*.example.com/*',
    'reg.example.com/prod/\u212A*',
    'nginx:\u212A',
    'r\u00e9g.example.com/*',
  ])('finds %j inert', (pattern) => {
    expect(imagePatternProblems(pattern)).not.toEqual([]);
  });

  it.each(['*', '*:latest', '*/app', 'Registry.Example.com/app', 'reg.io:5*/app', '[::1]:5000/x', 'a---b/c__d', 'nginx:V1.*', `nginx@${DIGEST}`, 'reg.io/*/app', 'reg.io/team*', 'reg.io/*.x/*', 'nginx:*-rc', '*.example.com/*', 'reg-*.example.com/*', '*.*/*', '[::*]:5000/*', '[::ffff:127.0.0.1]:5000/*', '0x7f.1:5000/*', '2130706433:5000/*', `registry.example.com/${'a'.repeat(234)}`, `nginx:${'a'.repeat(64)}*${'a'.repeat(64)}`])(
    'finds nothing wrong with %j',
    (pattern) => {
      expect(imagePatternProblems(pattern)).toEqual([]);
    },
  );

  // An image name's 255 characters bound the name as written, and an address can be written
  // shorter: `127.1:5000/<244 characters>` is a valid image an enforced
  // `127.0.0.1:5000/<same>` or `0x7f.0.0.1:5000/<same>` governs.
  it('bounds the length of an IPv4 pattern by the shortest spelling of its address', () => {
    const path = 'a'.repeat(255 - '127.1:5000/'.length);
    expect(parseImageReference(`127.1:5000/${path}`).repository).toBe(path);
    expect(imagePatternProblems(`127.0.0.1:5000/${path}`)).toEqual([]);
    expect(imagePatternProblems(`0x7f.0.0.1:5000/${path}`)).toEqual([]);
    expect(matchesImagePattern(toImagePattern(`0x7f.0.0.1:5000/${path}`), parseImageReference(`127.1:5000/${path}`), { anyPort: true })).toBe(true);
    expect(imagePatternProblems(`127.0.0.1:5000/${path}a`)).not.toEqual([]);
    expect(imagePatternProblems(`0x7f.0.0.1:5000/${path}a`)).not.toEqual([]);
    const globbed = 'a'.repeat(255 - '1:5000/'.length);
    expect(parseImageReference(`1:5000/${globbed}`).repository).toBe(globbed);
    expect(imagePatternProblems(`0.0.0.*:5000/${globbed}`)).toEqual([]);
    expect(matchesImagePattern(toImagePattern(`0.0.0.*:5000/${globbed}`), parseImageReference(`1:5000/${globbed}`), { anyPort: true })).toBe(true);
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
