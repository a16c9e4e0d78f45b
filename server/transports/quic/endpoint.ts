/**
 * A QUIC endpoint: one UDP socket serving every connection, packets routed by destination
 * connection id (RFC 9000 section 5.2). Servers accept connections (optionally behind a
 * stateless Retry, RFC 9000 section 8.1.2, so an attacker spoofing source addresses cannot make
 * us hold connection state) and answer packets of connections they do not know with stateless
 * resets (section 10.3; statelessResponder.ts decides every answer given without state);
 * clients connect, and recognise a reset from their server. The same class serves both roles,
 * so the tests' client runs on exactly the code the server does.
 *
 * HOT PATH: `#onMessage` → quiche `recv` → datagrams to the handler → mark dirty; one
 * `setImmediate` per event-loop turn flushes every dirty connection (`send` until quiche has
 * nothing more), so the datagrams queued in one turn leave coalesced. Every connection's timers
 * (quiche's loss/ack/idle timers, keep-alive, the application's connect deadline, delayed ACKs)
 * share one timer wheel.
 *
 * Delayed ACKs: quiche puts an ACK into the next packet it builds after any ack-eliciting
 * packet and has no ACK timer of its own, so flushing after every receive answered every voice
 * packet with an ACK-only packet. A packet that brought voice datagrams and nothing else, on an
 * established connection, is therefore not flushed at once: its ACK leaves with the next packet
 * we send anyway, after a second such packet (RFC 9000 section 13.2.2: "after receiving at least
 * two ack-eliciting packets"), or ACK_DELAY_MS later, inside quiche's advertised max_ack_delay
 * (25 ms). Handshake, stream data (RPC) and close are flushed at once as before.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type ConnectionOwner, QuicConnection as QuicConnectionOf } from './quicConnection.ts';
import {
  CONNECTION_ID_LENGTH,
  MAX_UDP_PAYLOAD,
  parseHeader,
  type QuicheConfig,
  type QuicheConnection,
  quiche,
  quicheErrorOf,
} from './quiche.ts';
import { MIN_STATELESS_RESET_BYTES } from './statelessReset.ts';
import { type Admission, StatelessResponder, type StatelessStats } from './statelessResponder.ts';
import { TimerWheel } from './timerWheel.ts';

export type QuicEndpointParams = {
  host: string;
  /** 0: any free port. */
  port: number;
  role: 'server' | 'client';
  config: QuicheConfig;
  /** Server: answer a first Initial with a Retry and accept only validated addresses. Default true. */
  retry?: boolean;
  /**
   * Accept packets of a connection from a new address (RFC 9000 section 9). false: such
   * packets are dropped (section 9: "MUST either drop the incoming packets on that path ...
   * or proceed with path validation") and counted in `stats.migrationRefused`.
   */
  migration?: boolean;
  /** Send a PING when a connection has been quiet this long, ms; 0: never. */
  keepAliveMs?: number;
  /** Drop voice datagrams that waited longer than this in quiche's send queue, ms; 0: never. */
  preSendTimeoutMs?: number;
  /** Server: a new connection (set its handler synchronously). */
  onConnection?: (connection: QuicConnection) => void;
  /**
   * Server: whether a new connection from `remote` may be accepted now (a validated Initial,
   * just before any state is created). false: the Initial is dropped and counted. Default: yes.
   */
  admit?: (remote: RemoteInfo) => boolean;
  /** Bytes of the kernel's socket buffers. */
  socketBufferBytes?: number;
  /**
   * Server: secret bytes that survive a restart (the listener passes its TLS private key). The
   * Retry token key and the stateless reset key are derived from it (HKDF), so a restarted
   * server still accepts its Retry tokens and resets the connections of its previous life.
   * Absent: random keys (resets then only reach connections this process forgot).
   */
  keyMaterial?: Uint8Array;
  /** Server: stateless resets per second at most (RFC 9000 section 10.3.3). Default 1000. */
  statelessResetRate?: number;
};

/** Plain counters (read by metrics and tests; updated in place). */
export type QuicEndpointStats = StatelessStats & {
  packetsIn: number;
  packetsOut: number;
  /** Datagrams that are not QUIC packets (garbage on the port). */
  notQuic: number;
  /** Packets from a new address of a connection while migration is off. */
  migrationRefused: number;
  /** Client: connections ended by a stateless reset from the server. */
  statelessResetsReceived: number;
  /** Server: connections accepted without a reset token (transport parameters too long). */
  resetTokenOmitted: number;
  /** Server: validated Initials dropped because `admit` said no. */
  connectionsRefused: number;
  connectionsAccepted: number;
  connectionsClosed: number;
  /** Datagrams refused at once: queue full, too big, handshake not done. */
  datagramsDropped: number;
  /** Datagrams dropped after waiting longer than the pre-send timeout. */
  datagramsExpired: number;
};

