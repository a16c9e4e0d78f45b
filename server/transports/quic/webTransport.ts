/**
 * WebTransport sessions over HTTP/3 (draft-ietf-webtrans-http3-02, what Chromium speaks; the
 * wire format of streams and datagrams is unchanged in later drafts):
 *
 * - a session is an extended CONNECT stream (RFC 9220) answered 2xx; its id is that stream's id;
 * - bidirectional streams start with the signal 0x41 and the session id (draft-02 section 4.2),
 *   unidirectional ones with stream type 0x54 and the session id (section 4.1);
 * - datagrams are HTTP datagrams (RFC 9297 section 2.1): the quarter stream id (session id / 4)
 *   as a varint, then the payload;
 * - the session ends with a CLOSE_WEBTRANSPORT_SESSION capsule (section 5) or when the CONNECT
 *   stream ends.
 *
 * A session of the current drafts (`draft: 'current'`, draft-ietf-webtrans-http3-15/16) adds
 * WT_DRAIN_SESSION (section 4.7) and, when both sides announced limits, session flow control
 * (section 5, sessionFlowControl.ts): stream bytes beyond the peer's credit wait here, in order,
 * until its WT_MAX_DATA arrives.
 */

import { CapsuleType, encodeCapsule, encodeCloseSession, encodeVarintCapsule } from './capsule.ts';
import { WebTransportError } from './errors.ts';
import { encodeFrame, FrameType, StreamType } from './h3Frame.ts';
import type { HeaderField } from './qpack.ts';
import type { QuicConnection } from './quicConnection.ts';
import { FlowControlViolation, type FlowLimits, SessionFlowControl } from './sessionFlowControl.ts';
import { concatBytes, encodeVarint, writeVarint } from './varint.ts';

/** Which WebTransport over HTTP/3 a session speaks (negotiated per connection: wtNegotiation.ts). */
export type WebTransportDraft = 'draft02' | 'current';

export type WebTransportSessionOptions = {
  draft: WebTransportDraft;
  /** Session flow control (current drafts, both sides announced limits): ours and the peer's initial ones. */
  flow?: { local: FlowLimits; peer: FlowLimits };
  /** The session ended (H3Connection forgets it). */
  onEnded?: (session: WebTransportSession) => void;
};

export type SessionCloseInfo = { code: number; reason: string; by: 'local' | 'peer' | 'connection' };

export interface WebTransportSessionHandler {
  /** A stream the peer opened in this session. */
  onStream(stream: WebTransportStream): void;
  /** HOT PATH: one datagram's payload (the quarter stream id already removed). */
  onDatagram(payload: Uint8Array): void;
  /** The session ended (close capsule, CONNECT stream end, connection gone). Once. */
  onClose(info: SessionCloseInfo): void;
  /** The peer asked to wind the session down (WT_DRAIN_SESSION, current drafts section 4.7). */
  onDrain?(): void;
}

export interface WebTransportStreamHandler {
  onData(bytes: Uint8Array, fin: boolean): void;
  /** The peer reset its sending side or stopped ours. */
  onAbort(code: number, direction: 'read' | 'write'): void;
}

const noStreamHandler: WebTransportStreamHandler = { onData() {}, onAbort() {} };

/**
 * A stream's handler, for both stream kinds (over HTTP/3 here, over HTTP/2 in
 * h2WebTransport.ts): data that arrived before a handler was set (the header and the first
 * bytes often share a packet) waits for it.
 */
export class StreamHandlerSlot {
  handler: WebTransportStreamHandler = noStreamHandler;
  #early: { bytes: Uint8Array; fin: boolean }[] | undefined = [];

  /** Sets the handler and hands it what arrived before. */
  setHandler(handler: WebTransportStreamHandler): void {
    this.handler = handler;
    const early = this.#early;
    this.#early = undefined;
    for (const chunk of early ?? []) handler.onData(chunk.bytes, chunk.fin);
  }

