/**
 * A WebTransport session over HTTP/2 (draft-ietf-webtrans-http2), for both roles: the server
 * end of the `[http]` listener's h2 connections and our Node client's fallback when QUIC does
 * not answer. The HTTP/2 part (Extended CONNECT, RFC 8441) is Node's `http2` module; this class
 * is everything inside the CONNECT stream, fed its bytes and handed a sink to write to:
 *
 * - capsules (RFC 9297 section 3.2) parsed with their length bounded before any byte of the value
 *   is buffered (capsule.ts CapsuleReader);
 * - streams are WT_STREAM capsules (draft section 6.4) with QUIC stream ids (client even, server
 *   odd, bit 1 = unidirectional), reset/stopped with WT_RESET_STREAM / WT_STOP_SENDING;
 * - datagrams are DATAGRAM capsules (RFC 9297 section 3.5; draft section 6.10): reliable and in
 *   order like everything on TCP. A voice datagram that would wait behind more than
 *   `maxBufferedDatagramBytes` of unsent bytes is dropped instead (stale voice is worse than none);
 * - flow control (draft section 5): session-level with the HTTP/3 drafts' capsules and their
 *   bookkeeping (sessionFlowControl.ts: same codepoints), per-stream with WT_MAX_STREAM_DATA.
 *   A peer beyond what it was granted closes the session with WT_FLOW_CONTROL_ERROR; bytes we
 *   may not send yet wait here, in order, until the peer grants more.
 *
 * Why not `@fails-components/webtransport`'s HTTP/2 part: its server wants its own listening
 * port (we share the `[http]` TLS port with HTTPS and WebSockets, choosing by ALPN), and its
 * 1.6.8 client numbered streams against the draft's QUIC-style ids; the protocol inside the
 * CONNECT stream is a few capsules, which the QUIC stack's modules already parse.
 *
 * The session and stream surfaces match webTransport.ts (what odinSession.ts and the client use),
 * so the ODIN session runs unchanged on either.
 */
import {
  CapsuleReader,
  CapsuleType,
  encodeCloseSession,
  encodeVarintCapsule,
  parseCloseSession,
} from './capsule.ts';
import { H3ConnectionError, WebTransportError } from './errors.ts';
import {
  encodeStreamCapsule,
  encodeVarintsCapsule,
  H2CapsuleError,
  H2CapsuleType,
  nthStreamId,
  parseStreamCapsule,
  readVarints,
  streamIdInfo,
} from './h2Capsules.ts';
import { FlowControlViolation, type FlowLimits, SessionFlowControl } from './sessionFlowControl.ts';
import { varintLength, writeVarint } from './varint.ts';
import { type SessionCloseInfo, StreamHandlerSlot } from './webTransport.ts';
import type { WtSessionHandler } from './webTransportSurface.ts';

/** Session-level limits (sessionFlowControl.ts) plus the limit per stream (WT_MAX_STREAM_DATA). */
export type H2FlowLimits = FlowLimits & { maxStreamData: number };

/** What we grant a peer per session and per stream (announced in SETTINGS, the header and capsules). */
export const H2_LOCAL_FLOW_LIMITS: H2FlowLimits = {
  maxData: 16 * 1024 * 1024,
  maxStreamsBidi: 16,
  maxStreamsUni: 16,
  maxStreamData: 1024 * 1024,
};

/** Largest stream payload we put in one WT_STREAM capsule: a big message goes as several. */
export const MAX_STREAM_CHUNK = 16 * 1024;

/** Session close code for a capsule that breaks the draft (shape, stream state): the ODIN "protocol error". */
export const H2_PROTOCOL_ERROR_CODE = 1;

/** The CONNECT stream, as the session writes to it (an Http2Stream, or a test's buffer). */
export interface ConnectStreamSink {
  /** Sends bytes as DATA on the CONNECT stream. */
  write(bytes: Uint8Array): void;
  /** END_STREAM: our side of the CONNECT stream is done. */
  end(): void;
  /** Bytes written and not yet handed to the socket. */
  readonly buffered: number;
}

/** The writable side of an HTTP/2 stream (Node's Http2Stream), as much as a sink needs. */
export type WritableStream = {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  write(bytes: Uint8Array): unknown;
  end(): unknown;
};

