/**
 * WebTransport over HTTP/2 for native clients whose network blocks UDP (docs/protocol.md,
 * "WebTransport over HTTP/2"): the `[http]` listener hands it every TLS connection whose client
 * asked for `h2` only (ALPN; browsers offer `http/1.1` too and stay on the web transport), and
 * this module runs HTTP/2 on it (Node's `http2`, Extended CONNECT per RFC 8441) with one ODIN
 * session per connection (odinSession.ts, the same as over QUIC).
 *
 * Limits before authentication (docs/security.md), as on `[quic]` (preAuthBudget.ts):
 * - a budget of unauthenticated connections (512 overall, 64 per address): beyond it a new h2
 *   connection is closed at once, counted;
 * - `[quic] connect_timeout`: the session must be open and authenticated by then, else closed;
 * - at most 64 KiB of CONNECT stream bytes before authentication;
 * - capsules over 64 KiB + 64 are refused when their length is read, before buffering;
 * - a connection silent for `[quic] idle_timeout` is closed (the client PINGs every few seconds).
 * A garbage HTTP/2 preface or any other HTTP/2 protocol error closes the connection and counts.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Sfu } from '../../core/sfu.ts';
import { H2Setting } from './h2Capsules.ts';
import {
  connectStreamSink,
  H2_LOCAL_FLOW_LIMITS,
  type H2FlowLimits,
  H2WebTransportSession,
} from './h2WebTransport.ts';
import { OdinCloseCode, OdinSession } from './odinSession.ts';
import { JoinWatch, PreAuthBudget } from './preAuthBudget.ts';
import type { RoomStreamStats } from './roomStreams.ts';

/** The path of the WebTransport session, as on `[quic]`. */
const ODIN_PATH = '/main';
/** CONNECT stream bytes a session may send before it authenticates. */
export const MAX_PRE_AUTH_BYTES = 64 * 1024;
/** Largest capsule value: an RPC message (64 KiB at most) in one WT_STREAM, with room for its header. */
export const MAX_H2_CAPSULE_BYTES = 64 * 1024 + 64;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const SESSION_CLOSE_GRACE_MS = 100;

export type WebTransportH2Params = {
  sfu: Sfu;
  logger: Logger;
  /** `[quic] connect_timeout`: the pre-authentication deadline, ms (0: none). */
  connectTimeoutMs: number;
  /** `[quic] no_peers_timeout`. */
  noPeersTimeoutMs: number;
  /** `[quic] idle_timeout`: a connection silent this long is closed, ms. */
  idleTimeoutMs: number;
};

export type WebTransportH2Stats = RoomStreamStats & {
  /** h2 connections open now. */
  connections: number;
  sessions: number;
  /** Unauthenticated connections now (the budget in use). */
  unauthenticated: number;
  /** Connections closed at once because the pre-authentication budget was full. */
  refused: number;
  /** HTTP/2 protocol errors (garbage preface, bad frames) and WebTransport capsule errors. */
  protocolErrors: number;
  /** Connections without a WebTransport session by connect_timeout. */
  connectTimeouts: number;
  /** Sessions not authenticated by connect_timeout. */
  authTimeouts: number;
  /** Sessions closed for sending more than MAX_PRE_AUTH_BYTES before authenticating. */
  preAuthBytesExceeded: number;
  /** Connections closed for silence (idle_timeout). */
  idleTimeouts: number;
  /** Voice datagrams not sent because the TCP connection was backed up (head-of-line blocking). */
  datagramsDropped: number;
  /** Voice packets sent to h2 clients. */
  voiceForwarded: number;
};

/** The draft's SETTINGS ids, which Node reports from the peer only when asked (`remoteCustomSettings`). */
export const H2_SETTING_IDS: readonly number[] = Object.values(H2Setting);

/**
 * Initial limits of the peer: its SETTINGS and its WebTransport-Init header, the greater of
 * each (draft section 5.3); absent ones are 0, the draft's default.
 */
export function h2PeerLimits(
  session: http2.Http2Session,
  header: string | string[] | undefined,
): H2FlowLimits {
  const custom = (session.remoteSettings as { customSettings?: Record<number, number> }).customSettings ?? {};
  const init = parseWebTransportInit(typeof header === 'string' ? header : undefined);
  return {
    maxData: custom[H2Setting.WT_INITIAL_MAX_DATA] ?? 0,
    maxStreamsBidi: custom[H2Setting.WT_INITIAL_MAX_STREAMS_BIDI] ?? 0,
    maxStreamsUni: custom[H2Setting.WT_INITIAL_MAX_STREAMS_UNI] ?? 0,
    maxStreamData: Math.max(custom[H2Setting.WT_INITIAL_MAX_STREAM_DATA_BIDI] ?? 0, init),
  };
}

