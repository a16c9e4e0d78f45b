/**
 * The native QUIC addon (native/quic, Rust + quiche 0.30 through napi-rs): its surface as
 * TypeScript sees it, and where it is loaded from. `npm install` builds it when cargo, cmake
 * and libclang are there (native/quic/install.sh) and only says what is missing otherwise
 * (docs/native-quic.md), so loading it is lazy: only `[quic]`, the QUIC client and the tests
 * load it, and a missing or unloadable build is a named error saying how
 * to make one.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { VoiceHeader } from '../../protocol/voicePacket.ts';
import type { QuicheHeader, ReceiveWindows } from './quiche.ts';

/** Where `npm run build:native` puts the addon; ODIN_QUIC_ADDON overrides it. */
export const NATIVE_ADDON_PATH = fileURLToPath(
  new URL('../../../native/quic/odin_quic.node', import.meta.url),
);

/** The receive windows of quiche.ts. */
export type NativeReceiveWindows = ReceiveWindows;

export type NativeEndpointOptions = {
  host: string;
  port: number;
  certificatePem: string;
  privateKeyPem: string;
  alpn: string[];
  idleTimeoutMs: number;
  migration: boolean;
  keepAliveMs: number;
  /** pre_send_timeout, ms (0 or absent: never). */
  preSendTimeoutMs?: number;
  datagramRecvQueue: number;
  datagramSendQueue: number;
  windows: NativeReceiveWindows;
  socketBufferBytes?: number;
};

/** The client role (native/quic/src/client.rs): a socket that opens connections. */
export type NativeClientEndpointOptions = {
  host: string;
  port: number;
  alpn: string[];
  idleTimeoutMs: number;
  keepAliveMs: number;
  /** Verify the server's certificate (chain and name); false only for `insecure`. */
  verifyPeer: boolean;
  /** PEM certificates to trust; absent: the system's roots. */
  caPem?: string;
  datagramRecvQueue: number;
  datagramSendQueue: number;
  windows: NativeReceiveWindows;
  socketBufferBytes?: number;
};

export type NativeCloseError = { isApp: boolean; errorCode: number; reason: Uint8Array };

/** Event kinds (native/quic/src/events.rs EventKind). */
export const NativeEventKind = {
  unknown: 0,
  established: 1,
  streamData: 2,
  streamReset: 3,
  datagram: 4,
  closed: 5,
} as const;

export type NativeEvent = {
  kind: number;
  conn: number;
  stream?: number;
  data?: Uint8Array;
  fin: boolean;
  code?: number;
  host?: string;
  port?: number;
  peerError?: NativeCloseError;
  localError?: NativeCloseError;
  timedOut: boolean;
  /** A datagram the addon already forwarded to the native receivers of its media. */
  forwarded: boolean;
};

export type NativeStats = {
  packetsIn: number;
  packetsOut: number;
  notQuic: number;
  migrationRefused: number;
  connectionsAccepted: number;
  connectionsClosed: number;
  datagramsExpired: number;
  /** Flushes put off because a connection only owed an ACK (delayed ACKs, endpoint.rs). */
  acksDelayed: number;
  /** sendmmsg calls and the datagrams dropped by them (socket buffer full, ICMP errors). */
  sendCalls: number;
  sendDropped: number;
  /** Sends use UDP GSO (off after the kernel refused it once). */
  gso: boolean;
  connections: number;
  voiceReceived: number;
  voiceForwarded: number;
  voiceRateLimited: number;
  voiceDropped: number;
  voiceMissNoSession: number;
  voiceMissMalformed: number;
  voiceMissSeveralMedias: number;
  voiceMissNoRoute: number;
  voiceAloneReceived: number;
  voiceAloneReceivedBytes: number;
  voiceAloneForwarded: number;
  voiceAloneForwardedBytes: number;
  voiceAloneSendQueueFull: number;
  routes: number;
};

