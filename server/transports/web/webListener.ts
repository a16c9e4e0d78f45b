/**
 * The `[http]` listener: HTTPS (or plain HTTP behind a TLS proxy when no certificate is
 * configured) on `binding`, serving
 *
 *   POST /            the gateway `Connect` call (gatewayConnect.ts), CORS preflight included
 *   GET  /main        WebSocket: a client. Generation A: Authenticate, SetupWebRtc, JoinRoom;
 *                     generation B: JoinRoom {token, ...}, WebRtcUpdate (SDP both ways), Ping
 *   GET  /room?<id>   WebSocket: a room stream bound to a peer by its stream id (generation A)
 *   GET  /room?token=<token>   the same, by the token of a generation B JoinRoom answer
 *
 * plus the single WebRTC UDP port (`webrtc_binding`) through `UdpMux`, and ICE-TCP on the same
 * address and port number over TCP (`IceTcpListener`) for clients whose network blocks UDP.
 * This module only
 * adapts sockets to the core (`Connection`); rooms, peers and routing are the core's.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { OdinJwk, TokenVerifier } from '../../../common/auth/index.ts';
import {
  announcedAddress,
  formatHostPort,
  type HttpConfig,
  type Jwk,
  splitBinding,
} from '../../config/index.ts';
import { AttachGuard } from '../../core/attachGuard.ts';
import type { SignalingRequest } from '../../core/connection.ts';
import { RpcError } from '../../core/errors.ts';
import type { Sfu } from '../../core/sfu.ts';
import type { Listener } from '../../listener.ts';
import { LogThrottle } from '../../observability/logThrottle.ts';
import type { WebRtcUpdate } from '../../protocol/methods.ts';
import { DEFAULT_MAX_RPC_FRAME_SIZE, encodeNotification } from '../../protocol/msgpackRpc.ts';
import { parseStreamIdText } from '../../protocol/streamId.ts';
import { CertificateReloader, type CertificateReloadStats } from '../../tls/certificateReloader.ts';
import { handleGatewayRequest, isGatewayRequest } from './gatewayConnect.ts';
import { httpServerLimits } from './httpLimits.ts';
import { resolveCandidates, webRtcCandidates } from './webRtcCandidates.ts';
import { IceTcpListener, type IceTcpParams } from './webrtc/iceTcp.ts';
import { UdpMux } from './webrtc/udpMux.ts';
import {
  createWebRtcSession,
  newWebVoiceTransportCounters,
  type WebRtcLocalSignal,
  type WebRtcRemoteCandidate,
  type WebRtcSession,
  type WebVoiceTransportCounters,
} from './webrtc/webRtcSession.ts';
import { CloseCode, WebSocketConnection } from './webSocketConnection.ts';

export type WebListenerParams = {
  /** `[http]`: the listener gets its own section only. */
  config: HttpConfig;
  /** The root `public_address`, announced unless `[http] public_address_override` is set. */
  publicAddress: string;
  /** `[[authorization.keys]]`: those with `d` sign the gateway `Connect` answers. */
  authorizationKeys: readonly Jwk[];
  sfu: Sfu;
  verifier: TokenVerifier;
  logger: Logger;
  /** How often the certificate files are re-read besides watching them, ms (certificateReloader.ts). */
  certificateRecheckMs?: number;
  /** Counts failed `/room` attaches per source. Default: a guard with the default limits and clock. */
  attachGuard?: AttachGuard;
  /** ICE-TCP limits (tests shorten them); defaults in webrtc/iceTcp.ts. */
  iceTcp?: Omit<IceTcpParams, 'mux' | 'host' | 'port' | 'logger'>;
  /**
   * WebTransport over HTTP/2 for native clients (server/transports/quic/h2Server.ts, wired by
   * assembly.ts): with TLS, a client that offers ALPN `h2` and not `http/1.1` is handed to it.
   */
  http2?: Http2Acceptor;
};

/** The web transport's WebRTC numbers, read by the metrics at scrape time. */
export interface WebRtcTransportStats {
  /** Sessions with an open voice channel, by the transport their DTLS travels over. */
  peers: { udp: number; tcp: number };
  voice: Readonly<WebVoiceTransportCounters>;
  /** ICE-TCP connections closed, by reason (webrtc/iceTcp.ts); empty without ICE-TCP. */
  iceTcpClosed: Readonly<Record<string, number>>;
  iceTcpConnections: { open: number; unauthenticated: number };
}

