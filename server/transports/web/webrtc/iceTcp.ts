/**
 * ICE-TCP (RFC 6544) for web clients behind networks that block UDP: one TCP listener on the
 * `webrtc_binding` address and port, shared by every peer connection, beside the UDP mux.
 *
 * The server only offers passive candidates (RFC 6544 §4.5, `tcptype passive`): browsers
 * connect. A connection is framed per RFC 6544 §3 / RFC 4571 (iceTcpFraming.ts) and belongs to
 * the peer connection whose local ufrag its first STUN binding request names (RFC 8445 §7.2.2,
 * the same key the UDP mux routes by). It is then attached to that peer's mux endpoint as a
 * path (udpMux.ts `EndpointTcpPath`): werift above reads and writes datagrams as over UDP, with
 * the TCP connection's remote address as the peer's address.
 *
 * Pre-authentication budget (docs/security.md "ICE-TCP"): until werift has answered a binding
 * request on it with a success response (it checks MESSAGE-INTEGRITY with the peer
 * connection's password first), a connection
 * - must send only STUN, framed, checked after 10 bytes (`garbage` otherwise),
 * - must name a ufrag some peer connection registered (`unknown_ufrag`),
 * - must authenticate within `preAuthTimeoutMs` (`preauth_timeout`: also the half-open case),
 * - counts against `maxUnauthenticated` and `maxUnauthenticatedPerSource` (`unauthenticated_cap`).
 * Frames declaring more than `maxFrameLength` are refused before anything is allocated for them
 * (`oversized_frame`). Every closure is counted by reason (`counters.closed`).
 *
 * After authentication the connection lives as long as its WebRTC session: the session's connect
 * timeout (a client that never completes DTLS: `not_connected`), idle timeout (`idle`) or end
 * (`session_closed`) close it; the client closing it ends the session if it carried the DTLS.
 *
 * Head-of-line blocking: TCP delivers in order, so one lost segment delays every voice packet
 * behind it by a retransmission; that is the price of getting through at all. Writes never queue
 * without bound: over `maxWriteBufferBytes` pending, outgoing datagrams are dropped (DTLS and the
 * unreliable "audio" channel tolerate loss; SCTP retransmits its own control data).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { sourceOf } from '../../../core/sourceAddress.ts';
import {
  encodeIceTcpFrame,
  ICE_TCP_MAX_FRAME,
  IceTcpFrameReader,
  IceTcpFramingError,
} from './iceTcpFraming.ts';
import { localUfragOfRequest, stunClass } from './stunHeader.ts';
import type { EndpointCloseCause, EndpointTcpPath, UdpMux, UdpMuxEndpoint, WebRtcLogger } from './udpMux.ts';

export interface IceTcpParams {
  mux: UdpMux;
  /** The `webrtc_binding` host. */
  host: string;
  /** The port: the UDP mux's, so one number serves both. */
  port: number;
  logger?: WebRtcLogger;
  /** A connection must authenticate (see the module comment) within this. Default 5000 ms. */
  preAuthTimeoutMs?: number;
  /** Unauthenticated connections at once, over all sources. Default 256. */
  maxUnauthenticated?: number;
  /** Unauthenticated connections at once from one source (IPv6 by /64). Default 8. */
  maxUnauthenticatedPerSource?: number;
  /** Largest frame accepted. Default 4096: STUN checks are ~100 bytes, DTLS records stay under the ~1200 byte MTU browsers assume. */
  maxFrameLength?: number;
  /** TCP connections one peer connection may hold (a browser opens one per local candidate). Default 4. */
  maxPathsPerEndpoint?: number;
  /** Outgoing bytes queued on a connection before datagrams are dropped. Default 256 KiB. */
  maxWriteBufferBytes?: number;
}

export const defaultIceTcpParams = {
  preAuthTimeoutMs: 5_000,
  maxUnauthenticated: 256,
  maxUnauthenticatedPerSource: 8,
  maxFrameLength: 4096,
  maxPathsPerEndpoint: 4,
  maxWriteBufferBytes: 256 * 1024,
} as const;

/** Why an ICE-TCP connection was closed (`grid_web_ice_tcp_closed_total{reason}`). */
export const ICE_TCP_CLOSE_REASONS = [
  'preauth_timeout',
  'unauthenticated_cap',
  'garbage',
  'oversized_frame',
  'unknown_ufrag',
  'path_limit',
  'not_connected',
  'idle',
  'session_closed',
  'client_closed',
  'server_closed',
] as const;
export type IceTcpCloseReason = (typeof ICE_TCP_CLOSE_REASONS)[number];

export interface IceTcpCounters {
  accepted: number;
  framesIn: number;
  framesOut: number;
  /** Outgoing datagrams dropped because the connection's write queue was full. */
  framesDropped: number;
  /** Frames after authentication that are neither STUN nor DTLS (RFC 7983): dropped. */
  framesIgnored: number;
  closed: Record<IceTcpCloseReason, number>;
}

