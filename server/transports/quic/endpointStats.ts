/**
 * The counters of a QUIC endpoint (server: nativeEndpoint.ts, client: nativeClientEndpoint.ts):
 * plain numbers, read by metrics and tests, updated in place.
 */
import type { StatelessStats } from './statelessResponder.ts';

export type QuicEndpointStats = StatelessStats & {
  packetsIn: number;
  packetsOut: number;
  /** Datagrams that are not QUIC packets (garbage on the port). */
  notQuic: number;
  /** Packets from a new address of a connection while migration is off. */
  migrationRefused: number;
  /** Client: connections ended by a stateless reset from the server. */
  statelessResetsReceived: number;
  /** Server: validated Initials dropped because `admit` said no. */
  connectionsRefused: number;
  connectionsAccepted: number;
  connectionsClosed: number;
  /** Datagrams refused at once: queue full, too big, handshake not done. */
  datagramsDropped: number;
  /** Datagrams dropped after waiting longer than the pre-send timeout. */
  datagramsExpired: number;
};

/** Every counter of an endpoint at zero. */
export function createQuicEndpointStats(): QuicEndpointStats {
  return {
    packetsIn: 0,
    packetsOut: 0,
    notQuic: 0,
    unknownConnection: 0,
    shortInitial: 0,
    versionNegotiations: 0,
    retriesSent: 0,
    invalidTokens: 0,
    migrationRefused: 0,
    statelessResetsSent: 0,
    statelessResetsLimited: 0,
    statelessResetsReceived: 0,
    connectionsRefused: 0,
    connectionsAccepted: 0,
    connectionsClosed: 0,
    datagramsDropped: 0,
    datagramsExpired: 0,
  };
}
