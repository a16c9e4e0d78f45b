/**
 * The `[quic] engine = "native"` endpoint: the same role as endpoint.ts's QuicEndpoint (server
 * side), but the UDP socket, quiche 0.30 and the connections' timers live in the native addon
 * (native/quic). This module is the seam: it turns the addon's batches of events into calls on
 * each connection's handler (HTTP/3, h3Connection.ts, unchanged), and gives each connection a
 * `ConnectionCore` that forwards to the addon, so quicConnection.ts's stream queues and
 * datagram path run as they do on the default engine.
 *
 * Flow: the addon's waker thread sees the socket readable → `#poll` (one napi call reads every
 * waiting packet, feeds quiche, runs due timers, sends, and returns the events) → handlers.
 * What handlers queue marks the connection dirty; one `setImmediate` per turn flushes them all
 * in one napi call. One timer per endpoint fires at the earliest quiche/keep-alive deadline.
 *
 * Stays in JavaScript here: packets for no known connection (statelessResponder.ts: Retry,
 * Version Negotiation, stateless reset, admission) and the application deadline
 * (connect_timeout). Not yet on this engine: delayed ACKs. The client role is
 * nativeClientEndpoint.ts.
 */
import type { RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createQuicEndpointStats, type QuicEndpointStats } from './endpoint.ts';
import {
  loadNativeAddon,
  type NativeCloseError,
  type NativeEndpointHandle,
  type NativeEndpointOptions,
  type NativeEvent,
  NativeEventKind,
} from './nativeAddon.ts';
import { type ConnectionCore, type ConnectionOwner, QuicConnection } from './quicConnection.ts';
import { parseHeader, type ReceiveWindows, SERVER_RECEIVE_WINDOWS } from './quiche.ts';
import { StatelessResponder } from './statelessResponder.ts';

export type NativeQuicEndpointParams = {
  host: string;
  port: number;
  certificatePem: string;
  privateKeyPem: string;
  alpn: string[];
  idleTimeoutMs: number;
  retry?: boolean;
  migration?: boolean;
  keepAliveMs?: number;
  preSendTimeoutMs?: number;
  datagramRecvQueue?: number;
  datagramSendQueue?: number;
  receiveWindows?: ReceiveWindows;
  onConnection?: (connection: QuicConnection) => void;
  admit?: (remote: RemoteInfo) => boolean;
  keyMaterial?: Uint8Array;
  statelessResetRate?: number;
  socketBufferBytes?: number;
};

/**
 * The forwarding table's counters (native/quic/src/forward.rs): `lookups` by result (a miss takes
 * the JavaScript path), sends and drops by reason, and `alone`, the packets handled entirely in
 * the addon, which the core's VoiceRouter never counted. The shape of `VoiceTableStats` in
 * server/observability/metrics.ts, which this layer may not import (docs/architecture.md).
 */
export type NativeVoiceTableStats = {
  lookups: Record<'hit' | 'no_session' | 'malformed' | 'several_medias' | 'no_route', number>;
  forwarded: number;
  rateLimited: number;
  sendQueueFull: number;
  routes: number;
  alone: {
    received: number;
    receivedBytes: number;
    forwarded: number;
    forwardedBytes: number;
    sendQueueFull: number;
  };
};

/** Set while JavaScript routes a datagram the addon already forwarded to its native receivers. */
export type ForwardState = { inFlight: boolean };

/** A connection's quiche calls, forwarded to the addon by connection number (both roles). */
export class NativeCore implements ConnectionCore {
  readonly #native: NativeEndpointHandle;
  readonly #forward: ForwardState;
  readonly nativeId: number;
  /** Its voice is routed by the addon's table (setVoiceSession). */
  voiceRouted = false;
  #peerError: NativeCloseError | null = null;
  #localError: NativeCloseError | null = null;
  #timedOut = false;

