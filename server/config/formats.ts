// String formats of config values: listener bindings, public addresses, hosts, CIDR blocks,
// URLs and log filters. validate.ts registers them with ajv; env.ts uses the binding parser
// for the `GRID_*_PORT` variables.

import { isIP, isIPv4, isIPv6 } from 'node:net';
import { Format } from './schema.ts';

// RFC 1123 host names; a last label of only digits is an IPv4 typo, not a host name (RFC 3696 §2).
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isHostname(s: string): boolean {
  return HOSTNAME.test(s) && !/(^|\.)\d+\.?$/.test(s);
}

/** An IP address or a host name, no port. */
export function isHost(s: string): boolean {
  return isIP(s) !== 0 || isHostname(s);
}

export interface HostPort {
  /** As written, IPv6 without brackets. */
  host: string;
  port: number | undefined;
}

/** Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; undefined when malformed. */
export function parseHostPort(s: string): HostPort | undefined {
  if (s.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
    if (!m || !isIPv6(m[1]!)) return undefined;
    return { host: m[1]!, port: m[2] === undefined ? undefined : toPort(m[2]) };
  }
  if (isIPv6(s)) return { host: s, port: undefined };
  const colon = s.lastIndexOf(':');
  const host = colon < 0 ? s : s.slice(0, colon);
  if (!isIPv4(host) && !isHostname(host)) return undefined;
  if (colon < 0) return { host, port: undefined };
  const port = s.slice(colon + 1);
  if (!/^\d{1,5}$/.test(port)) return undefined;
  return { host, port: toPort(port) };
}

function toPort(digits: string): number {
  return Number(digits);
}

/**
 * A listener binding (`Format.binding`, validated by the schema) as host and port, IPv6
 * without brackets: what `listen()` and `bind()` take.
 */
export function splitBinding(binding: string): { host: string; port: number } {
  const hp = parseHostPort(binding);
  if (hp?.port === undefined) throw new RangeError(`not a binding "host:port": ${JSON.stringify(binding)}`);
  return { host: hp.host, port: hp.port };
}

export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function isBinding(s: string): boolean {
  const hp = parseHostPort(s);
  return hp !== undefined && hp.port !== undefined && hp.port <= 65535 && (s.startsWith('[') || !isIPv6(s));
}

function isAddress(s: string): boolean {
  const hp = parseHostPort(s);
  return hp !== undefined && (hp.port === undefined || (hp.port >= 1 && hp.port <= 65535));
}

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function isHttpUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
}

// `target=level`, a bare `level`, or a bare `target` (the public ODIN example configs'
// `filters = ["webrtc", "webrtc_ice"]`: that module's errors only).
const LOG_FILTER = /^(?:(?:[A-Za-z0-9_:.\-/]+=)?(?:off|error|warn|info|debug|trace)|[A-Za-z0-9_:.\-/]+)$/;

interface FormatSpec {
  validate: (s: string) => boolean;
  /** What a valid value looks like, for the error message. */
  expected: string;
}

export const formats: Readonly<Record<string, FormatSpec>> = {
  [Format.binding]: {
    validate: isBinding,
    expected: 'a binding "host:port" (IPv4, [IPv6] or hostname; port 0..65535), e.g. "0.0.0.0:4433"',
  },
  [Format.address]: {
    validate: isAddress,
    expected: 'an address "host" or "host:port" (port 1..65535), e.g. "voice.example.com:4433"',
  },
  [Format.host]: { validate: isHost, expected: 'an IP address or hostname (no port)' },
  [Format.cidr]: {
    validate: isCidr,
    expected: 'an IPv4/IPv6 address or CIDR block, e.g. "10.0.0.0/8" or "fd00::/8"',
  },
  [Format.httpUrl]: {
    validate: isHttpUrl,
    expected: 'an http:// or https:// URL, e.g. "http://user:password@gateway:7000/internal"',
  },
  [Format.logFilter]: {
    validate: (s) => LOG_FILTER.test(s),
    expected: 'a log filter "target=level", "level" (off, error, warn, info, debug, trace) or "target"',
  },
};
