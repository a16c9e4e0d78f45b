/**
 * One QUIC connection on a native endpoint (nativeEndpoint.ts, nativeClientEndpoint.ts): streams
 * with send queues, datagrams, close.
 *
 * HOT PATH (voice datagrams): `sendDatagram` only queues into quiche and marks the connection
 * dirty; the endpoint flushes every dirty connection once per event-loop turn, so several
 * datagrams queued in one turn leave in as few QUIC packets as fit (quiche coalesces
 * DATAGRAM frames into one packet). No allocation per datagram here.
 */
import { quicheErrorOf } from './quiche.ts';

/** What the layer above (HTTP/3) gets from a connection. Calls never overlap. */
export interface QuicConnectionHandler {
  /** TLS handshake done (ALPN agreed): streams may be opened. */
  onEstablished(): void;
  /** Bytes of a stream, in order; `fin` on the last. */
  onStreamData(streamId: number, bytes: Uint8Array, fin: boolean): void;
  /** The peer reset a stream it was sending (RESET_STREAM) or stopped one we send (STOP_SENDING). */
  onStreamAborted(streamId: number, code: number, direction: 'read' | 'write'): void;
  /** A QUIC datagram (RFC 9221). */
  onDatagram(bytes: Uint8Array): void;
  /** The connection is gone (closed by either side, idle timeout, handshake failure). Once. */
  onClosed(info: QuicCloseInfo): void;
}

export type QuicCloseInfo = {
  /**
   * Who closed: `local`, `peer` (also a stateless reset: reason `stateless reset`), or
   * `timeout` (idle timeout or a handshake that never finished).
   */
  by: 'local' | 'peer' | 'timeout';
  isApp: boolean;
  code: number;
  reason: string;
};

/** What a connection needs of its endpoint. */
export interface ConnectionOwner {
  markDirty(connection: QuicConnection): void;
  readonly stats: { datagramsDropped: number; datagramsExpired: number };
}

/** How a connection was closed, as quiche reports it. */
export type QuicheCloseError = { isApp: boolean; errorCode: number; reason: Uint8Array };

/**
 * What a connection calls on quiche: the connection's calls on the addon (nativeDriver.ts
 * NativeCore). Errors follow quiche.ts's conventions.
 */
export interface ConnectionCore {
  /** Bytes quiche took (null: none, quiche's `Done`). */
  streamSend(streamId: number, data: Uint8Array, fin: boolean): number | null;
  streamShutdown(streamId: number, direction: number, err: number): void;
  dgramSend(data: Uint8Array): void;
  isDgramSendQueueFull(): boolean;
  dgramMaxWritableLen(): number | null;
  close(app: boolean, err: number, reason: Uint8Array): void;
  peerError(): QuicheCloseError | null;
  localError(): QuicheCloseError | null;
  isTimedOut(): boolean;
  /** The peer's certificate chain, DER, leaf first (null before the handshake). */
  peerCertChain(): Uint8Array[] | null;
}

const noHandler: QuicConnectionHandler = {
  onEstablished() {},
  onStreamData() {},
  onStreamAborted() {},
  onDatagram() {},
  onClosed() {},
};

const decoder = new TextDecoder();

export class QuicConnection<Q extends ConnectionCore = ConnectionCore> {
  readonly id: string;
  readonly role: 'server' | 'client';
  readonly quiche: Q;
  /** `host:port` of the peer (follows migration). */
  remoteHost: string;
  remotePort: number;
  handler: QuicConnectionHandler = noHandler;
  established = false;
  /** onClosed was delivered. */
  closed = false;
  /** Marked for the endpoint's next flush. */
  dirty = false;
  /** Client: the server ended the connection with a stateless reset (RFC 9000 section 10.3). */
  statelessReset = false;
  readonly #owner: ConnectionOwner;
  /** Stream data quiche has not taken yet (flow or congestion control), per stream, in order. */
  readonly #pending = new Map<number, { chunks: Uint8Array[]; fin: boolean; bytes: number }>();
  #pendingBytes = 0;
  #nextBidi: number;
  #nextUni: number;
  #closedBy: QuicCloseInfo['by'] | undefined;

  constructor(params: {
    id: string;
    role: 'server' | 'client';
    quiche: Q;
    remoteHost: string;
    remotePort: number;
    owner: ConnectionOwner;
  }) {
    this.id = params.id;
    this.role = params.role;
    this.quiche = params.quiche;
    this.remoteHost = params.remoteHost;
    this.remotePort = params.remotePort;
    this.#owner = params.owner;
    // RFC 9000 section 2.1: the low two bits of a stream id are (initiator, direction).
    this.#nextBidi = params.role === 'client' ? 0 : 1;
    this.#nextUni = params.role === 'client' ? 2 : 3;
  }

  get remoteAddress(): string {
    return this.remoteHost.includes(':')
      ? `[${this.remoteHost}]:${this.remotePort}`
      : `${this.remoteHost}:${this.remotePort}`;
  }

  /** Stream bytes queued for sending but not yet taken by quiche. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Largest datagram payload the peer accepts now (0 before the handshake or without datagram support). */
  get maxDatagramSize(): number {
    try {
      return this.quiche.dgramMaxWritableLen() ?? 0;
    } catch {
      return 0;
    }
  }

