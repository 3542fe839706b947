// One spelling per registry endpoint, for policy matching. The Notary GUN and the pinned
// reference keep the registry as written (that is the name signers signed; only Docker Hub's
// host names are folded into docker.io by the parser already); only the question
// "which policy governs this image?" uses the canonical form, so that no spelling of a registry
// can reach a different policy than the registry itself.
import { normaliseRegistry, normaliseRepository, type ImageReference } from './reference.js';

// The port a registry host without one is reached on: registries speak HTTPS.
export const DEFAULT_REGISTRY_PORT = '443';

const DIGITS = /^[0-9]+$/;

export interface HostAndPort {
  // Host name, or '[v6 address]', as given (globs included).
  readonly name: string;
  // Port as given, undefined when the host has none.
  readonly port: string | undefined;
}

// Split 'host[:port]' and '[v6]:port'. A ':' inside the brackets of an IPv6 address is not a port.
export function splitHostPort(host: string): HostAndPort {
  const searchFrom = host.startsWith('[') ? Math.max(host.indexOf(']'), 0) : 0;
  const colon = host.indexOf(':', searchFrom);
  if (colon === -1) return { name: host, port: undefined };
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

// A numeric port is a number: leading zeros go ('0443' is 443), and the HTTPS default is no
// port at all ('reg:443' is 'reg'). Anything else (a glob such as '5*') is returned unchanged.
export function canonicalPort(port: string | undefined): string | undefined {
  if (port === undefined || !DIGITS.test(port)) return port;
  const number = port.replace(/^0+(?=[0-9])/, '');
  return number === DEFAULT_REGISTRY_PORT ? undefined : number;
}

// The canonical spelling of a registry host for matching: lower-case, canonical port, an IPv6
// literal in its compressed form or, when it is an IPv4-mapped address, as the IPv4 address it
// maps, and Docker Hub's other host names folded into docker.io ('Index.Docker.io:0443' is
// 'docker.io', '[0:0:0:0:0:0:0:1]:5000' is '[::1]:5000', '[::ffff:7f00:1]:5000' is
// '127.0.0.1:5000').
export function canonicalRegistry(registry: string): string {
  const { name, port } = splitHostPort(registry);
  const host = canonicalIpv6(name);
  const canonical = canonicalPort(port);
  return normaliseRegistry(canonical === undefined ? host : `${host}:${canonical}`);
}

const IPV6_LITERAL = /^\[[0-9a-fA-F:.]+\]$/;
// An IPv4-mapped address (::ffff:0:0/96) as the URL parser writes it: the first five groups
// compress to '::', and the IPv4 address is the last two groups in hex.
const IPV4_MAPPED = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;

// '[0::1]' and '[0:0:0:0:0:0:0:1]' are '[::1]': the WHATWG URL parser writes an IPv6 address in
// RFC 5952's compressed, lower-case form. Security: an address has many spellings, and a policy
// for one of them must govern them all, or `[0::1]:5000/prod/app` escapes an enforced
// `[::1]:5000/prod/*`. An IPv4-mapped address ('[::ffff:7f00:1]', '[::ffff:127.0.0.1]',
// '[0:0:0:0:0:ffff:7f00:1]') is the IPv4 address itself ('127.0.0.1'): Go's net package, which
// container runtimes (containerd, CRI-O) dial with, treats it as IPv4 (`To4()`), connects to
// the IPv4 address, and TLS IP-SAN checks hold both forms equal; without this
// `[::ffff:7f00:1]:5000/prod/app` would be pulled from 127.0.0.1:5000 yet escape an enforced
// `127.0.0.1:5000/prod/*`. Only that prefix: an IPv4-compatible ('[::7f00:1]') or NAT64
// ('[64:ff9b::7f00:1]') address is another address to Go, and stays IPv6 here.
// A glob ('[::*]') or something that is not an address is left as it is.
function canonicalIpv6(name: string): string {
  if (!IPV6_LITERAL.test(name)) return name;
  let compressed: string;
  try {
    compressed = new URL(`https://${name}/`).hostname;
  } catch {
    return name;
  }
  const mapped = IPV4_MAPPED.exec(compressed);
  if (mapped === null) return compressed;
  const high = Number.parseInt(mapped[1] ?? '', 16);
  const low = Number.parseInt(mapped[2] ?? '', 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

// What policy matching sees of an image: canonical host, its port (the default when none is
// written), and the repository normalised again for that host, since 'docker.io:443/nginx' is
// 'docker.io/library/nginx'.
export interface MatchSubject {
  readonly host: string;
  readonly hostName: string;
  readonly port: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export function toMatchSubject(image: ImageReference): MatchSubject {
  const host = canonicalRegistry(image.registry);
  const { name, port } = splitHostPort(host);
  return {
    host,
    hostName: name,
    port: port ?? DEFAULT_REGISTRY_PORT,
    repository: normaliseRepository(host, image.repository),
    ...(image.tag === undefined ? {} : { tag: image.tag }),
    ...(image.digest === undefined ? {} : { digest: image.digest }),
  };
}
