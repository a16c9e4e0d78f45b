/**
 * HTTP/3 (RFC 9114) on one QUIC connection, as much of it as WebTransport needs, for both
 * roles (the server, and the Node client the tests and load generator use):
 *
 * - control streams with SETTINGS first (section 6.2.1), QPACK encoder/decoder streams with a
 *   zero-capacity table (RFC 9204 section 4.2), GOAWAY on shutdown (section 5.2);
 * - stream-type and frame-type validation with the connection errors of section 8.1;
 * - extended CONNECT with `:protocol webtransport` or `webtransport-h3` (RFC 9220) opening
 *   WebTransport sessions (webTransport.ts) of the draft the client speaks (wtNegotiation.ts);
 *   malformed requests are reset with H3_MESSAGE_ERROR (h3Request.ts), any other request is
 *   answered with a status and no body;
 * - HTTP datagrams (RFC 9297) routed to sessions by quarter stream id.
 *
 * Every violation a parser finds is thrown as H3ConnectionError and ends the connection
 * with that code (CONNECTION_CLOSE with the application error space).
 */
import { CapsuleReader, CapsuleType, parseCloseSession } from './capsule.ts';
import { H3ConnectionError, H3Error, H3StreamError, WebTransportError } from './errors.ts';
import {
  encodeFrame,
  encodeGoaway,
  encodeSettings,
  FrameReader,
  FrameType,
  parseSettings,
  RESERVED_HTTP2_FRAME_TYPES,
  Setting,
  StreamType,
} from './h3Frame.ts';
import { type ConnectRequest, parseRequest } from './h3Request.ts';
import {
  checkDecoderStream,
  checkEncoderStream,
  decodeFieldSection,
  encodeFieldSection,
  type HeaderField,
} from './qpack.ts';
import type { QuicCloseInfo, QuicConnection, QuicConnectionHandler } from './quicConnection.ts';
import { type FlowLimits, LOCAL_FLOW_LIMITS, peerFlowLimits } from './sessionFlowControl.ts';
import { concatBytes, encodeVarint, readVarint } from './varint.ts';
import {
  type WebTransportDraft,
  WebTransportSession,
  type WebTransportSessionOptions,
  type WebTransportStream,
} from './webTransport.ts';
import {
  DRAFT02_REQUEST_HEADER,
  DRAFT02_RESPONSE_HEADER,
  negotiateDraft,
  PROTOCOL_CURRENT,
  PROTOCOL_LEGACY,
} from './wtNegotiation.ts';

/** Largest HEADERS or control frame we accept (RFC 9114 section 4.2.2 lets us choose). */
export const MAX_FIELD_SECTION_SIZE = 16 * 1024;
/** Largest capsule on a CONNECT stream (a close capsule is at most 4 + 1024 bytes). */
const MAX_CAPSULE_SIZE = 4096;

export type { ConnectRequest } from './h3Request.ts';

/** A server's answer to an extended CONNECT: 200 accepts it, anything else refuses with that status. */
export type ConnectDecision = { status: number };

export type H3Stats = {
  /** HTTP/3 datagrams for no open session (dropped, RFC 9297 section 2.1). */
  datagramsUnknownSession: number;
  /** Streams of an unknown type that we refused to read (RFC 9114 section 6.2). */
  unknownStreams: number;
};

export type H3ConnectionParams = {
  quic: QuicConnection;
  role: 'server' | 'client';
  /** Server: WebTransport sessions allowed on this connection. */
  maxSessions?: number;
  /** Server: decide about an extended CONNECT for WebTransport. */
  onConnect?: (request: ConnectRequest) => ConnectDecision;
  /** Current drafts: the per-session limits we grant (default LOCAL_FLOW_LIMITS). */
  flowLimits?: FlowLimits;
  /** Client: the WebTransport draft to speak (default draft02, what Chromium speaks). */
  webTransportDraft?: WebTransportDraft;
  /** Server: a session was accepted (set its handler synchronously). */
  onSession?: (session: WebTransportSession) => void;
  /** The QUIC connection is gone. */
  onClosed?: (info: QuicCloseInfo) => void;
  stats?: H3Stats;
};

