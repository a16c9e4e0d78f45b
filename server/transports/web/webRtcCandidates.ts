/**
 * The ICE host candidates the WebRTC answer advertises (`[http] webrtc_candidates`).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { HttpConfig } from '../../config/index.ts';

/**
 * The addresses the WebRTC answer advertises: `[http] webrtc_candidates`, or when that is empty
 * (its default) the host of the address this listener announces (`public_address_override`,
 * else `public_address`).
 */
export function webRtcCandidates(http: HttpConfig, publicAddress: string): string[] {
  if (http.webrtc_candidates.length > 0) return [...http.webrtc_candidates];
  return [splitHost(publicAddress)];
}

/**
 * Host names among the candidates become IP addresses, resolved once at start: ICE candidates
 * are addresses (RFC 8445 section 5.1.1), and whether a client resolves a name in a remote
 * candidate is up to the client. A name that does not resolve is kept, with a warning.
 */
export async function resolveCandidates(
  candidates: readonly string[],
  logger?: { warn(fields: object, message: string): void },
): Promise<string[]> {
  const resolved: string[] = [];
  for (const candidate of candidates) {
    if (isIP(candidate) !== 0) {
      resolved.push(candidate);
      continue;
    }
    try {
      resolved.push((await lookup(candidate)).address);
    } catch (error) {
      logger?.warn(
        { candidate, error: (error as Error).message },
        'cannot resolve a WebRTC candidate host name; advertising the name as it is',
      );
      resolved.push(candidate);
    }
  }
  return resolved;
}

/** The host part of `host` or `host:port` (IPv6 in brackets). */
function splitHost(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colons = address.split(':').length - 1;
  return colons === 1 ? address.slice(0, address.indexOf(':')) : address;
}