/** What takes the TLS connections that chose `h2` (drained and closed with this listener). */
export interface Http2Acceptor {
  accept(socket: TLSSocket): void;
  drain(): void;
  close(reason: string): Promise<void>;
}

/**
 * ALPN (RFC 7301): `h2` only for a client that does not offer `http/1.1`. Browsers offer both
 * and must stay on HTTP/1.1, where the gateway and the WebSockets are (a browser on h2 would
 * try WebSockets over HTTP/2, RFC 8441); our native client offers `h2` alone.
 */
export function selectAlpn(offered: readonly string[], http2: boolean): string | undefined {
  if (offered.includes('http/1.1')) return 'http/1.1';
  if (http2 && offered.includes('h2')) return 'h2';
  return undefined;
}

/** Refuse a WebSocket upgrade with an HTTP status before it becomes a socket. */
function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${message}\n`,
  );
}

/**
 * The https server parses every TLS connection as HTTP/1.1 (its `secureConnection` listener);
 * one that negotiated `h2` goes to `http2` instead. Node has no hook for this, so the server's
 * own listener is taken off and called for the others.
 */
function routeHttp2(server: HttpsServer, http2: Http2Acceptor): void {
  const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') http2.accept(socket);
    else for (const listener of http1) listener.call(server, socket);
  });
}

export class WebListener implements Listener {
  readonly #params: WebListenerParams;
  readonly #http: HttpConfig;
  readonly #logger: Logger;
  /** Resolved again at open() when a binding asks for port 0 (the real port is known only then). */
  #publicAddress: string;
  /** The answer's candidate addresses, resolved once when the listener opens. */
  #candidates: string[] = [];
  readonly #signingKeys: Map<string, OdinJwk>;
  readonly #webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: DEFAULT_MAX_RPC_FRAME_SIZE,
    perMessageDeflate: false,
  });
  readonly #mainConnections = new Set<WebSocketConnection>();
  readonly #roomConnections = new Set<WebSocketConnection>();
  #server: Server | undefined;
  #certificate: CertificateReloader | undefined;
  #mux: UdpMux | undefined;
  #iceTcp: IceTcpListener | undefined;
  readonly #sessions = new Set<WebRtcSession>();
  readonly #voiceCounters = newWebVoiceTransportCounters();
  #nextConnectionId = 1;
  #draining = false;
  /** Connections closed at once because `max_connections` were open. */
  #dropped = 0;
  /** Failed `/room` attaches per source: stops stream-id guessing. */
  readonly #attachGuard: AttachGuard;
  readonly #connectRefusalLog = new LogThrottle({ intervalMs: 10_000 });
  readonly #connectFailureLog = new LogThrottle({ intervalMs: 10_000 });

  constructor(params: WebListenerParams) {
    this.#params = params;
    this.#attachGuard = params.attachGuard ?? new AttachGuard();
    this.#http = params.config;
    this.#logger = params.logger;
    this.#publicAddress = announcedAddress(params.publicAddress, params.config);
    this.#signingKeys = new Map(
      params.authorizationKeys.filter((key) => key.d !== undefined).map((key) => [key.kid, key as OdinJwk]),
    );
  }

  /** e.g. `http 127.0.0.1:4433 (webrtc udp 127.0.0.1:8844)`: the bound ports once open. */
  get name(): string {
    const http = splitBinding(this.#http.binding);
    const webrtc = splitBinding(this.#http.webrtc_binding);
    const tcp = formatHostPort(http.host, this.port || http.port);
    const udp = formatHostPort(webrtc.host, this.webRtcPort || webrtc.port);
    const iceTcp =
      this.#iceTcp === undefined
        ? ''
        : `, ice-tcp ${formatHostPort(webrtc.host, this.#iceTcp.address().port)}`;
    return `http ${tcp} (webrtc udp ${udp}${iceTcp})`;
  }

  /** `host:port` announced to clients (the gateway Connect answer, re-issued tokens' `adr`). */
  get publicAddress(): string {
    return this.#publicAddress;
  }

  /** The bound TCP port (useful with port 0 in tests). */
  get port(): number {
    const address = this.#server?.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The bound WebRTC UDP port. */
  get webRtcPort(): number {
    return this.#mux?.address().port ?? 0;
  }

  get mux(): UdpMux | undefined {
    return this.#mux;
  }

  /** The ICE-TCP listener (undefined before open, or when its port was taken and UDP is enough). */
  get iceTcp(): IceTcpListener | undefined {
    return this.#iceTcp;
  }

  get webRtcStats(): WebRtcTransportStats {
    const peers = { udp: 0, tcp: 0 };
    for (const session of this.#sessions) if (session.state === 'connected') peers[session.transport]++;
    return {
      peers,
      voice: { ...this.#voiceCounters },
      iceTcpClosed: this.#iceTcp?.counters.closed ?? {},
      iceTcpConnections: this.#iceTcp?.connections ?? { open: 0, unauthenticated: 0 },
    };
  }

  /** Failed `/room` attaches and the refusals of sources that guess. */
  get attachGuard(): AttachGuard {
    return this.#attachGuard;
  }

  /** What takes the connections that chose `h2` (WebTransport over HTTP/2), if anything. */
  get http2(): Http2Acceptor | undefined {
    return this.#params.http2;
  }

  /** TCP connections closed at once because `[http] max_connections` were open. */
  get droppedConnections(): number {
    return this.#dropped;
  }

  /** Reloads of `certificate_file`/`privatekey_file` (undefined without TLS). */
  get certificateStats(): CertificateReloadStats | undefined {
    return this.#certificate?.stats;
  }

  /** SHA-256 (hex) of the certificate new handshakes get (undefined without TLS). */
  get certificateSha256(): string | undefined {
    return this.#certificate?.current.sha256;
  }

  async open(): Promise<void> {
    const http = this.#http;
    const onRequest = (request: IncomingMessage, response: ServerResponse) =>
      this.#onRequest(request, response);
    const limits = httpServerLimits(http);
    if (http.certificate_file !== undefined && http.privatekey_file !== undefined) {
      // Renewed files reach new handshakes through setSecureContext; open TLS sessions keep theirs.
      this.#certificate = await CertificateReloader.open({
        certificateFile: http.certificate_file,
        privateKeyFile: http.privatekey_file,
        section: '[http]',
        logger: this.#logger,
        ...(this.#params.certificateRecheckMs === undefined
          ? {}
          : { recheckMs: this.#params.certificateRecheckMs }),
        apply: (pair) =>
          (this.#server as HttpsServer).setSecureContext({
            cert: pair.certificatePem,
            key: pair.privateKeyPem,
          }),
      });
      const { certificatePem, privateKeyPem } = this.#certificate.current;
      const http2 = this.#params.http2;
      const server = createHttpsServer(
        {
          ...limits,
          cert: certificatePem,
          key: privateKeyPem,
          ALPNCallback: ({ protocols }) => selectAlpn(protocols, http2 !== undefined),
        },
        onRequest,
      );
      if (http2 !== undefined) routeHttp2(server, http2);
      this.#server = server;
    } else this.#server = createHttpServer(limits, onRequest);
    // Connections over the cap are closed by net.Server before any byte is read (counted in the
    // `drop` event); upgraded WebSockets stay counted until they close.
    this.#server.maxConnections = http.max_connections;
    this.#server.on('drop', () => this.#dropped++);
    this.#server.on('upgrade', (request, socket, head) => this.#onUpgrade(request, socket, head));
    // A TLS handshake that fails (port scanner, plain HTTP to an HTTPS port) is not our error.
    this.#server.on('tlsClientError', (error) =>
      this.#logger.debug({ error: error.message }, 'TLS handshake failed'),
    );
    const { host, port } = splitBinding(http.binding);
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(port, host, () => {
        this.#server!.off('error', reject);
        resolve();
      });
    });
    if (port === 0) {
      // `binding = "host:0"` asks the OS for a port; an announced address without a port must
      // carry the one we got, or clients would be sent to port 0.
      const bound = { ...http, binding: formatHostPort(host, this.port) };
      this.#publicAddress = announcedAddress(this.#params.publicAddress, bound);
    }
    await this.#bindWebRtc();
    this.#candidates = await resolveCandidates(webRtcCandidates(http, this.#publicAddress), this.#logger);
  }

  /**
   * The UDP mux, then ICE-TCP on the same host and port number. With port 0 the number the OS
   * gave UDP may be taken on TCP: try again with another. When a fixed port is taken on TCP,
   * voice over UDP still works: a warning, unless `webrtc_enforce_tcp` needs TCP.
   */
  async #bindWebRtc(): Promise<void> {
    const webrtc = splitBinding(this.#http.webrtc_binding);
    for (let attempt = 1; ; attempt++) {
      const mux = await UdpMux.bind({ host: webrtc.host, port: webrtc.port, logger: this.#logger });
      try {
        this.#iceTcp = await IceTcpListener.listen({
          ...this.#params.iceTcp,
          mux,
          host: webrtc.host,
          port: mux.address().port,
          logger: this.#logger,
        });
        this.#mux = mux;
        return;
      } catch (error) {
        const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (inUse && webrtc.port === 0 && attempt < 10) {
          await mux.close();
          continue;
        }
        if (this.#http.webrtc_enforce_tcp) {
          await mux.close();
          throw error;
        }
        this.#logger.warn(
          { error: (error as Error).message },
          'ICE-TCP is off: web clients on networks that block UDP get no voice (free the TCP port of webrtc_binding)',
        );
        this.#mux = mux;
        return;
      }
    }
  }

  drain(): void {
    this.#draining = true;
    this.#params.http2?.drain();
  }

  async close(reason: string): Promise<void> {
    this.#certificate?.close();
    // Before the server closes: it waits for every socket, the h2 ones included.
    await this.#params.http2?.close(reason);
    for (const connection of [...this.#roomConnections, ...this.#mainConnections]) {
      connection.close(reason, CloseCode.goingAway);
    }
    this.#webSockets.close();
    await new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    await this.#iceTcp?.close();
    await this.#mux?.close();
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/main' || path === '/room') {
      // A plain GET of a WebSocket endpoint (a browser tab, curl): say what it is instead of 404.
      response
        .writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'Upgrade' })
        .end(`${path} is a WebSocket endpoint: connect with wss://<address>${path}\n`);
      return;
    }
    if (!isGatewayRequest(request)) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (this.#draining && request.method === 'POST') {
      response.writeHead(503, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32000, message: 'the server is shutting down' },
        }),
      );
      return;
    }
    handleGatewayRequest(request, response, {
      verifier: this.#params.verifier,
      publicAddress: this.#publicAddress,
      signingKeys: this.#signingKeys,
      logger: this.#logger,
      refusalLog: this.#connectRefusalLog,
    }).catch((error: Error) => {
      // Not a client fault (those are answered above): a bug, but one a client may be able to
      // trigger at will, so at most one line per interval.
      const suppressed = this.#connectFailureLog.take();
      if (suppressed !== undefined)
        this.#logger.error({ error: error.message, suppressed }, 'Connect failed');
      if (!response.headersSent) response.writeHead(500).end();
    });
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'https://grid.invalid');
    const route = url.pathname;
    if (route !== '/main' && route !== '/room') {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (route === '/main' && this.#draining) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const remoteAddress = formatHostPort(request.socket.remoteAddress ?? '', request.socket.remotePort ?? 0);
    if (route === '/room' && !this.#attachGuard.allows(remoteAddress)) {
      // A source that keeps naming room streams that do not wait is guessing: refused before
      // the WebSocket handshake, until its failures are forgiven (core/attachGuard.ts).
      refuseUpgrade(socket, 429, 'Too Many Requests');
      return;
    }
    this.#webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      if (route === '/main') this.#acceptMain(webSocket, remoteAddress);
      else this.#acceptRoom(webSocket, remoteAddress, url.search.slice(1));
    });
  }

  #connectionParams(remoteAddress: string) {
    return {
      id: `web-${this.#nextConnectionId++}`,
      remoteAddress,
      pingIntervalMs: this.#http.ping_interval,
      timeoutMs: this.#http.timeout,
    };
  }

  #acceptMain(webSocket: WebSocket, remoteAddress: string): void {
    let session: WebRtcSession | undefined;
    const connection: WebSocketConnection = new WebSocketConnection(webSocket, {
      ...this.#connectionParams(remoteAddress),
      // Errors are RpcErrors: the client sees their message (a plain Error would be reported
      // as an internal server error and logged as a bug).
      signal: async (request: SignalingRequest) => {
        if (request.method === 'WebRtcUpdate') return await webRtcUpdate(request.params);
        if (session) throw new RpcError('bad_request', 'SetupWebRtc was already called on this connection');
        const current = this.#createSession(connection, () => client);
        session = current;
        connection.attachVoice(current);
        try {
          return { sdp: await current.answer(request.params.sdp) };
        } catch (error) {
          // The session closed itself; a corrected offer may try again.
          if (session === current) {
            session = undefined;
            connection.attachVoice(undefined);
          }
          throw new RpcError('bad_request', (error as Error).message);
        }
      },
    });
    /**
     * Generation B (ODIN-PROTOCOL.md section 3): the client's offer arrives as a `WebRtcUpdate`,
     * and the answer and end-of-candidates go back as `WebRtcUpdate` notifications on /main.
     * Remote candidates are accepted and ignored: the server is ICE-lite (webrtc/webRtcSession.ts).
     */
    const webRtcUpdate = async (update: WebRtcUpdate): Promise<null> => {
      if (update.kind === 'Sdp' && update.type === 'Offer' && session === undefined) {
        session = this.#createSession(
          connection,
          () => client,
          (signal) => connection.sendRpc(encodeNotification('WebRtcUpdate', signal)),
        );
        connection.attachVoice(session);
      }
      if (session === undefined) {
        throw new RpcError(
          'bad_request',
          `WebRtcUpdate ${update.kind}: send the offer (kind Sdp, type Offer) first`,
        );
      }
      try {
        if (update.kind === 'Sdp') await session.handleRemoteSdp({ type: update.type, sdp: update.sdp });
        else if (update.kind === 'Trickle') {
          const candidate: WebRtcRemoteCandidate = { candidate: update.candidate };
          if (update.spd_mid !== undefined) candidate.sdpMid = update.spd_mid;
          if (update.spd_mline_index !== undefined) candidate.sdpMLineIndex = update.spd_mline_index;
          if (update.username_fragment !== undefined) candidate.usernameFragment = update.username_fragment;
          await session.addRemoteCandidate(candidate);
        }
      } catch (error) {
        throw new RpcError('bad_request', `WebRtcUpdate: ${(error as Error).message}`);
      }
      return null;
    };
    const client = this.#params.sfu.connect(connection, { noPeersTimeoutMs: this.#http.no_peers_timeout });
    this.#mainConnections.add(connection);
    webSocket.on('message', (data: Buffer, isBinary) => {
      if (!isBinary)
        return connection.close('text frames are not part of the protocol', CloseCode.unsupportedData);
      client.handleRpc(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    webSocket.on('error', (error) =>
      this.#logger.debug({ connection: connection.id, error: error.message }, 'socket error'),
    );
    webSocket.on('close', () => {
      this.#mainConnections.delete(connection);
      connection.attachVoice(undefined);
      void session?.close();
      client.handleClose();
    });
  }

  #createSession(
    connection: WebSocketConnection,
    client: () => ReturnType<Sfu['connect']>,
    onLocalSignal?: (signal: WebRtcLocalSignal) => void,
  ): WebRtcSession {
    const mux = this.#mux!;
    const sfu = this.#params.sfu;
    const session = createWebRtcSession({
      mux,
      candidates: this.#candidates,
      port: mux.address().port,
      transports: { udp: !this.#http.webrtc_enforce_tcp, tcp: this.#iceTcp !== undefined },
      voiceCounters: this.#voiceCounters,
      onVoice: (bytes) => sfu.handleVoice(client(), bytes),
      onClosed: (reason) => {
        this.#logger.debug({ connection: connection.id, reason }, 'WebRTC session ended');
        this.#sessions.delete(session);
        connection.attachVoice(undefined);
      },
      logger: this.#logger,
      ...(onLocalSignal === undefined ? {} : { onLocalSignal }),
    });
    this.#sessions.add(session);
    return session;
  }

  #acceptRoom(webSocket: WebSocket, remoteAddress: string, query: string): void {
    const connection = new WebSocketConnection(webSocket, this.#connectionParams(remoteAddress));
    // Generation A: /room?<stream_id>; generation B: /room?token=<token> (from JoinRoom's answer),
    // and only that: a generation B peer is not attached by its id alone.
    const token = new URLSearchParams(query).get('token');
    const streamId = parseStreamIdText(query);
    const endpoint =
      token !== null
        ? this.#params.sfu.attachRoomStreamByToken(token, connection)
        : streamId === undefined
          ? undefined
          : this.#params.sfu.attachRoomStream(streamId, connection, { tokenPeers: false });
    if (!endpoint) {
      this.#attachGuard.fail(remoteAddress);
      connection.close(
        `unknown room stream ${JSON.stringify(query.slice(0, 32))}: call JoinRoom on /main first`,
        CloseCode.policyViolation,
      );
      return;
    }
    this.#roomConnections.add(connection);
    webSocket.on('message', (data: Buffer, isBinary) => {
      if (!isBinary)
        return connection.close('text frames are not part of the protocol', CloseCode.unsupportedData);
      endpoint.handleRpc(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    webSocket.on('error', (error) =>
      this.#logger.debug({ connection: connection.id, error: error.message }, 'socket error'),
    );
    webSocket.on('close', () => {
      this.#roomConnections.delete(connection);
      endpoint.handleClose();
    });
  }
}