const SLAB_BYTES = 64 * 1024;
/** Timer wheel: 2 ms ticks, 2048 slots (a 4 s span; idle timeouts beyond it are re-filed). */
const WHEEL_TICK_MS = 2;
const WHEEL_SLOTS = 2048;
/** Longest wait of a delayed ACK, ms (quiche advertises max_ack_delay = 25 ms). */
const ACK_DELAY_MS = 10;

/** A connection on this engine: its quiche object is the @matrixai/quic binding's. */
type QuicConnection = QuicConnectionOf<QuicheConnection>;

function routingKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}

/** Every counter of an endpoint at zero (both engines' endpoints start from it). */
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
    resetTokenOmitted: 0,
    connectionsRefused: 0,
    connectionsAccepted: 0,
    connectionsClosed: 0,
    datagramsDropped: 0,
    datagramsExpired: 0,
  };
}

export class QuicEndpoint implements ConnectionOwner {
  readonly stats: QuicEndpointStats = createQuicEndpointStats();
  #params: QuicEndpointParams;
  readonly #socket: Socket;
  readonly #connections = new Map<string, QuicConnection>();
  readonly #all = new Set<QuicConnection>();
  readonly #dirty: QuicConnection[] = [];
  readonly #wheel: TimerWheel<QuicConnection>;
  readonly #responder: StatelessResponder;
  readonly #migration: boolean;
  readonly #keepAliveMs: number;
  readonly #preSendTimeoutMs: number;
  #localHost = '';
  #localPort = 0;
  #flushScheduled = false;
  #slab = Buffer.allocUnsafe(SLAB_BYTES);
  #slabOffset = 0;
  #nextId = 1;
  #closed = false;