type UniKind = 'pending' | 'control' | 'encoder' | 'decoder' | 'ignored' | 'webtransport';

type UniState = { kind: UniKind; reader: FrameReader; sawSettings: boolean; stream?: WebTransportStream };

type BidiState =
  | {
      kind: 'pending' | 'request';
      reader: FrameReader;
      sawHeaders: boolean;
      session?: WebTransportSession;
      capsules?: CapsuleReader;
    }
  | { kind: 'webtransport'; stream: WebTransportStream }
  | { kind: 'ignored' };

type PendingConnect = {
  resolve: (session: WebTransportSession) => void;
  reject: (error: Error) => void;
  path: string;
  headers: HeaderField[];
};

const STREAM_ID_KIND = { clientBidi: 0, serverBidi: 1, clientUni: 2, serverUni: 3 } as const;

function isUni(streamId: number): boolean {
  return (streamId & 0x2) !== 0;
}

export class H3Connection implements QuicConnectionHandler {
  readonly quic: QuicConnection;
  readonly role: 'server' | 'client';
  readonly stats: H3Stats;
  /** The peer sent GOAWAY: open no new sessions on this connection. */
  goawayReceived = false;
  /** The peer's SETTINGS, once received. */
  peerSettings: Map<number, number> | undefined;
  readonly sessions = new Map<number, WebTransportSession>();
  readonly #params: H3ConnectionParams;
  readonly #uni = new Map<number, UniState>();
  readonly #bidi = new Map<number, BidiState>();
  readonly #pendingConnects = new Map<number, PendingConnect>();
  readonly #settingsWaiters: (() => void)[] = [];
  /** Server: requests that arrived before the client's SETTINGS (processed when they come). */
  readonly #deferredRequests: (() => void)[] = [];
  #controlStream = -1;
  #peerControl = -1;
  #peerEncoder = -1;
  #peerDecoder = -1;
  #highestRequest = -1;
  #goawaySent = false;

  #closed = false;

