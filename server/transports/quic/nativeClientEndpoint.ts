/**
 * The client role on the native addon (native/quic/src/client.rs): one UDP socket owned by the
 * addon, any number of connections opened on it, each a `QuicConnection` over a `NativeCore`
 * (nativeEndpoint.ts), so HTTP/3 and WebTransport run on it unchanged, as on the server side.
 * Used by grid's Node client (client/quic/webTransportClient.ts) and the load generator, which
 * shares one endpoint among all its connections and lets the addon count and time the voice it
 * receives (`setVoiceSink`, `takeVoiceStamps`) instead of taking one JavaScript event per packet.
 *
 * Flow as in nativeEndpoint.ts: the waker thread sees the socket readable → `#poll` (one napi
 * call reads, feeds quiche, runs timers, sends, returns the events) → handlers; what handlers
 * queue marks the connection dirty and one `setImmediate` flushes them all in one napi call.
 */
import { createQuicEndpointStats, type QuicEndpointStats } from './endpoint.ts';
import {
  loadNativeAddon,
  type NativeEndpointHandle,
  type NativeEvent,
  NativeEventKind,
  type NativeReceiveWindows,
} from './nativeAddon.ts';
import { type ForwardState, NativeCore } from './nativeEndpoint.ts';
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

type ClientConnection = QuicConnection<NativeCore>;

const encoder = new TextEncoder();

export class NativeQuicClientEndpoint implements ConnectionOwner {
  readonly #native: NativeEndpointHandle;
  readonly #connections = new Map<number, ClientConnection>();
  readonly #dirty: ClientConnection[] = [];
  readonly #counters: QuicEndpointStats = createQuicEndpointStats();
  /** Never set on the client role: nothing is forwarded by a table here. */
  readonly #forward: ForwardState = { inFlight: false };
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #flushScheduled = false;
  #closed = false;

  private constructor(native: NativeEndpointHandle) {
    this.#native = native;
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
    native.start(() => endpoint.#poll());
    return endpoint;
  }

  get port(): number {
    return this.#native.port;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The addon's packet counts with ours (stateless resets received). */
  get stats(): QuicEndpointStats {
    if (!this.#closed) {
      const native = this.#native.stats();
      this.#counters.packetsIn = native.packetsIn;
      this.#counters.packetsOut = native.packetsOut;
      this.#counters.notQuic = native.notQuic;
    }
    return this.#counters;
  }

  /** Opens a connection (`host` an IP address); `serverName` is verified against the certificate. */
  connect(host: string, port: number, serverName: string): QuicConnection {
    const id = this.#native.connect(serverName, host, port);
    const connection: ClientConnection = new QuicConnection({
      id: `quic-${id}`,
      role: 'client',
      quiche: new NativeCore(this.#native, id, this.#forward),
      remoteHost: host,
      remotePort: port,
      owner: this,
    });
    this.#connections.set(id, connection);
    this.#armTimer();
    return connection;
  }

  /**
   * HOT PATH (load generator): queues one datagram on `connection` with one napi call and no
   * exception on refusal (queue full, not established); sent by this turn's flush.
   */
  trySendDatagram(connection: QuicConnection, bytes: Uint8Array): boolean {
    const core = (connection as ClientConnection).quiche;
    if (this.#closed || connection.closed || !this.#native.tryDgramSend(core.nativeId, bytes)) {
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
    if (this.#closed || connection.closed) return;
    this.#native.setVoiceSink((connection as ClientConnection).quiche.nativeId, on);
  }

  /** (sent µs, received µs) pairs of sink datagrams since the last call, flat, CLOCK_MONOTONIC. */
  takeVoiceStamps(): Float64Array {
    return this.#closed ? new Float64Array(0) : this.#native.takeVoiceStamps();
  }

  /** Datagrams the sink connections received (with or without a stamp). */
  get voiceSinkReceived(): number {
    return this.#closed ? 0 : this.#native.voiceSinkStats().received;
  }

  markDirty(connection: QuicConnection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.#dirty.push(connection as ClientConnection);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Closes every connection (application CONNECTION_CLOSE), then the socket. */
  async close(code = 0, reason = ''): Promise<void> {
    if (this.#closed) return;
    for (const connection of this.#connections.values()) connection.close(true, code, reason);
    const events = this.#native.shutdown(code, encoder.encode(reason.slice(0, 200)), true);
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#dispatch(events);
  }

  #poll(): void {
    if (this.#closed) return;
    this.#dispatch(this.#native.poll());
    this.#armTimer();
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed) return;
    const ids: number[] = [];
    const dirty = this.#dirty;
    for (let i = 0; i < dirty.length; i++) {
      const connection = dirty[i]!;
      connection.dirty = false;
      if (connection.closed) continue;
      connection.writePending();
      ids.push(connection.quiche.nativeId);
    }
    dirty.length = 0;
    this.#dispatch(this.#native.flush(ids));
    this.#armTimer();
  }

  /** One timer per endpoint, at the earliest deadline the addon reports. */
  #armTimer(): void {
    if (this.#closed) return;
    const delay = this.#native.nextTimeoutMs();
    const at = delay === null ? Number.POSITIVE_INFINITY : performance.now() + delay;
    if (this.#timer !== undefined && Math.abs(at - this.#timerAt) < 1) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (delay === null) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#poll();
      },
      Math.max(0, Math.ceil(delay)),
    );
  }

  #dispatch(events: NativeEvent[]): void {
    for (const event of events) {
      if (event.kind === NativeEventKind.unknown) {
        this.#unknown(event);
        continue;
      }
      const connection = this.#connections.get(event.conn);
      if (connection === undefined) continue;
      switch (event.kind) {
        case NativeEventKind.established:
          connection.established = true;
          if (!connection.closed) connection.handler.onEstablished();
          break;
        case NativeEventKind.streamData:
          if (!connection.closed) connection.handler.onStreamData(event.stream!, event.data!, event.fin);
          break;
        case NativeEventKind.streamReset:
          if (!connection.closed) connection.handler.onStreamAborted(event.stream!, event.code!, 'read');
          break;
        case NativeEventKind.datagram:
          if (!connection.closed) connection.handler.onDatagram(event.data!);
          break;
        case NativeEventKind.closed:
          this.#connections.delete(event.conn);
          this.#counters.connectionsClosed++;
          connection.quiche.closedWith(event);
          connection.finish();
          break;
      }
    }
  }

  /**
   * A packet whose DCID names none of our connections: a stateless reset from a server that
   * lost our connection (RFC 9000 section 10.3) if it ends in that server's token; else noise.
   */
  #unknown(event: NativeEvent): void {
    const id = this.#native.takeStatelessReset(event.data!, event.host!, event.port!);
    const connection = id === 0 ? undefined : this.#connections.get(id);
    if (connection === undefined) {
      this.#counters.unknownConnection++;
      return;
    }
    this.#counters.statelessResetsReceived++;
    connection.statelessReset = true;
    this.markDirty(connection);
  }
}
