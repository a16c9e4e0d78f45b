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
 */

import { encodeCloseSession } from './capsule.ts';
import { encodeFrame, FrameType, StreamType } from './h3Frame.ts';
import type { HeaderField } from './qpack.ts';
import type { QuicConnection } from './quicConnection.ts';
import { concatBytes, encodeVarint, writeVarint } from './varint.ts';

export type SessionCloseInfo = { code: number; reason: string; by: 'local' | 'peer' | 'connection' };

export interface WebTransportSessionHandler {
  /** A stream the peer opened in this session. */
  onStream(stream: WebTransportStream): void;
  /** HOT PATH: one datagram's payload (the quarter stream id already removed). */
  onDatagram(payload: Uint8Array): void;
  /** The session ended (close capsule, CONNECT stream end, connection gone). Once. */
  onClose(info: SessionCloseInfo): void;
}

export interface WebTransportStreamHandler {
  onData(bytes: Uint8Array, fin: boolean): void;
  /** The peer reset its sending side or stopped ours. */
  onAbort(code: number, direction: 'read' | 'write'): void;
}

const noStreamHandler: WebTransportStreamHandler = { onData() {}, onAbort() {} };

export class WebTransportStream {
  readonly id: number;
  readonly session: WebTransportSession;
  readonly bidirectional: boolean;
  /** We opened it (else the peer did). */
  readonly local: boolean;
  handler: WebTransportStreamHandler = noStreamHandler;
  /** Data that arrived before a handler was set (the header and the first bytes often share a packet). */
  #early: { bytes: Uint8Array; fin: boolean }[] | undefined = [];

  constructor(id: number, session: WebTransportSession, bidirectional: boolean, local: boolean) {
    this.id = id;
    this.session = session;
    this.bidirectional = bidirectional;
    this.local = local;
  }

  /** Sets the handler and hands it what arrived before. */
  setHandler(handler: WebTransportStreamHandler): void {
    this.handler = handler;
    const early = this.#early;
    this.#early = undefined;
    for (const chunk of early ?? []) handler.onData(chunk.bytes, chunk.fin);
  }

  /** Internal (H3Connection). */
  deliver(bytes: Uint8Array, fin: boolean): void {
    if (this.#early !== undefined) this.#early.push({ bytes, fin });
    else this.handler.onData(bytes, fin);
  }

  /** Sends bytes reliably; false when the stream or connection is gone. */
  write(bytes: Uint8Array, fin = false): boolean {
    return this.session.quic.streamSend(this.id, bytes, fin);
  }

  /** RESET_STREAM with a WebTransport error code (mapped to the HTTP/3 range). */
  reset(code = 0): void {
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
  readonly streams = new Map<number, WebTransportStream>();
  /** The quarter stream id prefix of our datagrams, and a scratch buffer to build them in. */
  readonly #prefixLength: number;
  readonly #scratch = new Uint8Array(1500);

  constructor(id: number, quic: QuicConnection, path: string, headers: readonly HeaderField[]) {
    this.id = id;
    this.quic = quic;
    this.path = path;
    this.headers = headers;
    this.#prefixLength = writeVarint(this.#scratch, 0, id / 4);
  }

  /** Opens a bidirectional stream (signal 0x41, session id). */
  openBidiStream(): WebTransportStream {
    const id = this.quic.openStream(true);
    this.quic.streamSend(
      id,
      concatBytes([encodeVarint(FrameType.WEBTRANSPORT_STREAM), encodeVarint(this.id)]),
    );
    return this.#track(new WebTransportStream(id, this, true, true));
  }

  /** Opens a unidirectional stream (type 0x54, session id). */
  openUniStream(): WebTransportStream {
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

  /** Internal (H3Connection): the session is over; tells the handler once. */
  end(info: SessionCloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    // draft-02 section 5: streams of a terminated session are reset (and no longer read).
    for (const stream of this.streams.values()) {
      if (!stream.local || stream.bidirectional) stream.stopSending(0);
      if (stream.local || stream.bidirectional) stream.reset(0);
    }
    this.streams.clear();
    this.handler.onClose(info);
  }

  /** Internal (H3Connection). */
  adoptStream(id: number, bidirectional: boolean): WebTransportStream {
    const stream = this.#track(new WebTransportStream(id, this, bidirectional, false));
    this.handler.onStream(stream);
    return stream;
  }

  #track(stream: WebTransportStream): WebTransportStream {
    this.streams.set(stream.id, stream);
    return stream;
  }
}
