/**
 * The address a listener announces to clients (the gateway `Connect` answer, tokens' `adr`):
 * the listener's `public_address_override`, else the root `public_address`; a port written
 * there wins, otherwise the listener's own binding port is used. One rule for the server and
 * the operator, which renders per-pod addresses.
 */
import { formatHostPort, parseHostPort } from './formats.ts';
import type { GridConfig } from './schema.ts';

export function publicAddressFor(config: GridConfig, listener: 'http' | 'quic'): string {
  const section = config[listener];
  if (section === undefined) throw new Error(`[${listener}] is not configured`);
  return announcedAddress(config.public_address, section);
}

/** The same for one listener's section, given the root `public_address`. */
export function announcedAddress(
  publicAddress: string | undefined,
  section: { binding: string; public_address_override?: string | undefined },
): string {
  const announced =
    section.public_address_override ?? requirePublicAddress({ public_address: publicAddress });
  // Both come validated by the schema (Format.address), so they parse.
  const address = parseHostPort(announced)!;
  const port = address.port ?? parseHostPort(section.binding)!.port!;
  return formatHostPort(address.host, port);
}

/**
 * The root `public_address` of a config about to run. Loading guarantees it for a standalone
 * config, and the supervisor client for a supervised one once `sfu.GridConfig` answered
 * (supervisor/supervisedConfig.ts), so a miss here is a bug, not a user error.
 */
export function requirePublicAddress(config: Pick<GridConfig, 'public_address'>): string {
  if (config.public_address === undefined) {
    throw new Error('public_address is not set: a supervised config must get it from sfu.GridConfig first');
  }
  return config.public_address;
}