export interface NativeEndpointHandle {
  readonly port: number;
  readonly host: string;
  start(wake: (n: number) => void): void;
  poll(): NativeEvent[];
  flush(conns: number[]): NativeEvent[];
  takeEvents(): NativeEvent[];
  nextTimeoutMs(): number | null;
  accept(
    scid: Uint8Array,
    odcid: Uint8Array | null,
    clientDcid: Uint8Array | null,
    resetToken: Uint8Array | null,
    host: string,
    port: number,
    packet: Uint8Array,
  ): number;
  sendTo(bytes: Uint8Array, host: string, port: number): void;
  redeliver(packet: Uint8Array, host: string, port: number): boolean;
  streamSend(conn: number, stream: number, bytes: Uint8Array, fin: boolean): number;
  streamShutdown(conn: number, stream: number, direction: number, code: number): void;
  dgramSend(conn: number, bytes: Uint8Array): void;
  isDgramSendQueueFull(conn: number): boolean;
  dgramMaxWritableLen(conn: number): number | null;
  close(conn: number, isApp: boolean, code: number, reason: Uint8Array): void;
  setCertificate(options: NativeEndpointOptions): void;
  setSession(conn: number, prefix: Uint8Array): void;
  setRoute(
    conn: number,
    media: number,
    receivers: number[],
    toJs: boolean,
    rate: number | null,
    capacity: number | null,
  ): void;
  removeRoute(conn: number, media: number): void;
  stats(): NativeStats;
  shutdown(code: number, reason: Uint8Array, graceful: boolean): NativeEvent[];
  /** The server's certificate chain, DER, leaf first (client role; null before the handshake). */
  peerCertChain(conn: number): Uint8Array[] | null;
  // Client role (client.rs).
  connect(serverName: string, host: string, port: number): number;
  /** An `unknown` packet that is a stateless reset for one of our connections: its id, else 0. */
  takeStatelessReset(packet: Uint8Array, host: string, port: number): number;
  /** HOT PATH (load generator): queues a datagram; false when it cannot. */
  tryDgramSend(conn: number, bytes: Uint8Array): boolean;
  setVoiceSink(conn: number, on: boolean): void;
  /** (sent µs, received µs) pairs of sink datagrams since the last call, CLOCK_MONOTONIC. */
  takeVoiceStamps(): Float64Array;
  voiceSinkStats(): { received: number; unstamped: number; overflow: number };
}

/** protocol's VoiceHeader as voice.rs hands it over: the media ids as a plain array. */
export type NativeVoiceHeader = Omit<VoiceHeader, 'mediaIdCount' | 'mediaIds'> & { mediaIds: number[] };

export interface NativeAddon {
  version(): string;
  panicForTest(message: string): void;
  /** voice.rs on `packet` (the differential test). */
  readVoiceHeader(packet: Uint8Array): NativeVoiceHeader | null;
  /** stateless.rs: the server's answers without connection state (quiche.ts wraps them). */
  parseQuicHeader(packet: Uint8Array): QuicheHeader | null;
  quicVersionIsSupported(version: number): boolean;
  negotiateVersion(scid: Uint8Array, dcid: Uint8Array): Uint8Array;
  retryPacket(
    scid: Uint8Array,
    dcid: Uint8Array,
    newScid: Uint8Array,
    token: Uint8Array,
    version: number,
  ): Uint8Array;
  /** glibc's malloc counters of this process, bytes (bench/transports/nativePeerMemory.ts). */
  mallocInfo(): { arena: number; mmapped: number; inUse: number; free: number; releasable: number };
  NativeEndpoint: {
    new (options: NativeEndpointOptions): NativeEndpointHandle;
    client(options: NativeClientEndpointOptions): NativeEndpointHandle;
  };
  /** One AES-GCM key for DTLS records (record_aead.rs; the web path's werift patch). */
  RecordAead: new (
    key: Uint8Array,
  ) => NativeRecordAead;
}

/**
 * record_aead.rs: AES-128/256-GCM keyed once; each call takes its own 12-byte nonce and AAD and
 * writes into a Buffer the caller owns. Bad lengths or overlapping buffers throw; a record that
 * does not authenticate is `open` returning -1.
 */
export interface NativeRecordAead {
  /** Writes ciphertext + 16-byte tag at `out[outOffset]`; returns `plaintext.length + 16`. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, outOffset: number): number;
  /** Opens `input[inOffset, inOffset + inLength)` into `out[outOffset]`: the length, or -1. */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    out: Uint8Array,
    outOffset: number,
  ): number;
}

/** `[quic]` (or the QUIC client) without a built (or loadable) addon. */
export class NativeQuicUnavailable extends Error {
  override name = 'NativeQuicUnavailable';
}

/** What builds the addon on a machine that lacks the tools (README, docs/native-quic.md). */
export const NATIVE_BUILD_COMMAND = 'bash native/quic/setup.sh && npm run build:native';

let loaded: NativeAddon | undefined;

export function nativeAddonPath(): string {
  return process.env.ODIN_QUIC_ADDON || NATIVE_ADDON_PATH;
}

/** Whether the addon has been built. */
export function nativeAddonBuilt(): boolean {
  return existsSync(nativeAddonPath());
}

export function loadNativeAddon(): NativeAddon {
  if (loaded !== undefined) return loaded;
  const path = nativeAddonPath();
  const advice = `build it with \`${NATIVE_BUILD_COMMAND}\` (docs/native-quic.md), or remove [quic] from the config`;
  if (!existsSync(path)) {
    throw new NativeQuicUnavailable(
      `[quic] needs the native QUIC addon, and there is none at ${path}: ${advice}`,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    // A build for another platform or a newer glibc: dlopen's own words name the cause.
    throw new NativeQuicUnavailable(
      `[quic] cannot load the native QUIC addon ${path} (${(error as Error).message}): ${advice}`,
      { cause: error },
    );
  }
  return loaded;
}

/** Why the addon cannot be used here (the message of NativeQuicUnavailable), or undefined. */
export function nativeAddonProblem(): string | undefined {
  try {
    loadNativeAddon();
    return undefined;
  } catch (error) {
    if (error instanceof NativeQuicUnavailable) return error.message;
    throw error;
  }
}
