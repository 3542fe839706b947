// Which redirect hosts count as this machine or its link, in every spelling the URL parser
// accepts: the host names are read through `new URL`, as a redirect's Location is.
import { describe, expect, it } from 'vitest';
import { internalHostClass } from '../../../../shared/trust/simple/internal-host.js';

const classOf = (url: string): string | undefined => internalHostClass(new URL(url).hostname);

describe('internalHostClass', () => {
  it.each([
    'http://127.0.0.1:8080/',
    'http://127.255.3.4/',
    'http://127.1/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://[::1]/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://localhost/',
    'http://LOCALHOST./',
    'http://api.localhost/',
  ])('reads %s as loopback', (url) => {
    expect(classOf(url)).toBe('loopback');
  });

  it.each(['http://169.254.169.254/latest/meta-data/', 'http://169.254.1/', 'http://0xa9fea9fe/', 'http://[fe80::1]/', 'http://[febf::1]/', 'http://[::ffff:169.254.169.254]/'])('reads %s as link-local', (url) => {
    expect(classOf(url)).toBe('link-local');
  });

  it.each(['http://0.0.0.0/', 'http://0/', 'http://[::]/', 'http://[::ffff:0:0]/'])('reads %s as unspecified', (url) => {
    expect(classOf(url)).toBe('unspecified');
  });

  it.each([
    'https://bucket.s3.amazonaws.com/',
    'http://192.0.2.2/',
    'http://10.0.0.1/',
    'http://128.0.0.1/',
    'http://169.253.1.1/',
    'http://[fec0::1]/',
    'http://[fe7f::1]/',
    'http://[::7f00:1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://localhost.example.com/',
    'http://mylocalhost/',
  ])('reads %s as no internal host', (url) => {
    expect(classOf(url)).toBeUndefined();
  });
});
