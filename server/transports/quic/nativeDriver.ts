/**
 * What both roles on the native addon share (nativeEndpoint.ts, the server; nativeClientEndpoint.ts,
 * the client): `NativeCore`, a connection's quiche calls forwarded to the addon by connection
 * number (the `ConnectionCore` seam of quicConnection.ts), and `NativeDriver`, which turns the
 * addon's batches of events into calls on each connection's handler and drives sending and
 * timers.
 *
 * Flow: the addon's waker thread sees the socket readable → `poll` (one napi call reads every
 * waiting packet, feeds quiche, runs due timers, sends, and returns the events) → handlers.
 * What handlers queue marks the connection dirty; one `setImmediate` per turn flushes them all
 * in one napi call. One timer per endpoint fires at the earliest deadline the addon reports.
 */
import type { QuicEndpointStats } from './endpointStats.ts';
import type { NativeCloseError, NativeEndpointHandle, NativeEvent, NativeStats } from './nativeAddon.ts';
import { NativeEventKind } from './nativeAddon.ts';
import type { ConnectionCore, QuicConnection } from './quicConnection.ts';

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

export type NativeConnection = QuicConnection<NativeCore>;

/** What an endpoint decides itself: packets for no connection, and what a close means to it. */
export type NativeDriverHooks = {
  /** A packet whose DCID names none of the addon's connections. */
  unknown(event: NativeEvent): void;
  /** The addon forgot `connection`; called before the connection's own onClosed. */
  closed(connection: NativeConnection): void;
};

export class NativeDriver {
  readonly native: NativeEndpointHandle;
  readonly connections = new Map<number, NativeConnection>();
  /** Shared by every NativeCore of the endpoint (server: voice the table forwarded already). */
  readonly forward: ForwardState = { inFlight: false };
  closed = false;
  readonly #hooks: NativeDriverHooks;
  readonly #dirty: NativeConnection[] = [];
  /**
   * Connections with stream bytes flow control held back (QuicConnection's queue). The addon
   * reports no event when the peer raises a limit (MAX_STREAM_DATA, MAX_DATA are consumed by
   * quiche), so every poll retries these: without it a write larger than the peer's window
   * stalled for good whenever no other event made the connection dirty (issue 17: a 60 KB
   * message on a fresh stream never arrived).
   */
  readonly #blocked = new Set<NativeConnection>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #flushScheduled = false;

  constructor(native: NativeEndpointHandle, hooks: NativeDriverHooks) {
    this.native = native;
    this.#hooks = hooks;
  }

  /** Starts the addon's waker thread: every readable socket becomes a `poll`. */
  start(): void {
    this.native.start(() => this.poll());
  }

  /**
   * Copies the addon's packet counts into `counters` and returns all its stats; once the endpoint
   * is closed the addon has none, so `counters` keep their last values and this returns undefined.
   */
  updatePacketCounts(counters: QuicEndpointStats): NativeStats | undefined {
    if (this.closed) return undefined;
    const native = this.native.stats();
    counters.packetsIn = native.packetsIn;
    counters.packetsOut = native.packetsOut;
    counters.notQuic = native.notQuic;
    return native;
  }

  /** A core for connection `id` of this endpoint. */
  core(id: number): NativeCore {
    return new NativeCore(this.native, id, this.forward);
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

  poll(): void {
    if (this.closed) return;
    this.dispatch(this.native.poll());
    for (const connection of this.#blocked) {
      if (connection.closed) this.#blocked.delete(connection);
      else this.markDirty(connection);
    }
    this.armTimer();
  }

  /** The endpoint is shut down; `events` are the addon's last (the connections' closes). */
  end(events: NativeEvent[]): void {
    this.closed = true;
    this.#blocked.clear();
    clearTimeout(this.#timer);
    this.dispatch(events);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.closed) return;
    const ids: number[] = [];
    const dirty = this.#dirty;
    for (let i = 0; i < dirty.length; i++) {
      const connection = dirty[i]!;
      connection.dirty = false;
      if (connection.closed) {
        this.#blocked.delete(connection);
        continue;
      }
      connection.writePending();
      if (connection.pendingBytes > 0) this.#blocked.add(connection);
      else this.#blocked.delete(connection);
      ids.push(connection.quiche.nativeId);
    }
    dirty.length = 0;
    this.dispatch(this.native.flush(ids));
    this.armTimer();
  }

  /** One timer per endpoint, at the earliest deadline the addon reports. */
  armTimer(): void {
    if (this.closed) return;
    const delay = this.native.nextTimeoutMs();
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
        this.poll();
      },
      Math.max(0, Math.ceil(delay)),
    );
  }

  dispatch(events: NativeEvent[]): void {
    for (const event of events) {
      if (event.kind === NativeEventKind.unknown) {
        this.#hooks.unknown(event);
        continue;
      }
      const connection = this.connections.get(event.conn);
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
            this.forward.inFlight = true;
            try {
              connection.handler.onDatagram(event.data!);
            } finally {
              this.forward.inFlight = false;
            }
          } else connection.handler.onDatagram(event.data!);
          break;
        case NativeEventKind.closed:
          this.connections.delete(event.conn);
          this.#blocked.delete(connection);
          this.#hooks.closed(connection);
          connection.quiche.closedWith(event);
          connection.finish();
          break;
      }
    }
  }
}
