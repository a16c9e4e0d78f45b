/**
 * The client role on the native addon (native/quic/src/client.rs): one UDP socket owned by the
 * addon, any number of connections opened on it, each a `QuicConnection` over a `NativeCore`
 * (nativeDriver.ts), so HTTP/3 and WebTransport run on it unchanged, as on the server side.
 * Used by grid's Node client (client/quic/webTransportClient.ts) and the load generator, which
 * shares one endpoint among all its connections and lets the addon count and time the voice it
 * receives (`setVoiceSink`, `takeVoiceStamps`) instead of taking one JavaScript event per packet.
 * Events, sending and timers: nativeDriver.ts, as on the server side.
 */
import { createQuicEndpointStats, type QuicEndpointStats } from './endpointStats.ts';
import {
  loadNativeAddon,
  type NativeEndpointHandle,
  type NativeEvent,
  type NativeReceiveWindows,
} from './nativeAddon.ts';
import { type NativeConnection, NativeDriver } from './nativeDriver.ts';
import { type ConnectionOwner, QuicConnection } from './quicConnection.ts';

export type NativeQuicClientParams = {
  /** Local address to bind (an IP address). */
  host: string;
  port?: number;
  alpn: string[];
  idleTimeoutMs: number;
  /** PING after this long without traffic, ms; 0: never. */
  keepAliveMs: number;
  /** Verify the server's certificate chain and name; false only when the user asked for it. */
  verifyPeer: boolean;
  /** PEM certificates to trust; without it, the system's roots. */
  caPem?: string;
  datagramRecvQueue?: number;
  datagramSendQueue?: number;
  receiveWindows: NativeReceiveWindows;
  socketBufferBytes?: number;
};

const encoder = new TextEncoder();

export class NativeQuicClientEndpoint implements ConnectionOwner {
  readonly #native: NativeEndpointHandle;
  readonly #driver: NativeDriver;
  readonly #counters: QuicEndpointStats = createQuicEndpointStats();

  private constructor(native: NativeEndpointHandle) {
    this.#native = native;
    this.#driver = new NativeDriver(native, {
      unknown: (event) => this.#unknown(event),
      closed: () => {
        this.#counters.connectionsClosed++;
      },
    });
  }

  /** Loads the addon (NativeQuicUnavailable when it is not built) and binds the socket. */
  static bind(params: NativeQuicClientParams): NativeQuicClientEndpoint {
    const addon = loadNativeAddon();
    const native = addon.NativeEndpoint.client({
      host: params.host,
      port: params.port ?? 0,
      alpn: params.alpn,
      idleTimeoutMs: params.idleTimeoutMs,
      keepAliveMs: params.keepAliveMs,
      verifyPeer: params.verifyPeer,
      ...(params.caPem === undefined ? {} : { caPem: params.caPem }),
      datagramRecvQueue: params.datagramRecvQueue ?? 1024,
      datagramSendQueue: params.datagramSendQueue ?? 1024,
      windows: params.receiveWindows,
      ...(params.socketBufferBytes === undefined ? {} : { socketBufferBytes: params.socketBufferBytes }),
    });
    const endpoint = new NativeQuicClientEndpoint(native);
    endpoint.#driver.start();
    return endpoint;
  }

  get port(): number {
    return this.#native.port;
  }

  get connectionCount(): number {
    return this.#driver.connections.size;
  }

  /** The addon's packet counts with ours (stateless resets received). */
  get stats(): QuicEndpointStats {
    this.#driver.updatePacketCounts(this.#counters);
    return this.#counters;
  }

  /** Opens a connection (`host` an IP address: webTransportClient.ts resolves names); `serverName` is verified against the certificate. */
  connect(host: string, port: number, serverName: string): QuicConnection {
    const id = this.#native.connect(serverName, host, port);
    const connection: NativeConnection = new QuicConnection({
      id: `quic-${id}`,
      role: 'client',
      quiche: this.#driver.core(id),
      remoteHost: host,
      remotePort: port,
      owner: this,
    });
    this.#driver.connections.set(id, connection);
    this.#driver.armTimer();
    return connection;
  }

  /**
   * HOT PATH (load generator): queues one datagram on `connection` with one napi call and no
   * exception on refusal (queue full, not established); sent by this turn's flush.
   */
  trySendDatagram(connection: QuicConnection, bytes: Uint8Array): boolean {
    const core = (connection as NativeConnection).quiche;
    if (this.#driver.closed || connection.closed || !this.#native.tryDgramSend(core.nativeId, bytes)) {
      this.#counters.datagramsDropped++;
      return false;
    }
    if (!connection.dirty) this.markDirty(connection);
    return true;
  }

  /**
   * Load generator: the connection's datagrams stay in the addon, which reads the bench stamp
   * of each (bench/voicePayload.ts) and keeps (sent, received) times for `takeVoiceStamps`;
   * `onDatagram` is no longer called.
   */
  setVoiceSink(connection: QuicConnection, on: boolean): void {
    if (this.#driver.closed || connection.closed) return;
    this.#native.setVoiceSink((connection as NativeConnection).quiche.nativeId, on);
  }

  /** (sent µs, received µs) pairs of sink datagrams since the last call, flat, CLOCK_MONOTONIC. */
  takeVoiceStamps(): Float64Array {
    return this.#driver.closed ? new Float64Array(0) : this.#native.takeVoiceStamps();
  }

  /** Datagrams the sink connections received (with or without a stamp). */
  get voiceSinkReceived(): number {
    return this.#driver.closed ? 0 : this.#native.voiceSinkStats().received;
  }

  markDirty(connection: QuicConnection): void {
    this.#driver.markDirty(connection);
  }

  /** Closes every connection (application CONNECTION_CLOSE), then the socket. */
  async close(code = 0, reason = ''): Promise<void> {
    if (this.#driver.closed) return;
    for (const connection of this.#driver.connections.values()) connection.close(true, code, reason);
    this.#driver.end(this.#native.shutdown(code, encoder.encode(reason.slice(0, 200)), true));
  }

  /**
   * A packet whose DCID names none of our connections: a stateless reset from a server that
   * lost our connection (RFC 9000 section 10.3) if it ends in that server's token; else noise.
   */
  #unknown(event: NativeEvent): void {
    const id = this.#native.takeStatelessReset(event.data!, event.host!, event.port!);
    const connection = id === 0 ? undefined : this.#driver.connections.get(id);
    if (connection === undefined) {
      this.#counters.unknownConnection++;
      return;
    }
    this.#counters.statelessResetsReceived++;
    connection.statelessReset = true;
    this.markDirty(connection);
  }
}