/** The CONNECT stream as a sink; writes after its end (the session is closing) are dropped. */
export function connectStreamSink(stream: WritableStream): ConnectStreamSink {
  const open = () => !stream.destroyed && !stream.writableEnded;
  return {
    write: (bytes) => {
      if (open()) stream.write(bytes);
    },
    end: () => {
      if (open()) stream.end();
    },
    get buffered() {
      return stream.writableLength;
    },
  };
}

export type H2SessionParams = {
  role: 'client' | 'server';
  sink: ConnectStreamSink;
  remoteAddress: string;
  /** What we grant the peer. */
  local?: H2FlowLimits;
  /** What the peer granted before any capsule (its SETTINGS or WebTransport-Init); absent: zero (draft default). */
  peer?: H2FlowLimits;
  /** Largest capsule value accepted; larger is a protocol error before it is buffered. */
  maxCapsuleBytes: number;
  /** A datagram is dropped when this many bytes already wait to be sent. Default 64 KiB. */
  maxBufferedDatagramBytes?: number;
  onEnded?: (session: H2WebTransportSession) => void;
};

/**
 * Counters of one session (read by the listener's metrics). `internalErrors`: a failure that is
 * not a named protocol error, i.e. a bug (closed rather than crashing the process; the fuzz
 * target requires it to stay 0).
 */
export type H2SessionStats = { datagramsDropped: number; protocolErrors: number; internalErrors: number };

const noSessionHandler: WtSessionHandler<H2WebTransportStream> = {
  onStream() {},
  onDatagram() {},
  onClose() {},
};
const ZERO_LIMITS: H2FlowLimits = { maxData: 0, maxStreamsBidi: 0, maxStreamsUni: 0, maxStreamData: 0 };

export class H2WebTransportStream extends StreamHandlerSlot {
  readonly id: number;
  readonly session: H2WebTransportSession;
  readonly bidirectional: boolean;
  readonly local: boolean;
  /** Receive side: bytes received, the limit we granted, FIN or reset seen (or nothing to read). */
  received = 0;
  receiveLimit: number;
  readEnded: boolean;
  stopSent = false;
  /** Send side: bytes sent, the limit the peer granted, FIN or reset sent (or nothing to send). */
  sent = 0;
  sendLimit: number;
  writeEnded: boolean;
  /** Bytes (and a FIN) waiting for flow-control credit. */
  queue: Uint8Array[] = [];
  queuedFin = false;
  blockedAt = -1;
  /** The peer knows this stream (it opened it, or a WT_STREAM of ours named it). */
  announced: boolean;

  constructor(
    id: number,
    session: H2WebTransportSession,
    local: boolean,
    receiveLimit: number,
    sendLimit: number,
  ) {
    super();
    this.id = id;
    this.session = session;
    this.local = local;
    this.bidirectional = streamIdInfo(id).bidirectional;
    this.receiveLimit = receiveLimit;
    this.sendLimit = sendLimit;
    // A unidirectional stream has one side only.
    this.readEnded = !this.bidirectional && local;
    this.writeEnded = !this.bidirectional && !local;
    this.announced = !local;
  }

  /** Internal: bytes of the stream arrived. */
  deliver(bytes: Uint8Array, fin: boolean): void {
    this.handOver(bytes, fin);
  }

  write(bytes: Uint8Array, fin = false): boolean {
    return this.session.sendOnStream(this, bytes, fin);
  }

  /** WT_RESET_STREAM with everything sent so far as the reliable size (section 6.2). */
  reset(code = 0): void {
    this.session.resetStream(this, code);
  }

  /** WT_STOP_SENDING (section 6.3), once. */
  stopSending(code = 0): void {
    this.session.stopStream(this, code);
  }
}