  constructor(native: NativeEndpointHandle, nativeId: number, forward: ForwardState) {
    this.#native = native;
    this.nativeId = nativeId;
    this.#forward = forward;
  }

  /** The addon has forgotten the connection: what it said about the close. */
  closedWith(event: NativeEvent): void {
    this.#peerError = event.peerError ?? null;
    this.#localError = event.localError ?? null;
    this.#timedOut = event.timedOut;
  }

  streamSend(streamId: number, data: Uint8Array, fin: boolean): number {
    return this.#native.streamSend(this.nativeId, streamId, data, fin);
  }
  streamShutdown(streamId: number, direction: number, err: number): void {
    this.#native.streamShutdown(this.nativeId, streamId, direction, err);
  }
  dgramSend(data: Uint8Array): void {
    // The addon sent this packet to every native receiver of the table already.
    if (this.#forward.inFlight && this.voiceRouted) return;
    this.#native.dgramSend(this.nativeId, data);
  }
  isDgramSendQueueFull(): boolean {
    return this.#native.isDgramSendQueueFull(this.nativeId);
  }
  dgramMaxWritableLen(): number | null {
    return this.#native.dgramMaxWritableLen(this.nativeId);
  }
  close(app: boolean, err: number, reason: Uint8Array): void {
    this.#native.close(this.nativeId, app, err, reason);
  }
  peerError(): NativeCloseError | null {
    return this.#peerError;
  }
  localError(): NativeCloseError | null {
    return this.#localError;
  }
  isTimedOut(): boolean {
    return this.#timedOut;
  }
  peerCertChain(): Uint8Array[] | null {
    return this.#native.peerCertChain(this.nativeId);
  }
}

type NativeConnection = QuicConnection<NativeCore>;

/** The addon's voice forwarding counters (stats of the listener on this engine). */
export type NativeVoiceStats = {
  nativeVoiceReceived: number;
  nativeVoiceForwarded: number;
  nativeVoiceRateLimited: number;
  nativeVoiceDropped: number;
  nativeVoiceRoutes: number;
};

const encoder = new TextEncoder();

export class NativeQuicEndpoint implements ConnectionOwner {
  readonly #params: NativeQuicEndpointParams;
  readonly #native: NativeEndpointHandle;
  readonly #responder: StatelessResponder;
  readonly #connections = new Map<number, NativeConnection>();
  readonly #dirty: NativeConnection[] = [];
  readonly #appTimers = new Map<QuicConnection, NodeJS.Timeout>();
  readonly #counters: QuicEndpointStats = createQuicEndpointStats();
  readonly #forward: ForwardState = { inFlight: false };
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #flushScheduled = false;
  #closed = false;

