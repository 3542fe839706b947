// Which hosts a lookaside store's redirect may not name: addresses that reach this machine or
// its link (the cloud metadata service at 169.254.169.254), written as an IP literal or as
// the name `localhost`.
// Security: a redirect lets the store (or, for a plain-http store, anyone on its path) aim
// our GETs at any URL. An IP literal's class is known before any request, whatever its
// spelling: the URL parser has already read inet_aton forms ('127.1', '0x7f000001') and
// compressed IPv6, and canonicalRegistry reads an IPv4-mapped IPv6 address ('[::ffff:7f00:1]')
// as the IPv4 address Node connects to. A DNS name resolving to such an address is NOT
// recognised here (that would need the resolver, and its answer may change between the check
// and the connection): the README's threat model says so.
import { canonicalRegistry, inetAtonAddress } from '../../image/registry-host.js';

export const InternalHostClass = {
  LOOPBACK: 'loopback',
  LINK_LOCAL: 'link-local',
  UNSPECIFIED: 'unspecified',
} as const;
export type InternalHostClass = (typeof InternalHostClass)[keyof typeof InternalHostClass];

// `localhost`, with or without the root's trailing dot, and names under it (RFC 6761).
const LOCALHOST_NAME = /^(?:[^.]+\.)*localhost\.?$/;
const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const IPV4_LINK_LOCAL = /^169\.254\.\d{1,3}\.\d{1,3}$/;
// fe80::/10: the first group is fe80 to febf (the compressed form keeps all four digits).
const IPV6_LINK_LOCAL = /^\[fe[89ab][0-9a-f]:/;

// The internal class of a URL's host name (`URL.hostname`), or undefined for any other host
// (another address, or a DNS name other than localhost).
export function internalHostClass(hostname: string): InternalHostClass | undefined {
  const canonical = canonicalRegistry(hostname);
  const host = inetAtonAddress(canonical) ?? canonical;
  if (LOCALHOST_NAME.test(host) || IPV4_LOOPBACK.test(host) || host === '[::1]') return InternalHostClass.LOOPBACK;
  if (IPV4_LINK_LOCAL.test(host) || IPV6_LINK_LOCAL.test(host)) return InternalHostClass.LINK_LOCAL;
  if (host === '0.0.0.0' || host === '[::]') return InternalHostClass.UNSPECIFIED;
  return undefined;
}
