/**
 * The source a connection is accounted to by per-address limits (unauthenticated connections,
 * failed room-stream attaches): its IP address, with
 * - an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it is, and
 * - an IPv6 address cut to its /64 prefix: one subscriber usually holds a whole /64 (RFC 6177),
 *   so counting single IPv6 addresses would let one host pose as 2^64 sources.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** `host:port` or `[v6]:port` (Connection.remoteAddress) → the host part. */
function hostOf(remoteAddress: string): string {
  if (remoteAddress.startsWith('[')) return remoteAddress.slice(1, remoteAddress.indexOf(']'));
  const at = remoteAddress.lastIndexOf(':');
  if (at < 0) return remoteAddress;
  const host = remoteAddress.slice(0, at);
  // An unbracketed IPv6 address without a port ("::1") has colons too: keep it whole.
  return isIPv4(host) || isIPv6(host) ? host : remoteAddress;
}

/** The 8 groups of an IPv6 address (no zone, no embedded IPv4), or undefined. */
function ipv6Groups(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  return [...head, ...Array<string>(missing).fill('0'), ...tail];
}

/** The accounting key of a connection's `remoteAddress` (see the module comment). */
export function sourceOf(remoteAddress: string): string {
  const host = hostOf(remoteAddress).replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (mapped) return mapped[1]!;
  if (!isIPv6(host)) return host;
  const groups = ipv6Groups(host);
  if (groups === undefined) return host;
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