  constructor(params: H3ConnectionParams) {
    this.#params = params;
    this.quic = params.quic;
    this.role = params.role;
    this.stats = params.stats ?? { datagramsUnknownSession: 0, unknownStreams: 0 };
    params.quic.handler = this;
    if (params.quic.established) this.onEstablished();
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- QuicConnectionHandler ----

  onEstablished(): void {
    if (this.#controlStream !== -1) return;
    // RFC 9114 section 6.2.1: each side opens one control stream; SETTINGS is its first frame.
    this.#controlStream = this.quic.openStream(false);
    this.quic.streamSend(
      this.#controlStream,
      concatBytes([encodeVarint(StreamType.CONTROL), encodeSettings(this.#settings())]),
    );
    // RFC 9204 section 4.2: the encoder and decoder streams (silent with a zero-capacity table).
    this.quic.streamSend(this.quic.openStream(false), encodeVarint(StreamType.QPACK_ENCODER));
    this.quic.streamSend(this.quic.openStream(false), encodeVarint(StreamType.QPACK_DECODER));
  }

  onStreamData(streamId: number, bytes: Uint8Array, fin: boolean): void {
    try {
      if (isUni(streamId)) this.#onUniData(streamId, bytes, fin);
      else this.#onBidiData(streamId, bytes, fin);
    } catch (error) {
      this.#fail(error);
    }
  }

  onStreamAborted(streamId: number, code: number, direction: 'read' | 'write'): void {
    try {
      if (isUni(streamId)) {
        const state = this.#uni.get(streamId);
        if (state === undefined) {
          this.#localStream(streamId)?.abort(code, direction);
          return;
        }
        if (state.kind === 'webtransport') state.stream?.abort(code, direction);
        else this.#checkCriticalEnd(streamId);
        return;
      }
      const state = this.#bidi.get(streamId);
      if (state === undefined) this.#localStream(streamId)?.abort(code, direction);
      else if (state.kind === 'webtransport') state.stream.abort(code, direction);
      else if (state?.kind === 'request' && state.session !== undefined) {
        this.#endSession(state.session, { code: 0, reason: 'CONNECT stream reset', by: 'peer' });
      } else if (state !== undefined && this.#pendingConnects.has(streamId)) {
        this.#pendingConnects
          .get(streamId)!
          .reject(new Error(`CONNECT stream reset (code 0x${code.toString(16)})`));
        this.#pendingConnects.delete(streamId);
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** HOT PATH: an HTTP/3 datagram: quarter stream id, payload (RFC 9297 section 2.1). */
  onDatagram(bytes: Uint8Array): void {
    let quarter: number;
    let start: number;
    const first = bytes[0];
    if (first === undefined) {
      this.#fail(new H3ConnectionError(H3Error.DATAGRAM_ERROR, 'empty HTTP/3 datagram'));
      return;
    }
    if (first < 0x40) {
      quarter = first;
      start = 1;
    } else {
      const read = readVarint(bytes, 0);
      if (read === undefined) {
        this.#fail(new H3ConnectionError(H3Error.DATAGRAM_ERROR, 'truncated quarter stream id'));
        return;
      }
      quarter = read.value;
      start = read.next;
    }
    const session = this.sessions.get(quarter * 4);
    if (session === undefined) {
      this.stats.datagramsUnknownSession++;
      return;
    }
    session.handler.onDatagram(bytes.subarray(start));
  }

  onClosed(info: QuicCloseInfo): void {
    this.#closed = true;
    for (const session of [...this.sessions.values()]) {
      this.#endSession(session, { code: 0, reason: info.reason || info.by, by: 'connection' });
    }
    for (const pending of this.#pendingConnects.values())
      pending.reject(new Error(`connection closed: ${info.reason || info.by}`));
    this.#pendingConnects.clear();
    this.#params.onClosed?.(info);
  }

  // ---- API ----

  /** Closes the connection with an HTTP/3 error code (H3_NO_ERROR by default). */
  close(code: number = H3Error.NO_ERROR, reason = ''): void {
    this.quic.close(true, code, reason);
  }

  /**
   * Server: GOAWAY (RFC 9114 section 5.2): no request stream at or above the returned id will
   * be served; sessions already open keep working.
   */
  goaway(): void {
    if (this.#goawaySent || this.#controlStream === -1 || this.role !== 'server') return;
    this.#goawaySent = true;
    this.quic.streamSend(this.#controlStream, encodeGoaway(this.#highestRequest + 4));
    // Current drafts section 4.6/4.7: sessions of a draining connection get WT_DRAIN_SESSION.
    for (const session of this.sessions.values()) session.drain();
  }

  /** Client: resolves once the server's SETTINGS arrived. */
  waitForSettings(): Promise<void> {
    if (this.peerSettings !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#settingsWaiters.push(resolve));
  }

  /**
   * Client: opens a WebTransport session with an extended CONNECT (RFC 9220) and the draft-02
   * header Chromium sends. Resolves on a 2xx answer, rejects with the status otherwise.
   */
  async connectWebTransport(
    authority: string,
    path: string,
    extraHeaders: HeaderField[] = [],
  ): Promise<WebTransportSession> {
    await this.waitForSettings();
    const settings = this.peerSettings!;
    if (settings.get(Setting.ENABLE_CONNECT_PROTOCOL) !== 1) {
      throw new Error('the server does not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)');
    }
    const streamId = this.quic.openStream(true);
    const current = this.#params.webTransportDraft === 'current';
    const headers: HeaderField[] = [
      [':method', 'CONNECT'],
      [':protocol', current ? PROTOCOL_CURRENT : PROTOCOL_LEGACY],
      [':scheme', 'https'],
      [':authority', authority],
      [':path', path],
      ...(current ? [] : [[DRAFT02_REQUEST_HEADER, '1'] as HeaderField]),
      ...extraHeaders,
    ];
    this.#bidi.set(streamId, {
      kind: 'request',
      reader: new FrameReader(MAX_FIELD_SECTION_SIZE),
      sawHeaders: false,
    });
    this.quic.streamSend(streamId, encodeFrame(FrameType.HEADERS, encodeFieldSection(headers)));
    return new Promise((resolve, reject) => {
      this.#pendingConnects.set(streamId, { resolve, reject, path, headers });
    });
  }

  /** Sends raw bytes on a new stream (tests of malformed input). */
  sendRawStream(bidirectional: boolean, bytes: Uint8Array, fin = false): number {
    const id = this.quic.openStream(bidirectional);
    this.quic.streamSend(id, bytes, fin);
    return id;
  }

  // ---- settings ----

  #settings(): Map<number, number> {
    const sessions = this.#params.maxSessions ?? 1;
    const settings = new Map<number, number>([
      [Setting.QPACK_MAX_TABLE_CAPACITY, 0],
      [Setting.QPACK_BLOCKED_STREAMS, 0],
      [Setting.MAX_FIELD_SECTION_SIZE, MAX_FIELD_SECTION_SIZE],
      [Setting.H3_DATAGRAM, 1],
    ]);
    if (this.role === 'server') {
      settings.set(Setting.ENABLE_CONNECT_PROTOCOL, 1);
      settings.set(Setting.H3_DATAGRAM_DRAFT04, 1);
      settings.set(Setting.ENABLE_WEBTRANSPORT, 1);
      settings.set(Setting.WEBTRANSPORT_MAX_SESSIONS_DRAFT07, sessions);
      settings.set(Setting.WT_MAX_SESSIONS, sessions);
      settings.set(Setting.WT_ENABLED, 1);
      this.#setFlowLimits(settings);
    } else if (this.#params.webTransportDraft === 'current') {
      settings.set(Setting.WT_ENABLED, 1);
      this.#setFlowLimits(settings);
    } else {
      settings.set(Setting.ENABLE_WEBTRANSPORT, 1);
      settings.set(Setting.WEBTRANSPORT_MAX_SESSIONS_DRAFT07, sessions);
    }
    return settings;
  }

  /**
   * Current drafts section 5.5: the per-session limits we grant, kept open as a window by
   * WT_MAX_* capsules (sessionFlowControl.ts), so a client using them never stalls.
   */
  #setFlowLimits(settings: Map<number, number>): void {
    const limits = this.#params.flowLimits ?? LOCAL_FLOW_LIMITS;
    settings.set(Setting.WT_INITIAL_MAX_DATA, limits.maxData);
    settings.set(Setting.WT_INITIAL_MAX_STREAMS_UNI, limits.maxStreamsUni);
    settings.set(Setting.WT_INITIAL_MAX_STREAMS_BIDI, limits.maxStreamsBidi);
  }

  /** The options of a new session of `draft`: flow control when both sides announced limits. */
  #sessionOptions(draft: WebTransportDraft): WebTransportSessionOptions {
    const peer = draft === 'current' ? peerFlowLimits(this.peerSettings) : undefined;
    return {
      draft,
      ...(peer === undefined ? {} : { flow: { local: this.#params.flowLimits ?? LOCAL_FLOW_LIMITS, peer } }),
      onEnded: (session) => this.sessions.delete(session.id),
    };
  }

  // ---- unidirectional streams (RFC 9114 section 6.2) ----

  #onUniData(streamId: number, bytes: Uint8Array, fin: boolean): void {
    let state = this.#uni.get(streamId);
    if (state === undefined) {
      state = { kind: 'pending', reader: new FrameReader(MAX_FIELD_SECTION_SIZE), sawSettings: false };
      this.#uni.set(streamId, state);
    }
    if (state.kind === 'ignored') return;
    if (state.stream !== undefined) {
      state.stream.deliver(bytes, fin);
      return;
    }
    state.reader.push(bytes);
    if (state.kind === 'pending') {
      const type = state.reader.nextVarint();
      if (type === undefined) {
        this.#uniEnded(streamId, state, fin);
        return;
      }
      this.#classifyUni(streamId, state, type);
    }
    const kind = state.kind as UniKind;
    if (kind === 'ignored') return;
    if (kind === 'webtransport') {
      const sessionId = state.reader.nextVarint();
      if (sessionId === undefined) return;
      const session = this.sessions.get(sessionId);
      if (session === undefined) {
        // The session is unknown (never opened, or closed): refuse the stream.
        this.quic.shutdownStream(streamId, 'read', H3Error.STREAM_CREATION_ERROR);
        state.kind = 'ignored';
        return;
      }
      const stream = session.adoptStream(streamId, false);
      if (stream === undefined) {
        this.quic.shutdownStream(streamId, 'read', WebTransportError.SESSION_GONE);
        state.kind = 'ignored';
        return;
      }
      state.stream = stream;
      const rest = state.reader.takeRest();
      if (rest.length > 0 || fin) state.stream.deliver(rest, fin);
      return;
    }
    if (state.kind === 'control') this.#readControl(state);
    else if (state.kind === 'encoder') this.#consume(state, checkEncoderStream);
    else if (state.kind === 'decoder') this.#consume(state, checkDecoderStream);
    this.#uniEnded(streamId, state, fin);
  }

  #consume(state: UniState, check: (bytes: Uint8Array) => number): void {
    const rest = state.reader.takeRest();
    const used = check(rest);
    if (used < rest.length) state.reader.push(rest.subarray(used));
  }

  #uniEnded(streamId: number, state: UniState, fin: boolean): void {
    if (!fin) return;
    if (state.kind === 'control' || state.kind === 'encoder' || state.kind === 'decoder')
      this.#checkCriticalEnd(streamId);
  }

  /** RFC 9114 section 6.2.1 / RFC 9204 section 4.2: closing a critical stream ends the connection. */
  #checkCriticalEnd(streamId: number): void {
    if (streamId === this.#peerControl || streamId === this.#peerEncoder || streamId === this.#peerDecoder) {
      throw new H3ConnectionError(H3Error.CLOSED_CRITICAL_STREAM, `critical stream ${streamId} closed`);
    }
  }

  #classifyUni(streamId: number, state: UniState, type: number): void {
    const duplicate = (what: string) =>
      new H3ConnectionError(H3Error.STREAM_CREATION_ERROR, `a second ${what} stream (${streamId})`);
    switch (type) {
      case StreamType.CONTROL:
        if (this.#peerControl !== -1) throw duplicate('control');
        this.#peerControl = streamId;
        state.kind = 'control';
        return;
      case StreamType.QPACK_ENCODER:
        if (this.#peerEncoder !== -1) throw duplicate('QPACK encoder');
        this.#peerEncoder = streamId;
        state.kind = 'encoder';
        return;
      case StreamType.QPACK_DECODER:
        if (this.#peerDecoder !== -1) throw duplicate('QPACK decoder');
        this.#peerDecoder = streamId;
        state.kind = 'decoder';
        return;
      case StreamType.PUSH:
        // Section 6.2.2: only servers push; we never allow pushes (no MAX_PUSH_ID) either way.
        throw new H3ConnectionError(
          this.role === 'server' ? H3Error.STREAM_CREATION_ERROR : H3Error.ID_ERROR,
          'push stream without a MAX_PUSH_ID',
        );
      case StreamType.WEBTRANSPORT:
        state.kind = 'webtransport';
        return;
      default:
        // Section 6.2: unknown (and reserved, 0x1f * N + 0x21) stream types are not an error:
        // stop reading with H3_STREAM_CREATION_ERROR.
        this.stats.unknownStreams++;
        state.kind = 'ignored';
        this.quic.shutdownStream(streamId, 'read', H3Error.STREAM_CREATION_ERROR);
    }
  }

  /** The peer's control stream (RFC 9114 section 6.2.1, frames of section 7.2). */
  #readControl(state: UniState): void {
    for (let frame = state.reader.next(); frame !== undefined; frame = state.reader.next()) {
      if (!state.sawSettings) {
        if (frame.type !== FrameType.SETTINGS) {
          throw new H3ConnectionError(
            H3Error.MISSING_SETTINGS,
            `control stream starts with frame 0x${frame.type.toString(16)}`,
          );
        }
        state.sawSettings = true;
        this.peerSettings = parseSettings(frame.payload);
        for (const waiter of this.#settingsWaiters.splice(0)) waiter();
        for (const deferred of this.#deferredRequests.splice(0)) deferred();
        continue;
      }
      switch (frame.type) {
        case FrameType.SETTINGS:
          throw new H3ConnectionError(H3Error.FRAME_UNEXPECTED, 'a second SETTINGS frame');
        case FrameType.GOAWAY: {
          const id = readVarint(frame.payload, 0);
          if (id === undefined || id.next !== frame.payload.length) {
            throw new H3ConnectionError(H3Error.FRAME_ERROR, 'malformed GOAWAY');
          }
          this.goawayReceived = true;
          break;
        }
        case FrameType.MAX_PUSH_ID:
        case FrameType.CANCEL_PUSH:
          if (this.role === 'client' && frame.type === FrameType.MAX_PUSH_ID) {
            throw new H3ConnectionError(H3Error.FRAME_UNEXPECTED, 'MAX_PUSH_ID from a server');
          }
          break;
        case FrameType.DATA:
        case FrameType.HEADERS:
        case FrameType.PUSH_PROMISE:
          throw new H3ConnectionError(
            H3Error.FRAME_UNEXPECTED,
            `frame 0x${frame.type.toString(16)} on the control stream`,
          );
        default:
          if (RESERVED_HTTP2_FRAME_TYPES.has(frame.type)) {
            throw new H3ConnectionError(
              H3Error.FRAME_UNEXPECTED,
              `HTTP/2 frame type 0x${frame.type.toString(16)}`,
            );
          }
        // Unknown frame types are ignored (section 9).
      }
    }
  }

  // ---- bidirectional streams: requests and WebTransport streams ----

  #onBidiData(streamId: number, bytes: Uint8Array, fin: boolean): void {
    let state = this.#bidi.get(streamId);
    if (state === undefined) {
      const peerInitiated =
        (streamId & 0x1) === (this.role === 'server' ? STREAM_ID_KIND.clientBidi : STREAM_ID_KIND.serverBidi);
      if (!peerInitiated) {
        // Data on a stream we opened: a WebTransport stream of one of our sessions.
        const stream = this.#localStream(streamId);
        if (stream === undefined) return;
        state = { kind: 'webtransport', stream };
      } else {
        state = { kind: 'pending', reader: new FrameReader(MAX_FIELD_SECTION_SIZE), sawHeaders: false };
      }
      this.#bidi.set(streamId, state);
    }
    if (state.kind === 'ignored') return;
    if (state.kind === 'webtransport') {
      state.stream.deliver(bytes, fin);
      return;
    }
    state.reader.push(bytes);
    if (state.kind === 'pending') {
      const buffered = state.reader.takeRest();
      const type = readVarint(buffered, 0);
      state.reader.push(buffered);
      if (type === undefined) return;
      if (type.value === FrameType.WEBTRANSPORT_STREAM) {
        // draft-02 section 4.2: signal 0x41, then the session id.
        const sessionId = readVarint(buffered, type.next);
        if (sessionId === undefined) return;
        state.reader.takeRest();
        const session = this.sessions.get(sessionId.value);
        if (session === undefined) {
          this.#bidi.set(streamId, { kind: 'ignored' });
          this.quic.shutdownStream(streamId, 'read', H3Error.STREAM_CREATION_ERROR);
          this.quic.shutdownStream(streamId, 'write', H3Error.STREAM_CREATION_ERROR);
          return;
        }
        const stream = session.adoptStream(streamId, true);
        if (stream === undefined) {
          this.#bidi.set(streamId, { kind: 'ignored' });
          this.quic.shutdownStream(streamId, 'read', WebTransportError.SESSION_GONE);
          this.quic.shutdownStream(streamId, 'write', WebTransportError.SESSION_GONE);
          return;
        }
        this.#bidi.set(streamId, { kind: 'webtransport', stream });
        const rest = buffered.subarray(sessionId.next);
        if (rest.length > 0 || fin) stream.deliver(rest, fin);
        return;
      }
      if (this.role === 'client') {
        this.#bidi.set(streamId, { kind: 'ignored' });
        this.quic.shutdownStream(streamId, 'read', H3Error.STREAM_CREATION_ERROR);
        return;
      }
      state.kind = 'request';
      this.#highestRequest = Math.max(this.#highestRequest, streamId);
    }
    this.#readRequest(streamId, state, fin);
  }

  #localStream(streamId: number): WebTransportStream | undefined {
    for (const session of this.sessions.values()) {
      const stream = session.streams.get(streamId);
      if (stream !== undefined) return stream;
    }
    return undefined;
  }

  #readRequest(
    streamId: number,
    state: Extract<BidiState, { kind: 'pending' | 'request' }>,
    fin: boolean,
  ): void {
    try {
      for (let frame = state.reader.next(); frame !== undefined; frame = state.reader.next()) {
        if (RESERVED_HTTP2_FRAME_TYPES.has(frame.type)) {
          throw new H3ConnectionError(
            H3Error.FRAME_UNEXPECTED,
            `HTTP/2 frame type 0x${frame.type.toString(16)}`,
          );
        }
        switch (frame.type) {
          case FrameType.HEADERS:
            if (state.sawHeaders) {
              // Trailers end the request: for a CONNECT stream they end the session (handled at fin).
              break;
            }
            state.sawHeaders = true;
            if (this.role === 'server') this.#onRequest(streamId, state, decodeFieldSection(frame.payload));
            else this.#onResponse(streamId, state, decodeFieldSection(frame.payload));
            break;
          case FrameType.DATA:
            if (!state.sawHeaders)
              throw new H3ConnectionError(H3Error.FRAME_UNEXPECTED, 'DATA before HEADERS');
            if (state.session !== undefined) this.#readCapsules(state, frame.payload);
            break;
          case FrameType.SETTINGS:
          case FrameType.GOAWAY:
          case FrameType.MAX_PUSH_ID:
          case FrameType.CANCEL_PUSH:
          case FrameType.PUSH_PROMISE:
            throw new H3ConnectionError(
              H3Error.FRAME_UNEXPECTED,
              `frame 0x${frame.type.toString(16)} on a request stream`,
            );
          case FrameType.WEBTRANSPORT_STREAM:
            throw new H3ConnectionError(
              H3Error.FRAME_ERROR,
              'WEBTRANSPORT_STREAM signal after the first frame',
            );
          default:
          // Unknown frame types are ignored (section 9).
        }
        if (this.#bidi.get(streamId) !== state) return;
      }
    } catch (error) {
      if (!(error instanceof H3StreamError)) throw error;
      this.#bidi.set(streamId, { kind: 'ignored' });
      this.quic.shutdownStream(streamId, 'read', error.code);
      this.quic.shutdownStream(streamId, 'write', error.code);
      return;
    }
    if (fin) {
      if (state.session !== undefined) {
        this.#endSession(state.session, { code: 0, reason: 'CONNECT stream ended', by: 'peer' });
      } else if (this.role === 'server' && !state.sawHeaders) {
        // Section 4.1: a request stream that ends before its HEADERS is incomplete.
        this.quic.shutdownStream(streamId, 'write', H3Error.REQUEST_INCOMPLETE);
      }
    }
  }

  #readCapsules(state: Extract<BidiState, { kind: 'pending' | 'request' }>, payload: Uint8Array): void {
    state.capsules ??= new CapsuleReader(MAX_CAPSULE_SIZE);
    state.capsules.push(payload);
    for (let capsule = state.capsules.next(); capsule !== undefined; capsule = state.capsules.next()) {
      if (capsule.type === CapsuleType.CLOSE_WEBTRANSPORT_SESSION && state.session !== undefined) {
        const close = parseCloseSession(capsule.value);
        const session = state.session;
        // Answer with FIN on our side of the CONNECT stream (draft-02 section 5).
        this.quic.streamSend(session.id, new Uint8Array(0), true);
        this.#endSession(session, { ...close, by: 'peer' });
      }
      // DRAIN and the flow-control capsules go to the session; unknown ones are ignored there.
      else state.session?.onCapsule(capsule.type, capsule.value);
    }
  }

  /**
   * Server: a request's HEADERS (RFC 9114 section 4.1, RFC 9220 section 3). Malformed
   * requests are stream errors H3_MESSAGE_ERROR (section 4.1.2); anything that is not an
   * extended CONNECT for WebTransport gets a status and no body.
   */
  #onRequest(
    streamId: number,
    state: Extract<BidiState, { kind: 'pending' | 'request' }>,
    fields: HeaderField[],
  ): void {
    const request = parseRequest(fields);
    if (this.#goawaySent) {
      this.#respond(streamId, 503, true);
      return;
    }
    if (request.method !== 'CONNECT') {
      this.#respond(streamId, 404, true);
      return;
    }
    if (request.protocol === undefined) {
      // A well-formed classic CONNECT (a TCP tunnel, section 4.4): we are not a proxy.
      this.#respond(streamId, 501, true);
      return;
    }
    if (request.protocol !== PROTOCOL_LEGACY && request.protocol !== PROTOCOL_CURRENT) {
      this.#respond(streamId, 501, true);
      return;
    }
    if (this.peerSettings === undefined) {
      // The client's SETTINGS say which draft it speaks: a request that overtook them waits
      // (draft-02 and current drafts section 3.1). Bounded: one per request stream, which QUIC's
      // stream limit bounds.
      this.#deferredRequests.push(() => {
        if (this.#bidi.get(streamId) === state && !this.#closed)
          this.#acceptWebTransport(streamId, state, request);
      });
      return;
    }
    this.#acceptWebTransport(streamId, state, request);
  }

  /** Server: an extended CONNECT for WebTransport, once the client's SETTINGS are known. */
  #acceptWebTransport(
    streamId: number,
    state: Extract<BidiState, { kind: 'pending' | 'request' }>,
    request: ConnectRequest,
  ): void {
    const draft = negotiateDraft(request, this.peerSettings);
    if (draft === undefined) {
      this.#respond(streamId, 501, true);
      return;
    }
    if (this.#goawaySent) {
      this.#respond(streamId, 503, true);
      return;
    }
    if (this.sessions.size >= (this.#params.maxSessions ?? 1)) {
      this.#respond(streamId, 429, true);
      return;
    }
    const decision = this.#params.onConnect?.(request) ?? { status: 200 };
    if (decision.status < 200 || decision.status >= 300) {
      this.#respond(streamId, decision.status, true);
      return;
    }
    const response: HeaderField[] = [[':status', String(decision.status)]];
    if (request.headers.some(([name]) => name === DRAFT02_REQUEST_HEADER)) {
      response.push([DRAFT02_RESPONSE_HEADER, 'draft02']);
    }
    this.quic.streamSend(streamId, encodeFrame(FrameType.HEADERS, encodeFieldSection(response)));
    const session = new WebTransportSession(
      streamId,
      this.quic,
      request.path ?? '',
      request.headers,
      this.#sessionOptions(draft),
    );
    state.session = session;
    this.sessions.set(streamId, session);
    this.#params.onSession?.(session);
  }

  /** Client: the answer to our CONNECT. */
  #onResponse(
    streamId: number,
    state: Extract<BidiState, { kind: 'pending' | 'request' }>,
    fields: HeaderField[],
  ): void {
    const pending = this.#pendingConnects.get(streamId);
    if (pending === undefined) return;
    this.#pendingConnects.delete(streamId);
    const status = Number(fields.find(([name]) => name === ':status')?.[1]);
    if (!(status >= 200 && status < 300)) {
      pending.reject(new Error(`WebTransport CONNECT refused with status ${status}`));
      return;
    }
    const session = new WebTransportSession(
      streamId,
      this.quic,
      pending.path,
      pending.headers,
      this.#sessionOptions(this.#params.webTransportDraft ?? 'draft02'),
    );
    state.session = session;
    this.sessions.set(streamId, session);
    pending.resolve(session);
  }

  #respond(streamId: number, status: number, fin: boolean): void {
    this.quic.streamSend(
      streamId,
      encodeFrame(FrameType.HEADERS, encodeFieldSection([[':status', String(status)]])),
      fin,
    );
    this.#bidi.set(streamId, { kind: 'ignored' });
  }

  #endSession(session: WebTransportSession, info: Parameters<WebTransportSession['end']>[0]): void {
    this.sessions.delete(session.id);
    session.end(info);
  }

  /** Ends a session from the session side (it sent its close capsule). */
  forgetSession(session: WebTransportSession): void {
    this.sessions.delete(session.id);
  }

  #fail(error: unknown): void {
    if (error instanceof H3ConnectionError) {
      this.quic.close(true, error.code, error.message);
      return;
    }
    this.quic.close(true, H3Error.INTERNAL_ERROR, error instanceof Error ? error.message : String(error));
  }
}
