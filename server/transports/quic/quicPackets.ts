/**
 * The server's packets for no known connection, written by quiche 0.30 in the native addon
 * (native/quic/src/stateless.rs): the header of such a packet, Version Negotiation and Retry.
 * statelessResponder.ts decides which answer a packet gets.
 */
import { loadNativeAddon } from './nativeAddon.ts';
import type { QuicheHeader } from './quiche.ts';

/** Parses the header of a datagram's first QUIC packet; undefined for bytes that are not QUIC. */
export function parseHeader(packet: Uint8Array): QuicheHeader | undefined {
  return loadNativeAddon().parseQuicHeader(packet) ?? undefined;
}

/** Whether quiche speaks QUIC `version` (else a client's Initial gets Version Negotiation). */
export function versionIsSupported(version: number): boolean {
  return loadNativeAddon().quicVersionIsSupported(version);
}

/** A Version Negotiation packet (RFC 9000 section 17.2.1) for a client's `scid` and `dcid`. */
export function versionNegotiationPacket(scid: Uint8Array, dcid: Uint8Array): Uint8Array {
  return loadNativeAddon().negotiateVersion(scid, dcid);
}

/** A Retry packet (RFC 9000 section 17.2.5): our `newScid` and address `token` for the client. */
export function retryPacket(
  header: Pick<QuicheHeader, 'scid' | 'dcid' | 'version'>,
  newScid: Uint8Array,
  token: Uint8Array,
): Uint8Array {
  return loadNativeAddon().retryPacket(header.scid, header.dcid, newScid, token, header.version);
}