  private constructor(params: QuicEndpointParams, socket: Socket) {
    this.#params = params;
    this.#socket = socket;
    this.#migration = params.migration ?? true;
    this.#keepAliveMs = params.keepAliveMs ?? 0;
    this.#preSendTimeoutMs = params.preSendTimeoutMs ?? 0;
    this.#responder = new StatelessResponder({
      retry: params.retry ?? true,
      keyMaterial: params.keyMaterial,
      statelessResetRate: params.statelessResetRate ?? 1000,
      stats: this.stats,
      send: (bytes, port, address) => this.#socket.send(bytes, port, address),
      local: () => ({ host: this.#localHost, port: this.#localPort }),
    });
    this.#wheel = new TimerWheel<QuicConnection>({
      tickMs: WHEEL_TICK_MS,
      slots: WHEEL_SLOTS,
      onFire: (connection, now) => this.#onTimer(connection, now),
    });
    socket.on('message', (message, remote) => this.#onMessage(message, remote));
    // A send to an unreachable peer surfaces as an error event on some systems: not fatal.
    socket.on('error', () => {});
  }

  /** Binds the UDP socket. */
  static async bind(params: QuicEndpointParams): Promise<QuicEndpoint> {
    const socket = createSocket({ type: isIPv6(params.host) ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(params.port, params.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const bytes = params.socketBufferBytes ?? 4 * 1024 * 1024;
    try {
      socket.setRecvBufferSize(bytes);
      socket.setSendBufferSize(bytes);
    } catch {
      // The kernel caps the size (net.core.rmem_max): the default buffers still work.
    }
    const endpoint = new QuicEndpoint(params, socket);
    const address = socket.address();
    endpoint.#localHost = address.address;
    endpoint.#localPort = address.port;
    return endpoint;
  }

  get port(): number {
    return this.#localPort;
  }

  get host(): string {
    return this.#localHost;
  }

  /** Open connections (handshaking, established or draining). */
  get connectionCount(): number {
    return this.#all.size;
  }

  connections(): IterableIterator<QuicConnection> {
    return this.#all.values();
  }

  /**
   * The quiche config of connections accepted (or started) from now on: a renewed certificate.
   * Open connections keep theirs: quiche gives each connection its own BoringSSL `SSL`, made
   * by `SSL_new(ctx)` (quiche tls::Context::new_handshake), which holds its own reference on
   * the old context, so dropping the old config leaves them untouched.
   */
  setConfig(config: QuicheConfig): void {
    this.#params = { ...this.#params, config };
  }

  /** Client role: starts a connection to `host:port` (TLS SNI `serverName`). */
  connect(host: string, port: number, serverName: string): QuicConnection {
    const scid = randomBytes(CONNECTION_ID_LENGTH);
    const q = quiche.Connection.connect(
      serverName,
      scid,
      { host: this.#localHost, port: this.#localPort },
      { host, port },
      this.#params.config,
    );
    const connection = this.#register(q, scid, host, port, 'client');
    this.markDirty(connection);
    return connection;
  }

  /** Sets or clears an application deadline on a connection (shares the connection's wheel slot). */
  setAppDeadline(of: QuicConnectionOf, delayMs: number | undefined, callback?: () => void): void {
    // Only this endpoint's own connections are handed out by it (onConnection, connect).
    const connection = of as QuicConnection;
    connection.appDeadline =
      delayMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + Math.max(0, delayMs);
    connection.appTimeout = callback;
    this.#reschedule(connection, performance.now());
  }

  markDirty(connection: QuicConnection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.#dirty.push(connection);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Sends raw bytes from the endpoint's socket (tests of garbage input). */
  sendRaw(bytes: Uint8Array, host: string, port: number): void {
    this.#socket.send(bytes, port, host);
  }

  /**
   * Closes every connection with an application CONNECTION_CLOSE (`code`, `reason`), sends
   * those, then closes the socket. Connections report onClosed.
   */
  async close(code = 0, reason = ''): Promise<void> {
    if (this.#closed) return;
    for (const connection of this.#all) connection.close(true, code, reason);
    this.#flush();
    this.#closed = true;
    for (const connection of [...this.#all]) this.#remove(connection);
    this.#wheel.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  /**
   * Closes the socket at once without a word to any peer, as a crash would (tests of what
   * peers do then). Connections report onClosed locally.
   */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#all]) this.#remove(connection);
    this.#wheel.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #register(
    q: ReturnType<typeof quiche.Connection.accept>,
    scid: Uint8Array,
    host: string,
    port: number,
    role: 'server' | 'client',
  ): QuicConnection {
    const connection = new QuicConnectionOf({
      id: `quic-${this.#nextId++}`,
      role,
      quiche: q,
      remoteHost: host,
      remotePort: port,
      owner: this,
    });
    connection.lastActivity = performance.now();
    this.#addKey(connection, routingKey(scid));
    this.#all.add(connection);
    return connection;
  }

  #addKey(connection: QuicConnection, key: string): void {
    connection.routingKeys.push(key);
    this.#connections.set(key, connection);
  }

  // ---- receiving ----

  #onMessage(message: Buffer, remote: RemoteInfo): void {
    if (this.#closed) return;
    this.stats.packetsIn++;
    const header = parseHeader(message);
    if (header === undefined) {
      this.stats.notQuic++;
      return;
    }
    let connection = this.#connections.get(routingKey(header.dcid));
    if (connection === undefined) {
      if (this.#params.role !== 'server') {
        this.#maybeReset(message, remote);
        return;
      }
      const admission = this.#responder.handle(header, message, remote);
      if (admission === undefined) return;
      connection = this.#accept(admission, header.dcid, remote);
      if (connection === undefined) return;
    } else if (
      !this.#migration &&
      (remote.address !== connection.remoteHost || remote.port !== connection.remotePort)
    ) {
      this.stats.migrationRefused++;
      return;
    }
    this.#receive(connection, message, remote);
  }

  #receive(connection: QuicConnection, message: Buffer, remote: RemoteInfo): void {
    const q = connection.quiche;
    try {
      q.recv(message, {
        from: { host: remote.address, port: remote.port },
        to: { host: this.#localHost, port: this.#localPort },
      });
    } catch {
      // quiche dropped the packet or closed the connection with a local error (sent in the
      // flush): either way nothing more to do with this packet.
    }
    connection.lastActivity = performance.now();
    const handler = connection.handler;
    // Only a packet that brought voice datagrams and nothing else on an established
    // connection may have its ACK delayed: handshake, stream data and close go out at once.
    let delayable = connection.established;
    if (!connection.established && q.isEstablished()) {
      connection.established = true;
      handler.onEstablished();
    }
    let datagrams = 0;
    if (connection.established && !connection.closed) {
      for (let datagram = q.dgramRecvVec(); datagram !== null; datagram = q.dgramRecvVec()) {
        datagrams++;
        handler.onDatagram(datagram);
        if (connection.closed) break;
      }
      if (q.isReadable()) {
        delayable = false;
        for (const streamId of q.readable()) this.#readStream(connection, streamId);
      }
    }
    if (
      !delayable ||
      datagrams === 0 ||
      connection.closed ||
      connection.dirty ||
      ++connection.unflushedReceives >= 2
    ) {
      this.markDirty(connection);
    } else if (connection.ackDeadline === Number.POSITIVE_INFINITY) {
      const now = performance.now();
      connection.ackDeadline = now + ACK_DELAY_MS;
      this.#reschedule(connection, now);
    }
  }

  #scratch = Buffer.allocUnsafe(64 * 1024);

  #readStream(connection: QuicConnection, streamId: number): void {
    const q = connection.quiche;
    for (;;) {
      if (connection.closed) return;
      let result: [number, boolean] | null;
      try {
        result = q.streamRecv(streamId, this.#scratch);
      } catch (error) {
        const match = /StreamReset\((\d{1,16})\)/.exec(error instanceof Error ? error.message : '');
        if (match) connection.handler.onStreamAborted(streamId, Number(match[1]), 'read');
        return;
      }
      if (result === null) return;
      const [length, fin] = result;
      connection.handler.onStreamData(
        streamId,
        Uint8Array.prototype.slice.call(this.#scratch, 0, length),
        fin,
      );
      if (fin) return;
    }
  }

  #accept(admission: Admission, clientDcid: Uint8Array, remote: RemoteInfo): QuicConnection | undefined {
    if (this.#params.admit !== undefined && !this.#params.admit(remote)) {
      this.stats.connectionsRefused++;
      return undefined;
    }
    const q = this.#acceptQuiche(admission, remote);
    if (q === undefined) {
      this.stats.unknownConnection++;
      return undefined;
    }
    const connection = this.#register(q, admission.scid, remote.address, remote.port, 'server');
    // Without Retry the client keeps using its own random DCID until it hears from us:
    // retransmitted Initials must reach the same connection.
    if (admission.odcid === null) this.#addKey(connection, routingKey(clientDcid));
    this.stats.connectionsAccepted++;
    this.#params.onConnection?.(connection);
    return connection;
  }

  /**
   * A quiche server connection whose `stateless_reset_token` transport parameter (RFC 9000
   * section 18.2) is the token of `scid`. quiche copies a Config's transport parameters into
   * each connection it accepts, so setting the token on the shared Config just before accept
   * gives every connection its own. quiche 0.18 encodes the parameters into a fixed 128-byte
   * buffer: should they not fit (an unusual configuration), the connection goes without a
   * token (counted) rather than not at all.
   */
  #acceptQuiche({ scid, odcid }: Admission, remote: RemoteInfo): QuicheConnection | undefined {
    const config = this.#params.config;
    const accept = () =>
      quiche.Connection.accept(
        scid,
        odcid,
        { host: this.#localHost, port: this.#localPort },
        { host: remote.address, port: remote.port },
        config,
      );
    try {
      config.setStatelessResetToken(this.#responder.resetToken(scid));
      return accept();
    } catch (error) {
      if (quicheErrorOf(error).name !== 'BufferTooShort') return undefined;
    }
    try {
      config.setStatelessResetToken(null);
      const q = accept();
      this.stats.resetTokenOmitted++;
      return q;
    } catch {
      return undefined;
    }
  }

  /**
   * Client: a datagram whose connection id we do not know may be a stateless reset from the
   * server of one of our connections (RFC 9000 section 10.3.1: the server has lost its state,
   * so the packet carries no connection id of ours, only the token at its end). quiche compares
   * the token with the one the server gave in its transport parameters (in constant time) when
   * a packet fails to decrypt, so the datagram goes to the connection with that server.
   */
  #maybeReset(message: Buffer, remote: RemoteInfo): void {
    this.stats.unknownConnection++;
    if (message.length < MIN_STATELESS_RESET_BYTES) return;
    for (const connection of this.#all) {
      if (connection.remotePort !== remote.port || connection.remoteHost !== remote.address) continue;
      const q = connection.quiche;
      if (connection.closed || !connection.established || q.isClosed()) continue;
      this.#receive(connection, message, remote);
      if (q.isClosed() && q.peerError() === null && q.localError() === null) {
        connection.statelessReset = true;
        this.stats.statelessResetsReceived++;
      }
      return;
    }
  }

  // ---- sending and timers ----

  #flush(): void {
    this.#flushScheduled = false;
    const now = performance.now();
    const dirty = this.#dirty;
    // Connections marked dirty while flushing (a handler reacting) are flushed in this loop too.
    for (let i = 0; i < dirty.length; i++) {
      const connection = dirty[i]!;
      connection.dirty = false;
      if (!connection.closed) this.#send(connection, now);
    }
    dirty.length = 0;
  }

  #send(connection: QuicConnection, now: number): void {
    const q = connection.quiche;
    connection.unflushedReceives = 0;
    connection.ackDeadline = Number.POSITIVE_INFINITY;
    connection.writePending();
    let sent = false;
    for (;;) {
      if (this.#slabOffset + MAX_UDP_PAYLOAD > SLAB_BYTES) {
        this.#slab = Buffer.allocUnsafe(SLAB_BYTES);
        this.#slabOffset = 0;
      }
      const offset = this.#slabOffset;
      let result: ReturnType<typeof q.send>;
      try {
        result = q.send(this.#slab.subarray(offset, offset + MAX_UDP_PAYLOAD));
      } catch {
        break;
      }
      if (result === null) break;
      const [length, info] = result;
      this.#slabOffset += length;
      this.stats.packetsOut++;
      sent = true;
      if (info.to.host !== connection.remoteHost || info.to.port !== connection.remotePort) {
        // quiche moved to a validated new path (migration).
        connection.remoteHost = info.to.host;
        connection.remotePort = info.to.port;
      }
      this.#socket.send(this.#slab, offset, length, info.to.port, info.to.host);
    }
    if (sent) connection.lastActivity = now;
    this.#checkPreSend(connection, now);
    if (q.isClosed()) {
      this.#remove(connection);
      return;
    }
    this.#reschedule(connection, now);
  }

  /** pre_send_timeout: datagrams stuck in quiche's queue (congestion) longer than that are dropped. */
  #checkPreSend(connection: QuicConnection, now: number): void {
    if (this.#preSendTimeoutMs <= 0) return;
    const q = connection.quiche;
    if (q.dgramSendQueueLen() === 0) {
      connection.datagramBlockedSince = Number.POSITIVE_INFINITY;
      return;
    }
    if (connection.datagramBlockedSince === Number.POSITIVE_INFINITY) {
      connection.datagramBlockedSince = now;
    } else if (now - connection.datagramBlockedSince >= this.#preSendTimeoutMs) {
      this.stats.datagramsExpired += q.dgramSendQueueLen();
      q.dgramPurgeOutgoing(() => true);
      connection.datagramBlockedSince = Number.POSITIVE_INFINITY;
    }
  }

  #reschedule(connection: QuicConnection, now: number): void {
    if (connection.closed) return;
    const timeout = connection.quiche.timeout();
    let deadline = timeout === null ? Number.POSITIVE_INFINITY : now + timeout;
    if (this.#keepAliveMs > 0 && connection.established) {
      deadline = Math.min(deadline, connection.lastActivity + this.#keepAliveMs);
    }
    if (connection.datagramBlockedSince !== Number.POSITIVE_INFINITY) {
      deadline = Math.min(deadline, connection.datagramBlockedSince + this.#preSendTimeoutMs);
    }
    deadline = Math.min(deadline, connection.appDeadline, connection.ackDeadline);
    this.#wheel.schedule(connection, deadline);
  }

  #onTimer(connection: QuicConnection, now: number): void {
    if (connection.closed) return;
    const q = connection.quiche;
    q.onTimeout();
    if (connection.appDeadline <= now) {
      const callback = connection.appTimeout;
      connection.appDeadline = Number.POSITIVE_INFINITY;
      connection.appTimeout = undefined;
      callback?.();
    }
    if (
      this.#keepAliveMs > 0 &&
      connection.established &&
      !q.isDraining() &&
      now - connection.lastActivity >= this.#keepAliveMs
    ) {
      try {
        q.sendAckEliciting();
      } catch {
        // Closing: nothing to keep alive.
      }
      connection.lastActivity = now;
    }
    this.markDirty(connection);
  }

  #remove(connection: QuicConnection): void {
    if (!this.#all.delete(connection)) return;
    for (const key of connection.routingKeys) {
      if (this.#connections.get(key) === connection) this.#connections.delete(key);
    }
    this.#wheel.cancel(connection);
    this.stats.connectionsClosed++;
    connection.finish();
  }
}