  private constructor(params: NativeQuicEndpointParams, native: NativeEndpointHandle) {
    this.#params = params;
    this.#native = native;
    this.#responder = new StatelessResponder({
      retry: params.retry ?? true,
      keyMaterial: params.keyMaterial,
      statelessResetRate: params.statelessResetRate ?? 1000,
      stats: this.#counters,
      send: (bytes, port, address) => native.sendTo(bytes, address, port),
      local: () => ({ host: native.host, port: native.port }),
    });
  }

  /** Loads the addon (NativeQuicUnavailable when it is not built) and binds the socket. */
  static async bind(params: NativeQuicEndpointParams): Promise<NativeQuicEndpoint> {
    const addon = loadNativeAddon();
    const native = new addon.NativeEndpoint(NativeQuicEndpoint.#options(params));
    const endpoint = new NativeQuicEndpoint(params, native);
    native.start(() => endpoint.#poll());
    return endpoint;
  }

  static #options(params: NativeQuicEndpointParams): NativeEndpointOptions {
    return {
      host: params.host,
      port: params.port,
      certificatePem: params.certificatePem,
      privateKeyPem: params.privateKeyPem,
      alpn: params.alpn,
      idleTimeoutMs: params.idleTimeoutMs,
      migration: params.migration ?? true,
      keepAliveMs: params.keepAliveMs ?? 0,
      preSendTimeoutMs: params.preSendTimeoutMs ?? 0,
      datagramRecvQueue: params.datagramRecvQueue ?? 1024,
      datagramSendQueue: params.datagramSendQueue ?? 1024,
      windows: params.receiveWindows ?? SERVER_RECEIVE_WINDOWS,
      ...(params.socketBufferBytes === undefined ? {} : { socketBufferBytes: params.socketBufferBytes }),
    };
  }

  get port(): number {
    return this.#native.port;
  }

  get host(): string {
    return this.#native.host;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The endpoint's counters: the addon's packet counts with the responder's and ours. */
  get stats(): QuicEndpointStats {
    if (!this.#closed) {
      const native = this.#native.stats();
      this.#counters.packetsIn = native.packetsIn;
      this.#counters.packetsOut = native.packetsOut;
      this.#counters.notQuic = native.notQuic;
      this.#counters.migrationRefused = native.migrationRefused;
      this.#counters.datagramsExpired = native.datagramsExpired;
    }
    return this.#counters;
  }

  get voiceStats(): NativeVoiceStats | undefined {
    if (this.#closed) return undefined;
    const native = this.#native.stats();
    return {
      nativeVoiceReceived: native.voiceReceived,
      nativeVoiceForwarded: native.voiceForwarded,
      nativeVoiceRateLimited: native.voiceRateLimited,
      nativeVoiceDropped: native.voiceDropped,
      nativeVoiceRoutes: native.routes,
    };
  }

  /**
   * The forwarding table's counters for metrics, read once per scrape (one napi call; nothing is
   * counted per packet in JavaScript). `alone`: the packets JavaScript never saw, in the core's
   * `voiceStats` terms, so metrics can add them to grid_voice_*.
   */
  get voiceTableStats(): NativeVoiceTableStats | undefined {
    if (this.#closed) return undefined;
    const n = this.#native.stats();
    return {
      lookups: {
        hit: n.voiceReceived,
        no_session: n.voiceMissNoSession,
        malformed: n.voiceMissMalformed,
        several_medias: n.voiceMissSeveralMedias,
        no_route: n.voiceMissNoRoute,
      },
      forwarded: n.voiceForwarded,
      rateLimited: n.voiceRateLimited,
      sendQueueFull: n.voiceDropped,
      routes: n.routes,
      alone: {
        received: n.voiceAloneReceived,
        receivedBytes: n.voiceAloneReceivedBytes,
        forwarded: n.voiceAloneForwarded,
        forwardedBytes: n.voiceAloneForwardedBytes,
        sendQueueFull: n.voiceAloneSendQueueFull,
      },
    };
  }

  /** The connection's voice datagrams start with `prefix` (its WebTransport session's quarter stream id). */
  setVoiceSession(connection: QuicConnection, prefix: Uint8Array): void {
    const core = (connection as NativeConnection).quiche;
    if (this.#closed || connection.closed) return;
    this.#native.setSession(core.nativeId, prefix);
    core.voiceRouted = true;
  }

  /** The core's forward list of one media of a native sender (nativeVoice.ts). */
  setRoute(
    sender: QuicConnection,
    mediaId: number,
    receivers: QuicConnection[],
    toJs: boolean,
    rate: { rate: number; capacity: number } | undefined,
  ): void {
    if (this.#closed || sender.closed) return;
    const ids = [];
    for (const receiver of receivers)
      if (!receiver.closed) ids.push((receiver as NativeConnection).quiche.nativeId);
    this.#native.setRoute(
      (sender as NativeConnection).quiche.nativeId,
      mediaId,
      ids,
      toJs,
      rate?.rate ?? null,
      rate?.capacity ?? null,
    );
  }

  removeRoute(sender: QuicConnection, mediaId: number): void {
    if (this.#closed || sender.closed) return;
    this.#native.removeRoute((sender as NativeConnection).quiche.nativeId, mediaId);
  }

  /** A renewed certificate pair for connections accepted from now on. */
  setCertificate(certificatePem: string, privateKeyPem: string): void {
    this.#native.setCertificate(
      NativeQuicEndpoint.#options({ ...this.#params, certificatePem, privateKeyPem }),
    );
  }

  setAppDeadline(connection: QuicConnection, delayMs: number | undefined, callback?: () => void): void {
    const old = this.#appTimers.get(connection);
    if (old !== undefined) clearTimeout(old);
    this.#appTimers.delete(connection);
    if (delayMs === undefined || callback === undefined || connection.closed) return;
    this.#appTimers.set(
      connection,
      setTimeout(() => {
        this.#appTimers.delete(connection);
        if (!connection.closed) callback();
      }, delayMs),
    );
  }

  markDirty(connection: QuicConnection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.#dirty.push(connection as NativeConnection);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  async close(code = 0, reason = ''): Promise<void> {
    if (this.#closed) return;
    for (const connection of this.#connections.values()) connection.close(true, code, reason);
    this.#end(this.#native.shutdown(code, encoder.encode(reason.slice(0, 200)), true));
  }

  /** Closes the socket without a word to any peer, as a crash would (tests). */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#end(this.#native.shutdown(0, new Uint8Array(0), false));
  }

  #end(events: NativeEvent[]): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const timer of this.#appTimers.values()) clearTimeout(timer);
    this.#appTimers.clear();
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
          if (connection.closed) break;
          if (event.forwarded) {
            this.#forward.inFlight = true;
            try {
              connection.handler.onDatagram(event.data!);
            } finally {
              this.#forward.inFlight = false;
            }
          } else connection.handler.onDatagram(event.data!);
          break;
        case NativeEventKind.closed:
          this.#connections.delete(event.conn);
          this.#counters.connectionsClosed++;
          this.setAppDeadline(connection, undefined);
          connection.quiche.closedWith(event);
          connection.finish();
          break;
      }
    }
  }

  /** A packet for no connection the addon knows: the stateless answers, or a new connection. */
  #unknown(event: NativeEvent): void {
    const packet = event.data!;
    const header = parseHeader(packet);
    if (header === undefined) {
      this.#counters.notQuic++;
      return;
    }
    const host = event.host!;
    const port = event.port!;
    // Read in the same batch as an Initial that has been accepted since (a ClientHello that
    // spans two datagrams, as Chromium's with a post-quantum key share): its connection's now.
    if (this.#native.redeliver(packet, host, port)) {
      this.#dispatch(this.#native.takeEvents());
      return;
    }
    const remote: RemoteInfo = {
      address: host,
      port,
      family: isIPv6(host) ? 'IPv6' : 'IPv4',
      size: packet.length,
    };
    const admission = this.#responder.handle(header, packet, remote);
    if (admission === undefined) return;
    if (this.#params.admit !== undefined && !this.#params.admit(remote)) {
      this.#counters.connectionsRefused++;
      return;
    }
    let id: number;
    try {
      id = this.#native.accept(
        admission.scid,
        admission.odcid,
        // Without Retry the client keeps using its own random DCID until it hears from us.
        admission.odcid === null ? header.dcid : null,
        this.#responder.resetTokenBytes(admission.scid),
        host,
        port,
        packet,
      );
    } catch {
      this.#counters.unknownConnection++;
      return;
    }
    const connection: NativeConnection = new QuicConnection({
      id: `quic-${id}`,
      role: 'server',
      quiche: new NativeCore(this.#native, id, this.#forward),
      remoteHost: host,
      remotePort: port,
      owner: this,
    });
    this.#connections.set(id, connection);
    this.#counters.connectionsAccepted++;
    this.#params.onConnection?.(connection);
    this.#dispatch(this.#native.takeEvents());
    this.markDirty(connection);
  }
}