const STUN_BINDING_REQUEST_TYPE = 0x0001;
const STUN_BINDING_SUCCESS_TYPE = 0x0101;

type Resolved = Required<Omit<IceTcpParams, 'logger' | 'mux'>>;

export class IceTcpListener {
  readonly #server: Server;
  readonly #mux: UdpMux;
  readonly #params: Resolved;
  readonly #logger: WebRtcLogger | undefined;
  readonly #connections = new Set<IceTcpConnection>();
  readonly #unauthenticatedBySource = new Map<string, number>();
  #unauthenticated = 0;
  readonly #counters: IceTcpCounters = {
    accepted: 0,
    framesIn: 0,
    framesOut: 0,
    framesDropped: 0,
    framesIgnored: 0,
    closed: Object.fromEntries(ICE_TCP_CLOSE_REASONS.map((reason) => [reason, 0])) as Record<
      IceTcpCloseReason,
      number
    >,
  };
  #closed = false;

  private constructor(server: Server, params: IceTcpParams) {
    this.#server = server;
    this.#mux = params.mux;
    this.#logger = params.logger;
    this.#params = {
      host: params.host,
      port: params.port,
      preAuthTimeoutMs: params.preAuthTimeoutMs ?? defaultIceTcpParams.preAuthTimeoutMs,
      maxUnauthenticated: params.maxUnauthenticated ?? defaultIceTcpParams.maxUnauthenticated,
      maxUnauthenticatedPerSource:
        params.maxUnauthenticatedPerSource ?? defaultIceTcpParams.maxUnauthenticatedPerSource,
      maxFrameLength: Math.min(
        params.maxFrameLength ?? defaultIceTcpParams.maxFrameLength,
        ICE_TCP_MAX_FRAME,
      ),
      maxPathsPerEndpoint: params.maxPathsPerEndpoint ?? defaultIceTcpParams.maxPathsPerEndpoint,
      maxWriteBufferBytes: params.maxWriteBufferBytes ?? defaultIceTcpParams.maxWriteBufferBytes,
    };
    server.on('connection', (socket) => this.#accept(socket));
    server.on('error', (error) => this.#logger?.warn({ err: error }, 'webrtc ice-tcp listener error'));
  }

  /** Listens on `host`:`port`; rejects (e.g. EADDRINUSE, with `code`) naming the binding. */
  static async listen(params: IceTcpParams): Promise<IceTcpListener> {
    const server = createServer({ noDelay: true, pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          Object.assign(
            new Error(`webrtc_binding ${params.host}:${params.port}: cannot listen on TCP: ${error.message}`),
            { code: error.code },
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: params.host, port: params.port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return new IceTcpListener(server, params);
  }

  address(): { address: string; port: number } {
    const info = this.#server.address();
    if (info === null || typeof info === 'string') return { address: this.#params.host, port: 0 };
    return { address: info.address, port: info.port };
  }

  get counters(): Readonly<IceTcpCounters> {
    return { ...this.#counters, closed: { ...this.#counters.closed } };
  }

  /** Open connections, and those of them not yet authenticated. */
  get connections(): { open: number; unauthenticated: number } {
    return { open: this.#connections.size, unauthenticated: this.#unauthenticated };
  }

  get params(): Readonly<Resolved> {
    return this.#params;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#connections]) connection.closeWith('server_closed');
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#counters.accepted++;
    const source = sourceOf(socket.remoteAddress ?? '');
    const fromSource = this.#unauthenticatedBySource.get(source) ?? 0;
    if (
      this.#closed ||
      this.#unauthenticated >= this.#params.maxUnauthenticated ||
      fromSource >= this.#params.maxUnauthenticatedPerSource
    ) {
      this.#counters.closed[this.#closed ? 'server_closed' : 'unauthenticated_cap']++;
      socket.destroy();
      return;
    }
    this.#unauthenticated++;
    this.#unauthenticatedBySource.set(source, fromSource + 1);
    const connection = new IceTcpConnection(socket, source, this.#params, this.#hooks);
    this.#connections.add(connection);
  }

  /** What a connection reports back; one object for all of them. */
  readonly #hooks: ConnectionHooks = {
    counters: this.#counters,
    endpointForUfrag: (ufrag) => this.#mux.endpointForUfrag(ufrag),
    authenticated: (connection) => this.#releaseUnauthenticated(connection.source),
    attached: (connection, ufrag) =>
      this.#logger?.debug(
        { remote: `${connection.host}:${connection.port}`, ufrag },
        'ice-tcp connection attached',
      ),
    closed: (connection, reason, wasAuthenticated) => {
      if (!this.#connections.delete(connection)) return;
      if (!wasAuthenticated) this.#releaseUnauthenticated(connection.source);
      this.#counters.closed[reason]++;
      this.#logger?.debug(
        { remote: `${connection.host}:${connection.port}`, reason },
        'ice-tcp connection closed',
      );
    },
  };

  #releaseUnauthenticated(source: string): void {
    this.#unauthenticated--;
    const left = (this.#unauthenticatedBySource.get(source) ?? 1) - 1;
    if (left <= 0) this.#unauthenticatedBySource.delete(source);
    else this.#unauthenticatedBySource.set(source, left);
  }
}

interface ConnectionHooks {
  counters: IceTcpCounters;
  endpointForUfrag(ufrag: string): UdpMuxEndpoint | undefined;
  authenticated(connection: IceTcpConnection): void;
  attached(connection: IceTcpConnection, ufrag: string): void;
  closed(connection: IceTcpConnection, reason: IceTcpCloseReason, wasAuthenticated: boolean): void;
}

const CAUSE_TO_REASON: Record<EndpointCloseCause, IceTcpCloseReason> = {
  not_connected: 'not_connected',
  idle: 'idle',
  ended: 'session_closed',
};

/** One accepted TCP connection: unauthenticated, then a path of one mux endpoint. */
class IceTcpConnection implements EndpointTcpPath {
  readonly host: string;
  readonly port: number;
  readonly source: string;
  readonly #socket: Socket;
  readonly #params: Resolved;
  readonly #hooks: ConnectionHooks;
  readonly #reader: IceTcpFrameReader;
  #endpoint: UdpMuxEndpoint | undefined;
  #authenticated = false;
  #closed = false;
  #preAuthTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, source: string, params: Resolved, hooks: ConnectionHooks) {
    this.#socket = socket;
    this.host = socket.remoteAddress ?? '';
    this.port = socket.remotePort ?? 0;
    this.source = source;
    this.#params = params;
    this.#hooks = hooks;
    this.#reader = new IceTcpFrameReader({
      maxFrameLength: params.maxFrameLength,
      onFrame: (frame) => this.#onFrame(frame),
    });
    this.#reader.requireStun = true;
    this.#preAuthTimer = setTimeout(() => this.closeWith('preauth_timeout'), params.preAuthTimeoutMs);
    this.#preAuthTimer.unref();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // Either side's end, or a reset: the connection is gone.
    socket.on('close', () => this.closeWith('client_closed'));
    socket.on('error', () => {
      // 'close' follows; a reset by the client is the client's way of closing.
    });
  }

  // ---- EndpointTcpPath ----

  send(data: Buffer): void {
    if (this.#closed) return;
    if (
      !this.#authenticated &&
      data.length >= 20 &&
      ((data[0]! << 8) | data[1]!) === STUN_BINDING_SUCCESS_TYPE
    ) {
      // werift answers a check only after verifying its MESSAGE-INTEGRITY: the client knows the
      // peer connection's password.
      this.#authenticate();
    }
    const counters = this.#hooks.counters;
    if (this.#socket.writableLength > this.#params.maxWriteBufferBytes) {
      counters.framesDropped++;
      return;
    }
    counters.framesOut++;
    this.#socket.write(encodeIceTcpFrame(data));
  }

  close(cause: EndpointCloseCause): void {
    this.closeWith(CAUSE_TO_REASON[cause]);
  }

  // ---- internals ----

  closeWith(reason: IceTcpCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#preAuthTimer);
    this.#preAuthTimer = undefined;
    this.#socket.destroy();
    this.#endpoint?.detachTcpPath(this);
    this.#endpoint = undefined;
    this.#hooks.closed(this, reason, this.#authenticated);
  }

  #authenticate(): void {
    this.#authenticated = true;
    this.#reader.requireStun = false;
    clearTimeout(this.#preAuthTimer);
    this.#preAuthTimer = undefined;
    this.#hooks.authenticated(this);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#reader.push(chunk);
    } catch (error) {
      if (error instanceof IceTcpFramingError) this.closeWith(error.code);
      else this.closeWith('garbage');
    }
  }

  #onFrame(frame: Buffer): void {
    if (this.#closed) return;
    this.#hooks.counters.framesIn++;
    const endpoint = this.#endpoint;
    if (endpoint !== undefined && this.#authenticated) {
      const first = frame[0]!;
      // RFC 7983 §7: STUN 0..3, DTLS 20..63; nothing else is ours.
      if (first > 63 || (first > 3 && first < 20)) {
        this.#hooks.counters.framesIgnored++;
        return;
      }
      endpoint.deliverTcp(this, frame);
      return;
    }
    // Not authenticated: the reader let only STUN-shaped frames through.
    if (stunClass(frame) !== 'request' || ((frame[0]! << 8) | frame[1]!) !== STUN_BINDING_REQUEST_TYPE) {
      this.closeWith('garbage');
      return;
    }
    if (endpoint === undefined) {
      const ufrag = localUfragOfRequest(frame);
      const owner = ufrag === undefined ? undefined : this.#hooks.endpointForUfrag(ufrag);
      if (owner === undefined) {
        this.closeWith('unknown_ufrag');
        return;
      }
      if (!owner.attachTcpPath(this, this.#params.maxPathsPerEndpoint)) {
        this.closeWith('path_limit');
        return;
      }
      this.#endpoint = owner;
      this.#hooks.attached(this, ufrag!);
    }
    this.#endpoint!.deliverTcp(this, frame);
  }
}