  /** Hands the bytes to the handler, or keeps them until one is set. */
  protected handOver(bytes: Uint8Array, fin: boolean): void {
    if (this.#early !== undefined) this.#early.push({ bytes, fin });
    else this.handler.onData(bytes, fin);
  }
}

export class WebTransportStream extends StreamHandlerSlot {
  readonly id: number;
  readonly session: WebTransportSession;
  readonly bidirectional: boolean;
  /** We opened it (else the peer did). */
  readonly local: boolean;

  constructor(id: number, session: WebTransportSession, bidirectional: boolean, local: boolean) {
    super();
    this.id = id;
    this.session = session;
    this.bidirectional = bidirectional;
    this.local = local;
  }

  /** Internal (H3Connection). */
  deliver(bytes: Uint8Array, fin: boolean): void {
    if (!this.session.countReceived(this, bytes.length, fin)) return;
    this.handOver(bytes, fin);
  }

  /** Internal (H3Connection): the peer reset its side or stopped ours. */
  abort(code: number, direction: 'read' | 'write'): void {
    if (direction === 'read') this.session.countReceived(this, 0, true);
    this.handler.onAbort(code, direction);
  }

  /**
   * Sends bytes reliably; false when the stream or connection is gone. Under session flow
   * control, bytes beyond the peer's credit wait in the session until it grants more.
   */
  write(bytes: Uint8Array, fin = false): boolean {
    return this.session.sendOnStream(this, bytes, fin);
  }

  /** RESET_STREAM with a WebTransport error code (mapped to the HTTP/3 range). */
  reset(code = 0): void {
    this.session.dropQueued(this);
    this.session.quic.shutdownStream(this.id, 'write', webTransportErrorToHttp3(code));
  }

  /** STOP_SENDING with a WebTransport error code. */
  stopSending(code = 0): void {
    this.session.quic.shutdownStream(this.id, 'read', webTransportErrorToHttp3(code));
  }
}

/** draft-02 section 4.3: WebTransport application error codes live in a reserved HTTP/3 range. */
export function webTransportErrorToHttp3(code: number): number {
  return 0x52e4a40fa8db + code + Math.floor(code / 0x1e);
}

const noSessionHandler: WebTransportSessionHandler = { onStream() {}, onDatagram() {}, onClose() {} };

export class WebTransportSession {
  /** The CONNECT stream's id. */
  readonly id: number;
  readonly quic: QuicConnection;
  /** The request's `:path` (with query) and every header, as received. */
  readonly path: string;
  readonly headers: readonly HeaderField[];
  handler: WebTransportSessionHandler = noSessionHandler;
  closed = false;
  /** The peer sent WT_DRAIN_SESSION. */
  drainRequested = false;
  readonly draft: WebTransportDraft;
  readonly streams = new Map<number, WebTransportStream>();
  readonly #flow: SessionFlowControl | undefined;
  readonly #onEnded: ((session: WebTransportSession) => void) | undefined;
  /** Stream bytes waiting for flow-control credit, per stream, oldest stream first. */
  readonly #queued = new Map<WebTransportStream, { chunks: Uint8Array[]; fin: boolean }>();
  #queuedBytes = 0;
  /** Peer-opened streams whose receiving side ended (their stream credit came back). */
  readonly #peerEnded = new Set<number>();
  /** The quarter stream id prefix of our datagrams, and a scratch buffer to build them in. */
  readonly #prefixLength: number;
  readonly #scratch = new Uint8Array(1500);

  constructor(
    id: number,
    quic: QuicConnection,
    path: string,
    headers: readonly HeaderField[],
    options: WebTransportSessionOptions = { draft: 'draft02' },
  ) {
    this.id = id;
    this.quic = quic;
    this.path = path;
    this.headers = headers;
    this.draft = options.draft;
    this.#onEnded = options.onEnded;
    this.#prefixLength = writeVarint(this.#scratch, 0, id / 4);
    if (options.flow !== undefined) {
      this.#flow = new SessionFlowControl(options.flow.local, options.flow.peer, (type, value) =>
        this.#sendCapsule(encodeVarintCapsule(type, value)),
      );
    }
  }

  /** `host:port` of the peer (webTransportSurface.ts). */
  get remoteAddress(): string {
    return this.quic.remoteAddress;
  }

