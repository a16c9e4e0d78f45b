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
  publicAddress: string,
  section: { binding: string; public_address_override?: string | undefined },
): string {
  const announced = section.public_address_override ?? publicAddress;
  // Both come validated by the schema (Format.address), so they parse.
  const address = parseHostPort(announced)!;
  const port = address.port ?? parseHostPort(section.binding)!.port!;
  return formatHostPort(address.host, port);
}
