/**
 * The one module that touches the QUIC library: Cloudflare quiche through the napi binding of
 * `@matrixai/quic` (its high-level classes have no datagram API, so we use the binding
 * directly). Everything else in the transport sees only the names exported here, so swapping
 * the QUIC stack means rewriting this file (and the behaviour it documents), not the HTTP/3
 * layer. What the binding does, measured (docs QUIC-WEBTRANSPORT-NOTES): `recv` ≈ 11 µs,
 * `send` ≈ 7.5 µs per produced packet, `dgramSend` ≈ 1.8 µs, `readable()` ≈ 20 µs even when
 * empty (gate it with `isReadable()`).
 *
 * Error conventions of the binding: "nothing to do" is a `null` return (quiche's `Done`);
 * other failures throw an Error whose message is quiche's error name, e.g. `StreamReset(42)`,
 * `StreamStopped(7)`, `StreamLimit`, `TlsFail`.
 */
import quicheBinding from '@matrixai/quic/native/quiche.js';
import type {
  Config as QuicheConfigType,
  Connection as QuicheConnectionType,
  Header as QuicheHeaderType,
  SendInfo as QuicheSendInfoType,
} from '@matrixai/quic/native/types.js';

export type QuicheConfig = QuicheConfigType;
export type QuicheConnection = QuicheConnectionType;
export type QuicheHeader = QuicheHeaderType;
export type QuicheSendInfo = QuicheSendInfoType;

export const quiche = quicheBinding;

/**
 * Our connection ids are always this long, so short-header packets can be parsed by length
 * (and stateless reset tokens derived from them, RFC 9000 section 10.3.2). 16 random bytes, not
 * the maximum 20: quiche 0.18 encodes a server's transport parameters into a fixed 128-byte
 * buffer, and with a client's 20-byte original connection id, our id twice (initial and Retry
 * source) and the 16-byte stateless reset token, 20-byte ids overflow it (`BufferTooShort`).
 */
export const CONNECTION_ID_LENGTH = 16;

/** Largest UDP payload we send (RFC 9000 section 14: at least 1200; 1350 is quiche's default). */
export const MAX_UDP_PAYLOAD = 1350;

/** Packet types of `QuicheHeader.ty`. */
export const PacketType = quicheBinding.Type;

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
 * make quiche hold is small. Bidi-local 0: the server opens no bidirectional streams (and
 * a nonzero value would not fit quiche's transport parameter buffer next to the reset token).
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

export type QuicheSettings = {
  /** PEM; absent on a client. */
  certificatePem?: string;
  privateKeyPem?: string;
  /** ALPN identifiers, e.g. `['h3']`. */
  alpn: string[];
  /** `max_idle_timeout` transport parameter, ms (0: none). */
  idleTimeoutMs: number;
  /** RFC 9000 section 18.2 `disable_active_migration`. */
  disableActiveMigration: boolean;
  /** A client verifies the server's certificate against `caPem` unless false. */
  verifyPeer: boolean;
  caPem?: string;
  /** Queue lengths for QUIC datagrams (RFC 9221). */
  datagramRecvQueue: number;
  datagramSendQueue: number;
  /** Default: SERVER_RECEIVE_WINDOWS for a server (a config with a certificate), else CLIENT_RECEIVE_WINDOWS. */
  receiveWindows?: ReceiveWindows;
};

const encoder = new TextEncoder();

/** A quiche Config for one endpoint role. */
export function createQuicheConfig(settings: QuicheSettings): QuicheConfig {
  const key = settings.privateKeyPem === undefined ? undefined : [encoder.encode(settings.privateKeyPem)];
  const cert = settings.certificatePem === undefined ? undefined : [encoder.encode(settings.certificatePem)];
  const ca = settings.caPem === undefined ? undefined : encoder.encode(settings.caPem);
  const config = quicheBinding.Config.withBoringSslCtx(settings.verifyPeer, false, ca, key, cert, undefined);
  config.setApplicationProtos(settings.alpn);
  config.setMaxIdleTimeout(settings.idleTimeoutMs);
  config.setMaxRecvUdpPayloadSize(MAX_UDP_PAYLOAD);
  config.setMaxSendUdpPayloadSize(MAX_UDP_PAYLOAD);
  const windows =
    settings.receiveWindows ??
    (settings.certificatePem === undefined ? CLIENT_RECEIVE_WINDOWS : SERVER_RECEIVE_WINDOWS);
  config.setInitialMaxData(windows.connection);
  config.setInitialMaxStreamDataBidiLocal(windows.bidiLocal);
  config.setInitialMaxStreamDataBidiRemote(windows.bidiRemote);
  config.setInitialMaxStreamDataUni(windows.uni);
  config.setMaxStreamWindow(windows.maxStream);
  config.setMaxConnectionWindow(windows.maxConnection);
  // Enough streams for the HTTP/3 control streams plus WebTransport streams.
  config.setInitialMaxStreamsBidi(32);
  config.setInitialMaxStreamsUni(16);
  config.setDisableActiveMigration(settings.disableActiveMigration);
  config.enableDgram(true, settings.datagramRecvQueue, settings.datagramSendQueue);
  config.grease(false);
  return config;
}

/** Parses the header of a datagram's first QUIC packet; undefined for bytes that are not QUIC. */
export function parseHeader(packet: Uint8Array): QuicheHeader | undefined {
  try {
    return quicheBinding.Header.fromSlice(packet, CONNECTION_ID_LENGTH);
  } catch {
    return undefined;
  }
}

/** The quiche error code name of a thrown binding error, and the stream error code in it if any. */
export function quicheErrorOf(error: unknown): { name: string; code: number | undefined } {
  const message = error instanceof Error ? error.message : String(error);
  const match = /^(\w+)(?:\((\d{1,16})\))?/.exec(message);
  return { name: match?.[1] ?? message, code: match?.[2] === undefined ? undefined : Number(match[2]) };
}