/**
 * `WebTransport-Init` (draft section 5.3.2, a structured-field dictionary: `u`, `bl`, `br`):
 * the smallest of its per-stream limits, or 0 when absent or malformed. One number: our streams
 * use one per-stream limit for every kind.
 */
export function parseWebTransportInit(header: string | undefined): number {
  if (header === undefined || header.length > 256) return 0;
  let smallest: number | undefined;
  for (const member of header.split(',')) {
    const match = /^\s*(u|bl|br)\s*=\s*(\d{1,15})\s*$/.exec(member);
    if (match === null) continue;
    const value = Number(match[2]);
    smallest = smallest === undefined ? value : Math.min(smallest, value);
  }
  return smallest ?? 0;
}

/** Our `WebTransport-Init`: every stream of the session may receive this much before WT_MAX_STREAM_DATA. */
export function webTransportInitHeader(limits: H2FlowLimits): string {
  const n = limits.maxStreamData;
  return `u=${n}, bl=${n}, br=${n}`;
}

/** Our SETTINGS (RFC 8441 section 3 and the draft's section 9.1). */
export function h2Settings(limits: H2FlowLimits): http2.Settings {
  return {
    enableConnectProtocol: true,
    // One WebTransport session per connection; a few more streams so a refusal is an answer, not a reset.
    maxConcurrentStreams: 4,
    initialWindowSize: 256 * 1024,
    maxHeaderListSize: 16 * 1024,
    customSettings: {
      [H2Setting.WT_INITIAL_MAX_DATA]: limits.maxData,
      [H2Setting.WT_INITIAL_MAX_STREAM_DATA_UNI]: limits.maxStreamData,
      [H2Setting.WT_INITIAL_MAX_STREAM_DATA_BIDI]: limits.maxStreamData,
      [H2Setting.WT_INITIAL_MAX_STREAMS_UNI]: limits.maxStreamsUni,
      [H2Setting.WT_INITIAL_MAX_STREAMS_BIDI]: limits.maxStreamsBidi,
    },
  };
}

