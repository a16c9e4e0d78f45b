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

/** Our connection ids are always this long, so short-header packets can be parsed by length. */
export const CONNECTION_ID_LENGTH = 20;

/** Largest UDP payload we send (RFC 9000 section 14: at least 1200; 1350 is quiche's default). */
export const MAX_UDP_PAYLOAD = 1350;

/** Packet types of `QuicheHeader.ty`. */
export const PacketType = quicheBinding.Type;

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
  // Flow control: room for RPC bursts (a Joined notification of a big room) per stream, and
  // enough streams for the HTTP/3 control streams plus WebTransport streams.
  config.setInitialMaxData(4 * 1024 * 1024);
  config.setInitialMaxStreamDataBidiLocal(1024 * 1024);
  config.setInitialMaxStreamDataBidiRemote(1024 * 1024);
  config.setInitialMaxStreamDataUni(256 * 1024);
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