  /** Allocates the id of a new locally-initiated stream (it exists once data is sent on it). */
  openStream(bidirectional: boolean): number {
    if (bidirectional) {
      const id = this.#nextBidi;
      this.#nextBidi += 4;
      return id;
    }
    const id = this.#nextUni;
    this.#nextUni += 4;
    return id;
  }

  /**
   * Sends stream bytes reliably and in order; what flow control does not let through now waits
   * in a queue. Returns false when the stream is gone (reset or stopped by the peer).
   */
  streamSend(streamId: number, bytes: Uint8Array, fin = false): boolean {
    if (this.closed) return false;
    const pending = this.#pending.get(streamId);
    if (pending !== undefined) {
      pending.chunks.push(bytes);
      pending.bytes += bytes.length;
      pending.fin ||= fin;
      this.#pendingBytes += bytes.length;
      this.#owner.markDirty(this);
      return true;
    }
    const written = this.#write(streamId, bytes, fin);
    if (written === -1) return false;
    if (written < bytes.length) {
      const rest = bytes.subarray(written);
      this.#pending.set(streamId, { chunks: [rest], fin, bytes: rest.length });
      this.#pendingBytes += rest.length;
    }
    this.#owner.markDirty(this);
    return true;
  }

  /** Bytes taken by quiche, or -1 if the stream is unusable. Fin is sent once all bytes are taken. */
  #write(streamId: number, bytes: Uint8Array, fin: boolean): number {
    try {
      // quiche applies `fin` only when it took every byte; a partial write leaves the rest
      // (and the fin) to writePending().
      return this.quiche.streamSend(streamId, bytes, fin) ?? 0;
    } catch (error) {
      const { name, code } = quicheErrorOf(error);
      if (name === 'StreamStopped') this.handler.onStreamAborted(streamId, code ?? 0, 'write');
      return -1;
    }
  }

  /** Retries queued stream data (called by the endpoint's flush). */
  writePending(): void {
    for (const [streamId, pending] of this.#pending) {
      while (pending.chunks.length > 0) {
        const chunk = pending.chunks[0]!;
        const last = pending.chunks.length === 1;
        const written = this.#write(streamId, chunk, last && pending.fin);
        if (written === -1) {
          this.#pendingBytes -= pending.bytes;
          this.#pending.delete(streamId);
          break;
        }
        pending.bytes -= written;
        this.#pendingBytes -= written;
        if (written < chunk.length) {
          pending.chunks[0] = chunk.subarray(written);
          break;
        }
        pending.chunks.shift();
      }
      if (pending.chunks.length === 0) this.#pending.delete(streamId);
    }
  }

  /** RESET_STREAM (write side) or STOP_SENDING (read side) with an application error code. */
  shutdownStream(streamId: number, direction: 'read' | 'write', code: number): void {
    if (this.closed) return;
    if (direction === 'write') {
      const pending = this.#pending.get(streamId);
      if (pending !== undefined) {
        this.#pendingBytes -= pending.bytes;
        this.#pending.delete(streamId);
      }
    }
    try {
      this.quiche.streamShutdown(streamId, direction === 'read' ? 0 : 1, code);
    } catch {
      // Already finished or reset: nothing to shut down.
    }
    this.#owner.markDirty(this);
  }

  /**
   * HOT PATH. Queues one datagram. False (and counted) when it cannot be sent: handshake not
   * done, quiche's datagram queue full, or larger than the peer accepts.
   */
  sendDatagram(bytes: Uint8Array): boolean {
    const q = this.quiche;
    if (!this.established || this.closed || q.isDgramSendQueueFull()) {
      this.#owner.stats.datagramsDropped++;
      return false;
    }
    try {
      q.dgramSend(bytes);
    } catch {
      this.#owner.stats.datagramsDropped++;
      return false;
    }
    if (!this.dirty) this.#owner.markDirty(this);
    return true;
  }

  /**
   * Closes with CONNECTION_CLOSE (RFC 9000 section 10.2): `isApp` selects the application
   * variant (HTTP/3 error codes) over the transport one. The endpoint reports `onClosed` once
   * quiche has finished draining.
   */
  close(isApp: boolean, code: number, reason: string): void {
    if (this.closed) return;
    this.#closedBy ??= 'local';
    try {
      this.quiche.close(isApp, code, new TextEncoder().encode(reason.slice(0, 200)));
    } catch {
      // Already closing.
    }
    this.#owner.markDirty(this);
  }

  /** Called by the endpoint once quiche reports the connection closed. */
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending.clear();
    this.#pendingBytes = 0;
    const q = this.quiche;
    const peer = q.peerError();
    const local = q.localError();
    let info: QuicCloseInfo;
    if (this.statelessReset) {
      info = { by: 'peer', isApp: false, code: 0, reason: 'stateless reset' };
    } else if (q.isTimedOut() && peer === null) {
      info = {
        by: 'timeout',
        isApp: false,
        code: 0,
        reason: this.established ? 'idle timeout' : 'handshake timeout',
      };
    } else if (peer !== null && this.#closedBy !== 'local') {
      info = { by: 'peer', isApp: peer.isApp, code: peer.errorCode, reason: decoder.decode(peer.reason) };
    } else if (local !== null) {
      info = { by: 'local', isApp: local.isApp, code: local.errorCode, reason: decoder.decode(local.reason) };
    } else {
      info = { by: this.#closedBy ?? 'timeout', isApp: false, code: 0, reason: '' };
    }
    this.handler.onClosed(info);
  }
}
