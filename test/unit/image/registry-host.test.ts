import { describe, expect, it } from 'vitest';
import { parseImageReference, toNotaryGun } from '../../../shared/image/reference.js';
import { canonicalPort, canonicalRegistry, inetAtonAddress, shorterSpellingSaving, splitHostPort, toMatchSubject } from '../../../shared/image/registry-host.js';

describe('canonicalRegistry', () => {
  it.each([
    ['registry.example.com', 'registry.example.com'],
    ['registry.example.com:443', 'registry.example.com'],
    ['registry.example.com:0443', 'registry.example.com'],
    ['Registry.Example.COM:00443', 'registry.example.com'],
    ['registry.example.com:5000', 'registry.example.com:5000'],
    ['registry.example.com:05000', 'registry.example.com:5000'],
    ['registry.example.com:0', 'registry.example.com:0'],
    ['registry.example.com:80', 'registry.example.com:80'],
    ['index.docker.io:443', 'docker.io'],
    ['[::1]:443', '[::1]'],
    ['[::1]:05000', '[::1]:5000'],
    ['registry-1.docker.io', 'docker.io'],
    ['Registry-1.Docker.IO:0443', 'docker.io'],
    ['registry.hub.docker.com', 'docker.io'],
    ['registry-2.docker.io', 'registry-2.docker.io'],
    ['[0::1]:5000', '[::1]:5000'],
    ['[0:0:0:0:0:0:0:1]:5000', '[::1]:5000'],
    ['[0000:0000:0000:0000:0000:0000:0000:0001]:443', '[::1]'],
    ['[FE80:0:0:0:0:0:0:1]', '[fe80::1]'],
    ['[::*]:5000', '[::*]:5000'],
    ['[::ffff:7f00:1]:5000', '127.0.0.1:5000'],
    ['[::FFFF:127.0.0.1]:05000', '127.0.0.1:5000'],
    ['[0:0:0:0:0:ffff:7f00:1]:443', '127.0.0.1'],
    ['[0000:0000:0000:0000:0000:FFFF:0A00:0001]', '10.0.0.1'],
    ['[::ffff:0:0]', '0.0.0.0'],
    ['[::ffff:ffff:ffff]', '255.255.255.255'],
    ['[::ffff:*]:5000', '[::ffff:*]:5000'],
    ['[:::::]', '[:::::]'],
    ['*:5*', '*:5*'],
  ])('spells %j as %j', (registry, canonical) => {
    expect(canonicalRegistry(registry)).toBe(canonical);
  });
});

// Go's net.IP.To4, which decides whether a runtime dials IPv4, takes only ::ffff:0:0/96 for
// IPv4: these are other IPv6 addresses.
describe('canonicalRegistry on IPv6 addresses that merely contain an IPv4 address', () => {
  it.each([
    ['[::7f00:1]:5000', '[::7f00:1]:5000'],
    ['[::127.0.0.1]:5000', '[::7f00:1]:5000'],
    ['[64:ff9b::7f00:1]', '[64:ff9b::7f00:1]'],
    ['[::ffff:0:7f00:1]', '[::ffff:0:7f00:1]'],
    ['[1::ffff:7f00:1]', '[1::ffff:7f00:1]'],
  ])('keeps %j an IPv6 address (%j)', (registry, canonical) => {
    expect(canonicalRegistry(registry)).toBe(canonical);
  });
});

