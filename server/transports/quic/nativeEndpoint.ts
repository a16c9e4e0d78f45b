/**
 * The `[quic]` endpoint (server side): the UDP socket, quiche 0.30 and the connections' timers
 * live in the native addon (native/quic). This module is the seam: it turns the addon's batches
 * of events into calls on each connection's handler (HTTP/3, h3Connection.ts), and gives each
 * connection a `ConnectionCore` that forwards to the addon, so quicConnection.ts's stream queues
 * and datagram path run on it.
 *
 * Flow (nativeDriver.ts, shared with the client role): the addon's waker thread sees the socket
 * readable → `poll` (one napi call reads every waiting packet, feeds quiche, runs due timers,
 * sends, and returns the events) → handlers. What handlers queue marks the connection dirty;
 * one `setImmediate` per turn flushes them all in one napi call. One timer per endpoint fires
 * at the earliest quiche/keep-alive deadline.
 *
 * Stays in JavaScript here: packets for no known connection (statelessResponder.ts: Retry,
 * Version Negotiation, stateless reset, admission) and the application deadline
 * (connect_timeout). The client role is
 * nativeClientEndpoint.ts.
 */
import type { RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createQuicEndpointStats, type QuicEndpointStats } from './endpointStats.ts';
import {
  loadNativeAddon,
  type NativeEndpointHandle,
  type NativeEndpointOptions,
  type NativeEvent,
} from './nativeAddon.ts';
import { type NativeConnection, NativeDriver } from './nativeDriver.ts';
import { type ConnectionOwner, QuicConnection } from './quicConnection.ts';
import { type ReceiveWindows, SERVER_RECEIVE_WINDOWS } from './quiche.ts';
import { parseHeader } from './quicPackets.ts';
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
  readonly #driver: NativeDriver;
  readonly #appTimers = new Map<QuicConnection, NodeJS.Timeout>();
  readonly #counters: QuicEndpointStats = createQuicEndpointStats();

  private constructor(params: NativeQuicEndpointParams, native: NativeEndpointHandle) {
    this.#params = params;
    this.#native = native;
    this.#driver = new NativeDriver(native, {
      unknown: (event) => this.#unknown(event),
      closed: (connection) => {
        this.#counters.connectionsClosed++;
        this.setAppDeadline(connection, undefined);
      },
    });
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
    endpoint.#driver.start();
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
    return this.#driver.connections.size;
  }

  /** The endpoint's counters: the addon's packet counts with the responder's and ours. */
  get stats(): QuicEndpointStats {
    const native = this.#driver.updatePacketCounts(this.#counters);
    if (native) {
      this.#counters.migrationRefused = native.migrationRefused;
      this.#counters.datagramsExpired = native.datagramsExpired;
    }
    return this.#counters;
  }

  get voiceStats(): NativeVoiceStats | undefined {
    if (this.#driver.closed) return undefined;
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
    if (this.#driver.closed) return undefined;
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
    if (this.#driver.closed || connection.closed) return;
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
    if (this.#driver.closed || sender.closed) return;
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
    if (this.#driver.closed || sender.closed) return;
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
    this.#driver.markDirty(connection);
  }

  async close(code = 0, reason = ''): Promise<void> {
    if (this.#driver.closed) return;
    for (const connection of this.#driver.connections.values()) connection.close(true, code, reason);
    this.#end(this.#native.shutdown(code, encoder.encode(reason.slice(0, 200)), true));
  }

  /** Closes the socket without a word to any peer, as a crash would (tests). */
  async abort(): Promise<void> {
    if (this.#driver.closed) return;
    this.#end(this.#native.shutdown(0, new Uint8Array(0), false));
  }

  #end(events: NativeEvent[]): void {
    for (const timer of this.#appTimers.values()) clearTimeout(timer);
    this.#appTimers.clear();
    this.#driver.end(events);
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
      this.#driver.dispatch(this.#native.takeEvents());
      return;
    }
    const remote: RemoteInfo = {
      address: host,
      port,
      family: isIPv6(host) ? 'IPv6' : 'IPv4',
      size: packet.length,
    };
    let admission: ReturnType<StatelessResponder['handle']>;
    try {
      admission = this.#responder.handle(header, packet, remote);
    } catch {
      // A datagram the addon's stateless packet writers refuse is a bad packet, not a reason
      // to end the process: dropped and counted (the responder guards the cases known today).
      this.#counters.unknownConnection++;
      return;
    }
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
      quiche: this.#driver.core(id),
      remoteHost: host,
      remotePort: port,
      owner: this,
    });
    this.#driver.connections.set(id, connection);
    this.#counters.connectionsAccepted++;
    this.#params.onConnection?.(connection);
    this.#driver.dispatch(this.#native.takeEvents());
    this.markDirty(connection);
  }
}