export class WebTransportH2Server {
  readonly #params: WebTransportH2Params;
  readonly #server: http2.Http2Server;
  readonly #sessions = new Set<OdinSession>();
  readonly #connections = new Set<http2.ServerHttp2Session>();
  readonly #wtSessions = new Set<H2WebTransportSession>();
  /** When each connection last showed life (PING, CONNECT stream bytes), performance.now() ms. */
  readonly #activity = new WeakMap<http2.Http2Session, number>();
  /** The ODIN session of each connection (one at most). */
  readonly #odinOf = new WeakMap<http2.Http2Session, OdinSession>();
  readonly #preAuth = new PreAuthBudget<http2.Http2Session>();
  readonly #joins: JoinWatch<http2.Http2Session>;
  readonly #roomStreamStats: RoomStreamStats = { roomStreamsRefused: 0, sessionsClosedForGuessing: 0 };
  readonly #voice = { forwarded: 0 };
  readonly #counts = {
    protocolErrors: 0,
    connectTimeouts: 0,
    authTimeouts: 0,
    preAuthBytesExceeded: 0,
    idleTimeouts: 0,
    datagramsDropped: 0,
  };
  #nextId = 1;
  #draining = false;
  #started = false;

  constructor(params: WebTransportH2Params) {
    this.#params = params;
    this.#joins = new JoinWatch(params.sfu, (session) => this.#preAuth.end(session));
    // An h2c server: TLS is already done by the [http] listener, which hands us the TLS socket.
    this.#server = http2.createServer({
      settings: h2Settings(H2_LOCAL_FLOW_LIMITS),
      remoteCustomSettings: [...H2_SETTING_IDS],
    } as http2.ServerOptions);
    this.#server.on('session', (session) => this.#onSession(session));
    this.#server.on('stream', (stream, headers) => this.#onStream(stream, headers));
    // A bad preface, a malformed frame: Node answers GOAWAY and closes the connection.
    this.#server.on('sessionError', (error: NodeJS.ErrnoException) => {
      // ERR_HTTP2_*: the peer broke HTTP/2; anything else (ECONNRESET) is the network.
      if (error.code?.startsWith('ERR_HTTP2') === true) this.#counts.protocolErrors++;
      params.logger.debug({ error: error.message, code: error.code }, 'HTTP/2 connection error');
    });
  }

  get stats(): WebTransportH2Stats {
    let dropped = this.#counts.datagramsDropped;
    for (const session of this.#wtSessions) dropped += session.stats.datagramsDropped;
    return {
      ...this.#roomStreamStats,
      ...this.#counts,
      datagramsDropped: dropped,
      connections: this.#connections.size,
      sessions: this.#sessions.size,
      unauthenticated: this.#preAuth.size,
      refused: this.#preAuth.refused,
      voiceForwarded: this.#voice.forwarded,
    };
  }

  /** What metrics read per scrape (grid_native_*{transport="http2"}, grid_native_http2_closed_total). */
  get nativeStats(): { peers: number; voiceForwarded: number; closed: Record<string, number> } {
    const stats = this.stats;
    return {
      peers: this.peers,
      voiceForwarded: stats.voiceForwarded,
      closed: {
        protocol_error: stats.protocolErrors,
        budget_full: stats.refused,
        connect_timeout: stats.connectTimeouts,
        auth_timeout: stats.authTimeouts,
        pre_auth_bytes: stats.preAuthBytesExceeded,
        idle_timeout: stats.idleTimeouts,
        room_stream_guessing: stats.sessionsClosedForGuessing,
      },
    };
  }

  /** Peers of the clients connected over HTTP/2 now (metrics per transport). */
  get peers(): number {
    let peers = 0;
    for (const session of this.#sessions) peers += session.client?.peers.size ?? 0;
    return peers;
  }

  /** A TLS connection that negotiated `h2` (called by the [http] listener). */
  accept(socket: Socket): void {
    if (!this.#started) {
      this.#joins.start();
      this.#started = true;
    }
    // While draining a new connection still gets an answer (503 to its CONNECT, #refusal).
    if (!this.#preAuth.admit(socket.remoteAddress ?? '')) {
      socket.destroy();
      return;
    }
    // Voice must not wait for Nagle's algorithm (the https server sets this only on the
    // HTTP/1.1 connections it parses itself).
    socket.setNoDelay(true);
    this.#server.emit('connection', socket);
  }

  drain(): void {
    this.#draining = true;
    for (const session of this.#wtSessions) session.drain();
    for (const connection of this.#connections) if (!connection.closed) connection.goaway();
  }

  async close(reason: string): Promise<void> {
    this.#draining = true;
    for (const session of [...this.#sessions]) session.close(OdinCloseCode.closed, reason);
    const open = [...this.#connections];
    if (open.length > 0) {
      await Promise.race([
        Promise.all(open.map((c) => new Promise<void>((resolve) => c.close(() => resolve())))),
        new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_GRACE_MS)),
      ]);
      for (const connection of open) if (!connection.destroyed) connection.destroy();
    }
    this.#joins.stop();
    this.#started = false;
  }

  #onSession(session: http2.ServerHttp2Session): void {
    const address = session.socket?.remoteAddress ?? '';
    this.#connections.add(session);
    this.#preAuth.add(session, address);
    const { connectTimeoutMs, idleTimeoutMs, logger } = this.#params;
    let deadline: NodeJS.Timeout | undefined;
    if (connectTimeoutMs > 0) {
      deadline = setTimeout(() => this.#deadline(session, connectTimeoutMs), connectTimeoutMs);
      deadline.unref();
    }
    let idle: NodeJS.Timeout | undefined;
    if (idleTimeoutMs > 0) {
      // Node's session.setTimeout does not count PING frames as activity; the client's PINGs
      // are what a quiet but alive client sends, so activity is tracked here: PINGs and
      // CONNECT stream bytes (#activity).
      this.#activity.set(session, performance.now());
      idle = setInterval(
        () => {
          const last = this.#activity.get(session) ?? 0;
          if (performance.now() - last < idleTimeoutMs) return;
          this.#counts.idleTimeouts++;
          session.destroy();
        },
        Math.max(50, idleTimeoutMs / 4),
      );
      idle.unref();
      session.on('ping', () => this.#activity.set(session, performance.now()));
    }
    session.on('error', (error) => logger.debug({ error: error.message }, 'HTTP/2 connection error'));
    session.on('close', () => {
      clearTimeout(deadline);
      clearInterval(idle);
      this.#connections.delete(session);
      this.#preAuth.end(session);
    });
  }

  /** connect_timeout: the connection's session must exist and have authenticated by now. */
  #deadline(session: http2.ServerHttp2Session, timeoutMs: number): void {
    if (!this.#preAuth.has(session) || session.destroyed) return;
    const odin = this.#odinOf.get(session);
    if (odin?.authenticated) {
      this.#joins.forget(odin.client);
      this.#preAuth.end(session);
      return;
    }
    if (odin === undefined) {
      this.#counts.connectTimeouts++;
      session.destroy();
      return;
    }
    this.#counts.authTimeouts++;
    odin.close(OdinCloseCode.closed, `not authenticated within ${timeoutMs} ms (connect_timeout)`);
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const session = stream.session as http2.ServerHttp2Session;
    stream.on('error', () => {});
    const refusal = this.#refusal(session, headers);
    if (refusal !== undefined) {
      if (!stream.headersSent) stream.respond({ ':status': refusal }, { endStream: true });
      stream.close();
      return;
    }
    stream.respond({ ':status': 200, 'webtransport-init': webTransportInitHeader(H2_LOCAL_FLOW_LIMITS) });
    this.#openSession(session, stream, headers);
  }

  /** The status refusing a request, or undefined for a WebTransport session we open. */
  #refusal(session: http2.ServerHttp2Session, headers: http2.IncomingHttpHeaders): number | undefined {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'webtransport') {
      // Only WebTransport lives here: the gateway and WebSockets are on HTTP/1.1 (browsers offer it).
      return headers[':method'] === 'CONNECT' ? 501 : 404;
    }
    if (headers[':scheme'] !== 'https') return 400;
    if ((headers[':path'] ?? '').split('?')[0] !== ODIN_PATH) return 404;
    if (this.#draining) return 503;
    if (this.#odinOf.has(session)) return 429;
    return undefined;
  }

  #openSession(
    session: http2.ServerHttp2Session,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ): void {
    const socket = session.socket;
    const remoteAddress = `${socket?.remoteAddress ?? ''}:${socket?.remotePort ?? 0}`;
    const wt: H2WebTransportSession = new H2WebTransportSession({
      role: 'server',
      remoteAddress,
      peer: h2PeerLimits(session, headers['webtransport-init']),
      maxCapsuleBytes: MAX_H2_CAPSULE_BYTES,
      sink: connectStreamSink(stream),
      onEnded: (ended) => {
        this.#wtSessions.delete(ended);
        this.#counts.datagramsDropped += ended.stats.datagramsDropped;
        this.#counts.protocolErrors += ended.stats.protocolErrors;
      },
    });
    this.#wtSessions.add(wt);
    const id = `h2-${this.#nextId++}`;
    const odin: OdinSession = new OdinSession({
      id,
      session: wt,
      sfu: this.#params.sfu,
      noPeersTimeoutMs: this.#params.noPeersTimeoutMs,
      maxBufferedBytes: MAX_BUFFERED_BYTES,
      stats: this.#roomStreamStats,
      voice: this.#voice,
      onClient: (client) => {
        if (this.#preAuth.has(session)) this.#joins.watch(client, session);
      },
      onClosed: () => {
        this.#sessions.delete(odin);
        this.#joins.forget(odin.client);
        // One session per connection: once it is over, so is the connection.
        setTimeout(() => {
          if (!session.destroyed) session.close();
          setTimeout(() => session.destroy(), SESSION_CLOSE_GRACE_MS).unref();
        }, SESSION_CLOSE_GRACE_MS).unref();
      },
    });
    this.#sessions.add(odin);
    this.#odinOf.set(session, odin);
    wt.start();
    let preAuthBytes = 0;
    stream.on('data', (chunk: Buffer) => {
      if (wt.closed) return;
      this.#activity.set(session, performance.now());
      if (this.#preAuth.has(session)) {
        preAuthBytes += chunk.length;
        if (preAuthBytes > MAX_PRE_AUTH_BYTES) {
          this.#counts.preAuthBytesExceeded++;
          odin.close(
            OdinCloseCode.protocolError,
            `${preAuthBytes} bytes before authenticating (limit ${MAX_PRE_AUTH_BYTES})`,
          );
          return;
        }
      }
      wt.receive(chunk);
    });
    stream.on('end', () => wt.receiveEnd());
    stream.on('close', () => wt.abort('CONNECT stream closed'));
    this.#params.logger.debug(
      { connection: id, remote: remoteAddress },
      'WebTransport over HTTP/2 session opened',
    );
  }
}