// glibc's inet_aton, which getaddrinfo tries before DNS: 1 to 4 parts, each decimal, octal
// (leading 0) or hex (0x), the last part filling the bytes the others leave. Go's resolver
// takes the same hosts for names, so they stay as written for everything but enforced patterns.
describe('canonicalRegistry on numeric IPv4 spellings', () => {
  it.each([
    ['127.1:5000', '127.1:5000'],
    ['0X7F.0.0.1', '0x7f.0.0.1'],
    ['0177.0.0.1:05000', '0177.0.0.1:5000'],
    ['2130706433:443', '2130706433'],
    ['127.000.000.001:5000', '127.000.000.001:5000'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
  ])('keeps %j as written, lower-case with a canonical port: %j', (registry, canonical) => {
    expect(canonicalRegistry(registry)).toBe(canonical);
  });
});

describe('inetAtonAddress', () => {
  it.each([
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['0X7F.0.0.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['00000177.0.0.01', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0x0.1', '127.0.0.1'],
    ['10.0x10203', '10.1.2.3'],
    ['192.168.0x101', '192.168.1.1'],
    ['0', '0.0.0.0'],
    ['0x0', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
    ['0xffffffff', '255.255.255.255'],
    ['0377.0xff.65535', '255.255.255.255'],
    ['1.16777215', '1.255.255.255'],
    ['127.000.000.001', '127.0.0.1'],
  ])('reads %j as the address %j', (name, address) => {
    expect(inetAtonAddress(name)).toBe(address);
  });

  it('gives no address reading for a dotted quad as it is written', () => {
    expect(inetAtonAddress('127.0.0.1')).toBeUndefined();
    expect(inetAtonAddress('0.0.0.0')).toBeUndefined();
  });

  // Not addresses to inet_aton, so every resolver asks DNS for them: host names only.
  it.each([
    '256.0.0.1',
    '127.256.1',
    '127.0.65536',
    '1.16777216',
    '4294967296',
    '0x100000000',
    `1${'0'.repeat(300)}`,
    '0400.0.0.1',
    '08.0.0.1',
    '127.0.0.09',
    '0x.0.0.1',
    '0xg.1',
    '1.2.3.4.5',
    '127.0.0.1.',
    '.127.0.0.1',
    '127..1',
    '1e3',
    '127.0.0.*',
    '12*',
    'reg.example.com',
  ])('gives %j no address reading', (name) => {
    expect(inetAtonAddress(name)).toBeUndefined();
  });

  it('reads a leading 0 as octal, not as a decimal with a leading zero', () => {
    expect(inetAtonAddress('0127.0.0.1')).toBe('87.0.0.1');
    expect(inetAtonAddress('010.0.0.1')).toBe('8.0.0.1');
  });
});

describe('shorterSpellingSaving', () => {
  it('gives how much shorter the shortest inet_aton spelling of a dotted quad is', () => {
    expect(shorterSpellingSaving('127.0.0.1')).toBe('127.0.0.1'.length - '127.1'.length);
    expect(shorterSpellingSaving('0.0.0.0')).toBe('0.0.0.0'.length - '0'.length);
    expect(shorterSpellingSaving('255.255.255.255')).toBe('255.255.255.255'.length - '4294967295'.length);
    expect(shorterSpellingSaving('1.2.3.4')).toBe(0);
  });

  it('gives a host written in another numeric spelling what the shortest spelling of its address saves', () => {
    expect(shorterSpellingSaving('0x7f.0.0.1')).toBe('0x7f.0.0.1'.length - '127.1'.length);
    expect(shorterSpellingSaving('127.000.000.001')).toBe('127.000.000.001'.length - '127.1'.length);
    expect(shorterSpellingSaving('127.1')).toBe(0);
  });

  it('gives a glob that may match a dotted quad the most any saves, and a host name nothing', () => {
    expect(shorterSpellingSaving('10.0.0.*')).toBe(6);
    expect(shorterSpellingSaving('*.example.com')).toBe(0);
    expect(shorterSpellingSaving('reg.example.com')).toBe(0);
    expect(shorterSpellingSaving('256.0.0.1')).toBe(0);
  });
});

describe('splitHostPort', () => {
  it('does not take a colon of an IPv6 address for a port', () => {
    expect(splitHostPort('[::1]')).toEqual({ name: '[::1]', port: undefined });
    expect(splitHostPort('[::1]:5000')).toEqual({ name: '[::1]', port: '5000' });
    expect(splitHostPort('reg:5000')).toEqual({ name: 'reg', port: '5000' });
  });
});

describe('canonicalPort', () => {
  it('keeps a glob as written', () => {
    expect(canonicalPort('*')).toBe('*');
    expect(canonicalPort('04*')).toBe('04*');
  });
});

describe('toMatchSubject', () => {
  it('re-normalises a Docker Hub path once the port is gone, and keeps the GUN as written', () => {
    const image = parseImageReference('docker.io:443/nginx:1.25');
    expect(toMatchSubject(image)).toEqual({ host: 'docker.io', hostName: 'docker.io', port: '443', repository: 'library/nginx', tag: '1.25' });
    expect(toNotaryGun(image)).toBe('docker.io:443/nginx');
  });

  it('gives a registry on another port its port', () => {
    expect(toMatchSubject(parseImageReference('registry.example.com:05000/prod/app'))).toMatchObject({ host: 'registry.example.com:5000', port: '5000' });
  });

  it('matches an IPv4-mapped IPv6 registry as its IPv4 address, and keeps the GUN as written', () => {
    const image = parseImageReference('[::ffff:7f00:1]:5000/prod/app:v1');
    expect(toMatchSubject(image)).toEqual({ host: '127.0.0.1:5000', hostName: '127.0.0.1', port: '5000', repository: 'prod/app', tag: 'v1' });
    expect(toNotaryGun(image)).toBe('[::ffff:7f00:1]:5000/prod/app');
  });

  it('keeps a numeric IPv4 spelling as written, with its address reading beside it, and the GUN as written', () => {
    const image = parseImageReference('0x7f.1:5000/prod/app:v1');
    expect(toMatchSubject(image)).toEqual({ host: '0x7f.1:5000', hostName: '0x7f.1', addressHostName: '127.0.0.1', port: '5000', repository: 'prod/app', tag: 'v1' });
    expect(toNotaryGun(image)).toBe('0x7f.1:5000/prod/app');
  });

  it('keeps the GUN of a default-port spelling as written', () => {
    expect(toNotaryGun(parseImageReference('registry.example.com:0443/prod/app'))).toBe('registry.example.com:0443/prod/app');
  });
});
