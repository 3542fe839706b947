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
// '127.0.0.1:5000'). A numeric IPv4 spelling other than the dotted quad ('127.1') stays as
// written: see inetAtonAddress for why it is not one registry with its address.
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

// One part of inet_aton's numbers-and-dots notation, as C writes a number: hex after '0x' or
// '0X' (at least one digit), octal after a leading '0' (digits 0-7 only), else decimal.
const IPV4_PART = /^(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;
const IPV4_MAX_PARTS = 4;
const BYTE_MAX = 0xff;
// The largest value of the last part by how many parts come before it: it fills the bytes the
// others leave ('127.1' is 127.0.0.1, '127.0.1' is 127.0.0.1, '2130706433' is 127.0.0.1).
const IPV4_LAST_PART_MAX = [0xffffffff, 0xffffff, 0xffff, 0xff];

// The address inet_aton reads in a host name, as a dotted quad, when that is not how the host
// is written: '127.1', '127.0.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '0x7f000001' and
// mixes of them are '127.0.0.1'; undefined for a dotted quad itself and for anything that is
// not such an address. Security: these spellings are ambiguous. glibc's getaddrinfo (and the
// WHATWG URL parser) read them as the address without asking DNS, while Go's resolver, which
// containerd, CRI-O and dockerd use by default, refuses them as addresses and looks '127.1' up
// as a name (in /etc/hosts, then DNS with the node's search list). So neither reading may
// widen what a spelling reaches: a permissive `127.0.0.1:5000/*` must not govern
// `127.1:5000/app` (Go may pull it from whoever answers for the name), and pull-secret
// credentials for 127.0.0.1:5000 must not go to it. Only an enforced ClusterImagePolicy,
// being a floor, applies under both readings (matchesImagePattern with `anyPort`), or
// `127.1:5000/prod/app` pulled from 127.0.0.1:5000 by a glibc runtime would escape an
// enforced `127.0.0.1:5000/prod/*`. Exactly inet_aton's grammar: 1 to 4 parts, every part
// but the last at most 255, the last within the bytes left. Anything else (a part out of
// range, '08' or '09' as octal, an empty '0x', more than 4 parts) fails inet_aton, so every
// resolver takes it for a name. A glob ('127.0.0.*') is not an address.
export function inetAtonAddress(name: string): string | undefined {
  const address = canonicalIpv4(name);
  return address === name || !DOTTED_QUAD.test(address) ? undefined : address;
}

// The dotted quad inet_aton reads in `name`, or `name` itself when it reads none.
function canonicalIpv4(name: string): string {
  const first = name.charCodeAt(0);
  if (!(first >= 0x30 && first <= 0x39)) return name; // names and globs; keeps the hot path cheap
  const parts = name.split('.');
  if (parts.length > IPV4_MAX_PARTS || !parts.every((part) => IPV4_PART.test(part))) return name;
  const values = parts.map(ipv4PartValue);
  const last = values.pop() ?? 0;
  if (values.some((value) => value > BYTE_MAX) || last > (IPV4_LAST_PART_MAX[values.length] ?? 0)) return name;
  const bytes = [...values, ...[3, 2, 1, 0].slice(values.length).map((shift) => Math.floor(last / 2 ** (8 * shift)) & BYTE_MAX)];
  return bytes.join('.');
}

// How many characters shorter than `hostName` (a pattern's host name as written, or a glob)
// an image may write a host that an enforced pattern for it matches: an address has shorter
// inet_aton spellings ('127.0.0.1' and '0x7f.0.0.1' are '127.1', '0.0.0.0' is '0'), an
// enforced pattern meets them under their address reading, and the length bound of an image
// name applies to the name as written. A glob that may match dotted quads gets the most any of
// them saves. An upper bound (the one-number form needs a port to be read as a registry), so
// a pattern is never refused for a length some image can have. Zero for anything else.
export function shorterSpellingSaving(hostName: string): number {
  if (hostName.includes('*')) return IPV4_GLOB.test(hostName) ? DOTTED_QUAD_MOST_SAVED : 0;
  const address = DOTTED_QUAD.test(hostName) ? hostName : inetAtonAddress(hostName);
  if (address === undefined) return 0;
  const bytes = address.split('.').map(Number);
  if (bytes.some((value) => value > BYTE_MAX)) return 0;
  let shortest = hostName.length;
  for (let leading = 0; leading < IPV4_MAX_PARTS; leading += 1) {
    const rest = bytes.slice(leading).reduce((value, byte) => value * 256 + byte, 0);
    const spelling = [...bytes.slice(0, leading), rest].join('.');
    shortest = Math.min(shortest, spelling.length);
  }
  return hostName.length - shortest;
}
const DOTTED_QUAD = /^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$/;
const IPV4_GLOB = /^[0-9.*]+$/;
// '0.0.0.1' (7 characters) is '1': three leading zero bytes, each '0.', go.
const DOTTED_QUAD_MOST_SAVED = 6;

// The value of one part that IPV4_PART accepts. A part may be long ('0000000177', or an
// attacker's hundreds of digits): anything beyond 2^53 is imprecise but still out of range.
function ipv4PartValue(part: string): number {
  if (part.length > 1 && (part[1] === 'x' || part[1] === 'X')) return Number.parseInt(part.slice(2), 16);
  if (part.startsWith('0')) return Number.parseInt(part, 8);
  return Number.parseInt(part, 10);
}

// What policy matching sees of an image: canonical host, its port (the default when none is
// written), and the repository normalised again for that host, since 'docker.io:443/nginx' is
// 'docker.io/library/nginx'.
export interface MatchSubject {
  readonly host: string;
  readonly hostName: string;
  // The dotted quad glibc reads in a numeric host name written otherwise ('127.1' is
  // '127.0.0.1'); consulted by enforced patterns only (inetAtonAddress).
  readonly addressHostName?: string;
  readonly port: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export function toMatchSubject(image: ImageReference): MatchSubject {
  const host = canonicalRegistry(image.registry);
  const { name, port } = splitHostPort(host);
  const address = inetAtonAddress(name);
  return {
    host,
    hostName: name,
    ...(address === undefined ? {} : { addressHostName: address }),
    port: port ?? DEFAULT_REGISTRY_PORT,
    repository: normaliseRepository(host, image.repository),
    ...(image.tag === undefined ? {} : { tag: image.tag }),
    ...(image.digest === undefined ? {} : { digest: image.digest }),
  };
}