export class H2WebTransportSession {
  readonly role: 'client' | 'server';
  readonly remoteAddress: string;
  handler: WtSessionHandler<H2WebTransportStream> = noSessionHandler;
  closed = false;
  drainRequested = false;
  readonly stats: H2SessionStats = { datagramsDropped: 0, protocolErrors: 0, internalErrors: 0 };
  readonly streams = new Map<number, H2WebTransportStream>();
  readonly #sink: ConnectStreamSink;
  readonly #local: H2FlowLimits;
  readonly #peer: H2FlowLimits;
  /** The per-stream limit the peer grants new streams (raised by its WebTransport-Init). */
  #peerStreamData: number;
  readonly #flow: SessionFlowControl;
  readonly #reader: CapsuleReader;
  readonly #maxBufferedDatagram: number;
  readonly #onEnded: ((session: H2WebTransportSession) => void) | undefined;
  /** How many streams of each kind each side has opened (the next id's index). */
  readonly #opened = { localBidi: 0, localUni: 0, peerBidi: 0, peerUni: 0 };
  #queuedBytes = 0;

  constructor(params: H2SessionParams) {
    this.role = params.role;
    this.remoteAddress = params.remoteAddress;
    this.#sink = params.sink;
    this.#local = params.local ?? H2_LOCAL_FLOW_LIMITS;
    this.#peer = params.peer ?? ZERO_LIMITS;
    this.#peerStreamData = this.#peer.maxStreamData;
    this.#maxBufferedDatagram = params.maxBufferedDatagramBytes ?? 64 * 1024;
    this.#onEnded = params.onEnded;
    this.#reader = new CapsuleReader(params.maxCapsuleBytes);
    this.#flow = new SessionFlowControl(this.#local, this.#peer, (type, value) =>
      this.#write(encodeVarintCapsule(type, value)),
    );
  }

  /**
   * Announces our session limits as capsules (the draft's initial values are 0 unless SETTINGS
   * said otherwise; the capsules make them explicit for a peer that does not read our SETTINGS).
   * The client sends them with its CONNECT, the server after its 2xx.
   */
  start(): void {
    this.#write(encodeVarintCapsule(CapsuleType.WT_MAX_DATA, this.#local.maxData));
    this.#write(encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, this.#local.maxStreamsBidi));
    this.#write(encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_UNI, this.#local.maxStreamsUni));
  }

  /**
   * The peer's initial per-stream limit learnt late (the server's WebTransport-Init arrives with
   * its answer, after the client may have opened streams): raises it for every stream.
   */
  raisePeerStreamLimit(limit: number): void {
    if (limit <= this.#peerStreamData) return;
    this.#peerStreamData = limit;
    for (const stream of this.streams.values()) if (stream.sendLimit < limit) stream.sendLimit = limit;
    this.#flushAll();
  }

  /** Bytes written to this session and not yet on the socket, plus those waiting for credit. */
  get unsentBytes(): number {
    return this.#sink.buffered + this.#queuedBytes;
  }

  canOpenStream(bidirectional: boolean): boolean {
    return this.#flow.canOpenStream(bidirectional);
  }

  openBidiStream(): H2WebTransportStream {
    return this.#open(true);
  }

  openUniStream(): H2WebTransportStream {
    return this.#open(false);
  }

  #open(bidirectional: boolean): H2WebTransportStream {
    if (this.closed) throw new Error('the WebTransport session is closed');
    if (!this.#flow.canOpenStream(bidirectional)) {
      throw new Error(
        `the peer's WT_MAX_STREAMS allows no more ${bidirectional ? 'bidirectional' : 'unidirectional'} streams now (WT_STREAMS_BLOCKED sent)`,
      );
    }
    this.#flow.onLocalStreamOpened(bidirectional);
    const index = bidirectional ? this.#opened.localBidi++ : this.#opened.localUni++;
    const id = nthStreamId(index, this.role === 'client', bidirectional);
    const stream = new H2WebTransportStream(id, this, true, this.#local.maxStreamData, this.#peerStreamData);
    this.streams.set(id, stream);
    return stream;
  }

  /**
   * HOT PATH. One datagram as a DATAGRAM capsule. False when dropped: the session is closed, or
   * too much waits on the TCP connection already (head-of-line blocking: the voice would be late).
   */
  sendDatagram(payload: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.#sink.buffered > this.#maxBufferedDatagram) {
      this.stats.datagramsDropped++;
      return false;
    }
    const out = new Uint8Array(1 + varintLength(payload.length) + payload.length);
    out.set(payload, writeVarint(out, 1, payload.length));
    this.#sink.write(out);
    return true;
  }

  /** WT_CLOSE_SESSION, then END_STREAM on the CONNECT stream (draft section 6.11). */
  close(code = 0, reason = ''): void {
    if (this.closed) return;
    this.#sink.write(encodeCloseSession(code, reason));
    this.#sink.end();
    this.#end({ code, reason, by: 'local' });
  }

  /** WT_DRAIN_SESSION (draft section 6.12). */
  drain(): void {
    this.#write(encodeVarintsCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, []));
  }

  // ---- input from the CONNECT stream ----

  /** Bytes of the CONNECT stream's DATA frames. */
  receive(bytes: Uint8Array): void {
    if (this.closed) return;
    try {
      this.#reader.push(bytes);
      for (;;) {
        const capsule = this.#reader.next();
        if (capsule === undefined) return;
        this.#onCapsule(capsule.type, capsule.value);
        if (this.closed) return;
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** The peer ended the CONNECT stream: the session is over (a clean close without a capsule). */
  receiveEnd(): void {
    if (this.closed) return;
    this.#sink.end();
    this.#end({ code: 0, reason: '', by: 'peer' });
  }

  /** The CONNECT stream or the connection is gone (reset, socket closed). */
  abort(reason: string): void {
    this.#end({ code: 0, reason, by: 'connection' });
  }

  #fail(error: unknown): void {
    if (error instanceof FlowControlViolation) {
      this.stats.protocolErrors++;
      this.close(WebTransportError.FLOW_CONTROL_ERROR, `flow control: ${error.message}`);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof H2CapsuleError || error instanceof H3ConnectionError) {
      this.stats.protocolErrors++;
      this.close(H2_PROTOCOL_ERROR_CODE, `protocol error: ${message}`);
      return;
    }
    this.stats.internalErrors++;
    this.close(H2_PROTOCOL_ERROR_CODE, `internal error: ${message}`);
  }

  #onCapsule(type: number, value: Uint8Array): void {
    switch (type) {
      case CapsuleType.DATAGRAM:
        // HOT PATH: a voice packet.
        this.handler.onDatagram(value);
        return;
      case H2CapsuleType.WT_STREAM:
      case H2CapsuleType.WT_STREAM_FIN: {
        const { streamId, data } = parseStreamCapsule(value);
        this.#onStreamData(streamId, data, type === H2CapsuleType.WT_STREAM_FIN);
        return;
      }
      case H2CapsuleType.WT_RESET_STREAM: {
        const [id, code, reliableSize] = readVarints(value, 3, 'WT_RESET_STREAM') as [number, number, number];
        const stream = this.#knownStream(id, 'WT_RESET_STREAM');
        if (stream === undefined || stream.readEnded) return;
        if (reliableSize < stream.received) {
          throw new H2CapsuleError(
            `WT_RESET_STREAM of stream ${id}: reliable size ${reliableSize} below the ${stream.received} bytes received`,
          );
        }
        this.#readEnded(stream);
        stream.handler.onAbort(code, 'read');
        this.#forgetIfDone(stream);
        return;
      }
      case H2CapsuleType.WT_STOP_SENDING: {
        const [id, code] = readVarints(value, 2, 'WT_STOP_SENDING') as [number, number];
        const stream = this.#knownStream(id, 'WT_STOP_SENDING');
        if (stream === undefined || stream.writeEnded) return;
        // RFC 9000 section 3.5: answer with a reset carrying the same code.
        this.resetStream(stream, code);
        stream.handler.onAbort(code, 'write');
        return;
      }
      case H2CapsuleType.WT_MAX_STREAM_DATA: {
        const [id, max] = readVarints(value, 2, 'WT_MAX_STREAM_DATA') as [number, number];
        const stream = this.#knownStream(id, 'WT_MAX_STREAM_DATA');
        if (stream === undefined || stream.writeEnded) return;
        if (max < stream.sendLimit) {
          throw new FlowControlViolation(
            `WT_MAX_STREAM_DATA of stream ${id} went down from ${stream.sendLimit} to ${max}`,
          );
        }
        stream.sendLimit = max;
        this.#flushAll();
        return;
      }
      case H2CapsuleType.WT_STREAM_DATA_BLOCKED: {
        const [id, blockedAt] = readVarints(value, 2, 'WT_STREAM_DATA_BLOCKED') as [number, number];
        const stream = this.#knownStream(id, 'WT_STREAM_DATA_BLOCKED');
        if (stream === undefined || stream.readEnded) return;
        if (blockedAt < stream.receiveLimit) {
          // It does not know what we granted (it did not read our SETTINGS or WebTransport-Init): say it again.
          this.#write(
            encodeVarintsCapsule(H2CapsuleType.WT_MAX_STREAM_DATA, [stream.id, stream.receiveLimit]),
          );
        } else this.#grantStreamData(stream, true);
        return;
      }
      case CapsuleType.CLOSE_WEBTRANSPORT_SESSION: {
        const info = parseCloseSession(value);
        this.#sink.end();
        this.#end({ ...info, by: 'peer' });
        return;
      }
      case CapsuleType.DRAIN_WEBTRANSPORT_SESSION:
        this.drainRequested = true;
        this.handler.onDrain?.();
        return;
      default:
        // Session flow control; PADDING and unknown capsule types are skipped (RFC 9297 section 3.2).
        if (this.#flow.onCapsule(type, value) === 'credit') this.#flushAll();
    }
  }

  /**
   * The stream a control capsule names: undefined for one that is gone (both sides done; a late
   * capsule crossing ours is not an error), an error for one that was never opened.
   */
  #knownStream(id: number, what: string): H2WebTransportStream | undefined {
    const stream = this.streams.get(id);
    if (stream !== undefined) return stream;
    if (this.#wasOpened(id)) return undefined;
    throw new H2CapsuleError(`${what} for stream ${id}, which was never opened`);
  }

  #wasOpened(id: number): boolean {
    const { clientInitiated, bidirectional } = streamIdInfo(id);
    const ours = clientInitiated === (this.role === 'client');
    const index = Math.floor(id / 4);
    const opened = ours
      ? bidirectional
        ? this.#opened.localBidi
        : this.#opened.localUni
      : bidirectional
        ? this.#opened.peerBidi
        : this.#opened.peerUni;
    return index < opened;
  }

  #onStreamData(id: number, data: Uint8Array, fin: boolean): void {
    let stream = this.streams.get(id);
    if (stream === undefined) {
      if (this.#wasOpened(id)) return; // a stream we are done with (stopped, reset): data in flight is dropped
      const { clientInitiated, bidirectional } = streamIdInfo(id);
      if (clientInitiated === (this.role === 'client')) {
        throw new H2CapsuleError(`WT_STREAM for stream ${id}, which is ours to open and was never opened`);
      }
      // A new peer stream; lower ids of its kind count as opened too (RFC 9000 section 3.2).
      const index = Math.floor(id / 4);
      const key = bidirectional ? 'peerBidi' : 'peerUni';
      while (this.#opened[key] <= index) {
        this.#flow.onPeerStreamOpened(bidirectional);
        this.#opened[key]++;
      }
      stream = new H2WebTransportStream(id, this, false, this.#local.maxStreamData, this.#peerStreamData);
      this.streams.set(id, stream);
      this.handler.onStream(stream);
      if (this.closed) return;
    }
    if (stream.readEnded) {
      if (stream.stopSent && !stream.local) return; // we asked it to stop; data in flight is dropped
      throw new H2CapsuleError(`WT_STREAM for stream ${id} after its end`);
    }
    if (data.length === 0 && !fin && stream.received > 0) {
      throw new H2CapsuleError(`empty WT_STREAM for stream ${id} that neither opens nor ends it`);
    }
    if (stream.received + data.length > stream.receiveLimit) {
      throw new FlowControlViolation(
        `stream ${id}: ${stream.received + data.length} bytes on a stream allowing ${stream.receiveLimit}`,
      );
    }
    stream.received += data.length;
    if (data.length > 0) this.#flow.onDataReceived(data.length);
    if (fin) this.#readEnded(stream);
    else this.#grantStreamData(stream, false);
    if (data.length > 0 || fin) stream.deliver(data, fin);
    if (fin) this.#forgetIfDone(stream);
  }

  /** WT_MAX_STREAM_DATA once half the stream's window is used (or at once when the peer is blocked). */
  #grantStreamData(stream: H2WebTransportStream, force: boolean): void {
    if (stream.readEnded || stream.stopSent) return;
    const window = this.#local.maxStreamData;
    const next = stream.received + window;
    if (next <= stream.receiveLimit) return;
    if (!force && stream.receiveLimit - stream.received > window / 2) return;
    stream.receiveLimit = next;
    this.#write(encodeVarintsCapsule(H2CapsuleType.WT_MAX_STREAM_DATA, [stream.id, next]));
  }

  #readEnded(stream: H2WebTransportStream): void {
    if (stream.readEnded) return;
    stream.readEnded = true;
    if (!stream.local) this.#flow.onPeerStreamClosed(stream.bidirectional);
  }

  #forgetIfDone(stream: H2WebTransportStream): void {
    if (stream.readEnded && stream.writeEnded) this.streams.delete(stream.id);
  }

  // ---- output ----

  #write(capsule: Uint8Array): void {
    if (!this.closed) this.#sink.write(capsule);
  }

  /** Internal (H2WebTransportStream.write): sends within the credit, queues the rest in order. */
  sendOnStream(stream: H2WebTransportStream, bytes: Uint8Array, fin: boolean): boolean {
    if (this.closed || stream.writeEnded || stream.queuedFin) return false;
    stream.queue.push(bytes);
    stream.queuedFin = fin;
    this.#queuedBytes += bytes.length;
    this.#flush(stream);
    return true;
  }

  #flushAll(): void {
    for (const stream of this.streams.values())
      if (stream.queue.length > 0 || stream.queuedFin) this.#flush(stream);
  }

  #flush(stream: H2WebTransportStream): void {
    while (!stream.writeEnded && stream.queue.length > 0) {
      const chunk = stream.queue[0]!;
      const last = stream.queue.length === 1;
      const streamCredit = stream.sendLimit - stream.sent;
      const take = Math.min(chunk.length, this.#flow.sendCredit, streamCredit, MAX_STREAM_CHUNK);
      if (!stream.announced) {
        // Open it at the peer even without credit (an empty WT_STREAM may open a stream, draft
        // section 6.4): the peer can only grant stream credit, or hear it is blocked, once it knows.
        stream.announced = true;
        if (take === 0) this.#write(encodeStreamCapsule(stream.id, new Uint8Array(0), false));
      }
      if (take === 0 && chunk.length > 0) {
        if (this.#flow.sendCredit === 0) this.#flow.onDataBlocked();
        if (streamCredit === 0 && stream.blockedAt !== stream.sendLimit) {
          stream.blockedAt = stream.sendLimit;
          this.#write(
            encodeVarintsCapsule(H2CapsuleType.WT_STREAM_DATA_BLOCKED, [stream.id, stream.sendLimit]),
          );
        }
        return;
      }
      const fin = last && take === chunk.length && stream.queuedFin;
      if (take > 0 || fin) this.#write(encodeStreamCapsule(stream.id, chunk.subarray(0, take), fin));
      stream.sent += take;
      this.#flow.onDataSent(take);
      this.#queuedBytes -= take;
      if (take < chunk.length) stream.queue[0] = chunk.subarray(take);
      else stream.queue.shift();
      if (fin) {
        stream.writeEnded = true;
        this.#forgetIfDone(stream);
        return;
      }
    }
  }

  /** Internal (H2WebTransportStream.reset). */
  resetStream(stream: H2WebTransportStream, code: number): void {
    if (stream.writeEnded) return;
    for (const chunk of stream.queue) this.#queuedBytes -= chunk.length;
    stream.queue = [];
    stream.writeEnded = true;
    this.#write(encodeVarintsCapsule(H2CapsuleType.WT_RESET_STREAM, [stream.id, code, stream.sent]));
    this.#forgetIfDone(stream);
  }

  /** Internal (H2WebTransportStream.stopSending). */
  stopStream(stream: H2WebTransportStream, code: number): void {
    if (stream.readEnded || stream.stopSent) return;
    stream.stopSent = true;
    this.#write(encodeVarintsCapsule(H2CapsuleType.WT_STOP_SENDING, [stream.id, code]));
    this.#readEnded(stream);
    this.#forgetIfDone(stream);
  }

  #end(info: SessionCloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    this.#queuedBytes = 0;
    this.streams.clear();
    this.#onEnded?.(this);
    this.handler.onClose(info);
  }
}
