/**
 * quiche's names as the rest of the transport sees them: our connection id length and packet
 * size, packet types and headers, the receive windows both roles configure, and the error names
 * quiche's calls throw (quicPackets.ts writes the server's stateless packets).
 *
 * Error conventions of the addon's connection calls: "nothing to do" is a `null` return
 * (quiche's `Done`); other failures throw an Error whose message is quiche's error name, e.g.
 * `StreamReset(42)`, `StreamStopped(7)`, `StreamLimit`, `TlsFail`.
 */
/**
 * Our connection ids are always this long, so short-header packets can be parsed by length
 * (and stateless reset tokens derived from them, RFC 9000 section 10.3.2). 16 random bytes, not
 * the maximum 20 (the native addon has the same constant, native/quic/src/endpoint.rs).
 */
export const CONNECTION_ID_LENGTH = 16;

/** Largest UDP payload we send (RFC 9000 section 14: at least 1200; 1350 is quiche's default). */
export const MAX_UDP_PAYLOAD = 1350;

/** RFC 9000 section 14.1: a client's Initial comes in a UDP datagram of at least this size. */
export const MIN_CLIENT_INITIAL_LEN = 1200;

/** Packet types of `QuicheHeader.ty` (native/quic/src/stateless.rs). */
export const PacketType = {
  Initial: 0,
  Retry: 1,
  Handshake: 2,
  ZeroRTT: 3,
  VersionNegotiation: 4,
  Short: 5,
} as const;

/** The header of a QUIC packet (long header: both ids and, for an Initial, the token). */
export type QuicheHeader = {
  ty: number;
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token?: Uint8Array | null;
};

/**
 * Flow-control limits of what the peer may send us (RFC 9000 section 4): quiche buffers at most
 * this much per stream and per connection, also for data that arrives out of order.
 */
export type ReceiveWindows = {
  /** `initial_max_data`: all streams of a connection together. */
  connection: number;
  /** `initial_max_stream_data_bidi_remote`: a bidirectional stream the peer opened. */
  bidiRemote: number;
  /** `initial_max_stream_data_bidi_local`: a bidirectional stream we opened. */
  bidiLocal: number;
  /** `initial_max_stream_data_uni`: a unidirectional stream the peer opened. */
  uni: number;
  /** How far quiche's window auto-tuning may grow a stream / the connection window. */
  maxStream: number;
  maxConnection: number;
};

/** The client's windows: room for RPC bursts (a Joined notification of a big room) per stream. */
export const CLIENT_RECEIVE_WINDOWS: ReceiveWindows = {
  connection: 4 * 1024 * 1024,
  bidiRemote: 1024 * 1024,
  bidiLocal: 1024 * 1024,
  uni: 256 * 1024,
  maxStream: 16 * 1024 * 1024,
  maxConnection: 24 * 1024 * 1024,
};

/**
 * The server's windows: a client only sends RPC requests (64 KiB at most each, rate-limited)
 * on its streams, voice goes in datagrams; so what any connection, authenticated or not, can
 * make quiche hold is small. Bidi-local 0: the server opens no bidirectional streams.
 * Uni just under 16 KiB: HTTP/3 control and QPACK streams carry a few bytes.
 */
export const SERVER_RECEIVE_WINDOWS: ReceiveWindows = {
  connection: 256 * 1024,
  bidiRemote: 128 * 1024,
  bidiLocal: 0,
  uni: 16 * 1024,
  maxStream: 256 * 1024,
  maxConnection: 512 * 1024,
};

/** The quiche error code name of a thrown error, and the stream error code in it if any. */
export function quicheErrorOf(error: unknown): { name: string; code: number | undefined } {
  const message = error instanceof Error ? error.message : String(error);
  const match = /^(\w+)(?:\((\d{1,16})\))?/.exec(message);
  return { name: match?.[1] ?? message, code: match?.[2] === undefined ? undefined : Number(match[2]) };
}