  /** Session flow control is in force (current drafts, both sides announced limits). */
  get flowControlled(): boolean {
    return this.#flow !== undefined;
  }

  /**
   * Bytes written to this session's streams and not yet sent: QUIC's send queue and what waits
   * for the peer's flow-control credit. A peer that grants nothing and reads nothing shows here
   * (odinSession.ts closes such a slow reader).
   */
  get unsentBytes(): number {
    return this.quic.pendingBytes + this.#queuedBytes;
  }

  /** Streams of this kind we may open now (Infinity without flow control). */
  canOpenStream(bidirectional: boolean): boolean {
    return this.#flow?.canOpenStream(bidirectional) ?? true;
  }

  #beforeOpen(bidirectional: boolean): void {
    if (this.#flow === undefined) return;
    if (!this.#flow.canOpenStream(bidirectional)) {
      throw new Error(
        `the peer's WT_MAX_STREAMS allows no more ${bidirectional ? 'bidirectional' : 'unidirectional'} streams in this session now (WT_STREAMS_BLOCKED sent)`,
      );
    }
    this.#flow.onLocalStreamOpened(bidirectional);
  }

  /** Opens a bidirectional stream (signal 0x41, session id); throws when flow control forbids it. */
  openBidiStream(): WebTransportStream {
    this.#beforeOpen(true);
    const id = this.quic.openStream(true);
    this.quic.streamSend(
      id,
      concatBytes([encodeVarint(FrameType.WEBTRANSPORT_STREAM), encodeVarint(this.id)]),
    );
    return this.#track(new WebTransportStream(id, this, true, true));
  }

  /** Opens a unidirectional stream (type 0x54, session id). */
  openUniStream(): WebTransportStream {
    this.#beforeOpen(false);
    const id = this.quic.openStream(false);
    this.quic.streamSend(id, concatBytes([encodeVarint(StreamType.WEBTRANSPORT), encodeVarint(this.id)]));
    return this.#track(new WebTransportStream(id, this, false, true));
  }

  /**
   * HOT PATH. Sends one datagram: the quarter stream id and `payload`, built in a scratch
   * buffer (quiche copies it), so no allocation. False when it was dropped (and counted).
   */
  sendDatagram(payload: Uint8Array): boolean {
    if (this.closed) return false;
    const length = this.#prefixLength + payload.length;
    if (length > this.#scratch.length) return false;
    this.#scratch.set(payload, this.#prefixLength);
    return this.quic.sendDatagram(this.#scratch.subarray(0, length));
  }

  /** Ends the session with CLOSE_WEBTRANSPORT_SESSION (draft-02 section 5) and FIN on the CONNECT stream. */
  close(code = 0, reason = ''): void {
    if (this.closed) return;
    this.quic.streamSend(this.id, encodeFrame(FrameType.DATA, encodeCloseSession(code, reason)), true);
    this.end({ code, reason, by: 'local' });
  }

  /**
   * Current drafts: WT_DRAIN_SESSION (section 4.7), asking the peer to finish up (the server
   * sends it with GOAWAY). draft-02 has no such capsule: nothing is sent.
   */
  drain(): void {
    if (this.closed || this.draft !== 'current') return;
    this.#sendCapsule(encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0)));
  }

  #sendCapsule(capsule: Uint8Array): void {
    if (!this.closed) this.quic.streamSend(this.id, encodeFrame(FrameType.DATA, capsule));
  }

  /** Internal (H3Connection): a capsule other than CLOSE on the CONNECT stream. */
  onCapsule(type: number, value: Uint8Array): void {
    if (this.closed) return;
    if (type === CapsuleType.DRAIN_WEBTRANSPORT_SESSION) {
      this.drainRequested = true;
      this.handler.onDrain?.();
      return;
    }
    if (this.#flow === undefined) return;
    try {
      if (this.#flow.onCapsule(type, value) === 'credit') this.#flushQueued();
    } catch (error) {
      this.#violation(error);
    }
  }

  /** Internal (WebTransportStream): sends within the peer's credit, queues the rest. */
  sendOnStream(stream: WebTransportStream, bytes: Uint8Array, fin: boolean): boolean {
    const flow = this.#flow;
    if (flow === undefined) return this.quic.streamSend(stream.id, bytes, fin);
    if (this.closed) return false;
    const queued = this.#queued.get(stream);
    if (queued !== undefined) {
      queued.chunks.push(bytes);
      queued.fin ||= fin;
      this.#queuedBytes += bytes.length;
      return true;
    }
    const credit = flow.sendCredit;
    if (bytes.length <= credit) {
      flow.onDataSent(bytes.length);
      return this.quic.streamSend(stream.id, bytes, fin);
    }
    if (credit > 0) {
      flow.onDataSent(credit);
      if (!this.quic.streamSend(stream.id, bytes.subarray(0, credit), false)) return false;
    }
    this.#queued.set(stream, { chunks: [bytes.subarray(credit)], fin });
    this.#queuedBytes += bytes.length - credit;
    flow.onDataBlocked();
    return true;
  }

  /** Internal (WebTransportStream): a reset stream's waiting bytes are dropped. */
  dropQueued(stream: WebTransportStream): void {
    for (const chunk of this.#queued.get(stream)?.chunks ?? []) this.#queuedBytes -= chunk.length;
    this.#queued.delete(stream);
  }

  #flushQueued(): void {
    const flow = this.#flow!;
    for (const [stream, queued] of this.#queued) {
      while (queued.chunks.length > 0) {
        const chunk = queued.chunks[0]!;
        const take = Math.min(chunk.length, flow.sendCredit);
        if (take === 0) {
          flow.onDataBlocked();
          return;
        }
        flow.onDataSent(take);
        this.#queuedBytes -= take;
        const last = take === chunk.length && queued.chunks.length === 1;
        this.quic.streamSend(stream.id, chunk.subarray(0, take), last && queued.fin);
        if (take < chunk.length) queued.chunks[0] = chunk.subarray(take);
        else queued.chunks.shift();
      }
      this.#queued.delete(stream);
    }
  }

  /**
   * Internal (WebTransportStream): counts received stream bytes against our limits and returns
   * a peer-opened stream's credit when its receiving side ends. False when the bytes broke
   * flow control (the session is closed).
   */
  countReceived(stream: WebTransportStream, bytes: number, ended: boolean): boolean {
    const flow = this.#flow;
    if (flow === undefined) return true;
    if (this.closed) return false;
    try {
      if (bytes > 0) flow.onDataReceived(bytes);
      if (ended && !stream.local && !this.#peerEnded.has(stream.id)) {
        this.#peerEnded.add(stream.id);
        flow.onPeerStreamClosed(stream.bidirectional);
      }
      return true;
    } catch (error) {
      this.#violation(error);
      return false;
    }
  }

  #violation(error: unknown): void {
    if (!(error instanceof FlowControlViolation)) throw error;
    this.close(WebTransportError.FLOW_CONTROL_ERROR, `flow control: ${error.message}`);
  }

  /** Internal (H3Connection): the session is over; tells the handler once. */
  end(info: SessionCloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    this.#queued.clear();
    this.#queuedBytes = 0;
    this.#onEnded?.(this);
    // draft-02 section 5: streams of a terminated session are reset (and no longer read).
    for (const stream of this.streams.values()) {
      if (!stream.local || stream.bidirectional) stream.stopSending(0);
      if (stream.local || stream.bidirectional) stream.reset(0);
    }
    this.streams.clear();
    this.handler.onClose(info);
  }

  /**
   * Internal (H3Connection): a stream the peer opened; undefined when it is one more than
   * flow control allows (the session is then closed with WT_FLOW_CONTROL_ERROR).
   */
  adoptStream(id: number, bidirectional: boolean): WebTransportStream | undefined {
    if (this.closed) return undefined;
    try {
      this.#flow?.onPeerStreamOpened(bidirectional);
    } catch (error) {
      this.#violation(error);
      return undefined;
    }
    const stream = this.#track(new WebTransportStream(id, this, bidirectional, false));
    this.handler.onStream(stream);
    return stream;
  }

  #track(stream: WebTransportStream): WebTransportStream {
    this.streams.set(stream.id, stream);
    return stream;
  }
}
