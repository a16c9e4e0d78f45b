/**
 * The `[quic]` listener: WebTransport over HTTP/3 on one UDP socket (`binding`), for native
 * clients and anything that speaks WebTransport (docs/protocol.md). This module maps the
 * config keys onto the endpoint, HTTP/3 and session layers and adapts sessions to the core:
 *
 *   certificate_file, privatekey_file   TLS (absent: a dev certificate is generated at start)
 *   migration          false: packets of a connection from a new address are dropped
 *   keep_alive_interval  PING after that long without traffic
 *   idle_timeout       QUIC max_idle_timeout
 *   pre_send_timeout   voice datagrams waiting longer for congestion control are dropped (counted)
 *   connect_timeout    a connection not authenticated after that long is closed: the
 *                      pre-authentication deadline (HTTP/3 setup, session, token)
 *   no_peers_timeout   a client in no room that long is closed (the core's timer)
 *   engine             native, the only one: nativeEndpoint.ts (the native/quic addon owns UDP
 *                      and QUIC; run.ts refuses to start without it, docs/native-quic.md)
 */
import type { Logger } from 'pino';
import { type QuicConfig, splitBinding } from '../../config/index.ts';
import type { Sfu } from '../../core/sfu.ts';
import { certificateHash, createDevCertificate } from '../../dev/certificate.ts';
import type { Listener } from '../../listener.ts';
import { CertificateReloader, type CertificateReloadStats } from '../../tls/certificateReloader.ts';
import type { QuicEndpointStats } from './endpointStats.ts';
import { H3Error } from './errors.ts';
import { H3Connection, type H3Stats } from './h3Connection.ts';
import { NativeQuicEndpoint, type NativeVoiceStats, type NativeVoiceTableStats } from './nativeEndpoint.ts';
import { NativeVoiceTable } from './nativeVoice.ts';
import { OdinCloseCode, OdinSession } from './odinSession.ts';
import { JoinWatch, PreAuthBudget } from './preAuthBudget.ts';
import type { QuicConnection } from './quicConnection.ts';
import type { RoomStreamStats } from './roomStreams.ts';
import { keyMaterialFromPrivateKey } from './statelessReset.ts';

/** The path of the WebTransport session (docs/protocol.md). */
export const ODIN_WEBTRANSPORT_PATH = '/main';

export type QuicListenerParams = {
  /** `[quic]`: the listener gets its own section only. */
  config: QuicConfig;
  sfu: Sfu;
  logger: Logger;
  /** Stateless Retry before accepting a connection (address validation). Default true. */
  retry?: boolean;
  /** How often the certificate files are re-read besides watching them, ms (certificateReloader.ts). */
  certificateRecheckMs?: number;
};

export type QuicListenerStats = QuicEndpointStats &
  H3Stats &
  RoomStreamStats & {
    /** Connections closed by connect_timeout without a WebTransport session. */
    connectTimeouts: number;
    /** Sessions closed by connect_timeout without having authenticated. */
    authTimeouts: number;
    /** Connections that have not authenticated yet (the pre-authentication budget in use). */
    unauthenticated: number;
    sessions: number;
  } & Partial<NativeVoiceStats>;

const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Time for the close capsule to reach the client before the QUIC connection closes. */
const SESSION_CLOSE_GRACE_MS = 100;

export class QuicListener implements Listener {
  readonly #params: QuicListenerParams;
  readonly #quic: QuicConfig;
  readonly #logger: Logger;
  readonly #h3Stats: H3Stats = { datagramsUnknownSession: 0, unknownStreams: 0 };
  readonly #connections = new Set<H3Connection>();
  readonly #sessions = new Set<OdinSession>();
  #endpoint: NativeQuicEndpoint | undefined;
  /** The addon's voice forwarding table, kept by the core's changes. */
  #voiceTable: NativeVoiceTable | undefined;
  #certificateSha256 = '';
  #certificate: CertificateReloader | undefined;
  #connectTimeouts = 0;
  #nextId = 1;
  #draining = false;
  readonly #roomStreamStats: RoomStreamStats = { roomStreamsRefused: 0, sessionsClosedForGuessing: 0 };
  /** Voice packets sent to this listener's clients (metrics per transport). */
  readonly #voice = { forwarded: 0 };
  /** Connections that have not authenticated yet (docs/security-quic.md). */
  readonly #preAuth = new PreAuthBudget<QuicConnection>();
  /** Clients of sessions still in the pre-authentication budget: their join ends it. */
  readonly #joins: JoinWatch<QuicConnection>;
  #authTimeouts = 0;

  constructor(params: QuicListenerParams) {
    this.#params = params;
    this.#quic = params.config;
    this.#logger = params.logger;
    this.#joins = new JoinWatch(params.sfu, (quic) => this.#authenticated(quic));
  }

  get name(): string {
    const { host, port } = splitBinding(this.#quic.binding);
    const shown = host.includes(':') ? `[${host}]` : host;
    // The engine is in the name, so the start-up log says which data plane serves [quic].
    return `quic udp ${shown}:${this.port || port} (WebTransport ${ODIN_WEBTRANSPORT_PATH}, ${this.#quic.engine} engine)`;
  }

  /** The bound UDP port (useful with port 0 in tests). */
  get port(): number {
    return this.#endpoint?.port ?? 0;
  }

  /** SHA-256 (hex) of the certificate's DER: what `serverCertificateHashes` wants. */
  get certificateSha256(): string {
    return this.#certificateSha256;
  }

  /** Reloads of `certificate_file`/`privatekey_file` (undefined with a generated certificate). */
  get certificateStats(): CertificateReloadStats | undefined {
    return this.#certificate?.stats;
  }

  get stats(): QuicListenerStats {
    const endpoint = this.#endpoint?.stats;
    return {
      ...(endpoint ?? ({} as QuicEndpointStats)),
      ...this.#h3Stats,
      ...this.#roomStreamStats,
      connectTimeouts: this.#connectTimeouts,
      authTimeouts: this.#authTimeouts,
      unauthenticated: this.#preAuth.size,
      sessions: this.#sessions.size,
      ...this.#endpoint?.voiceStats,
    };
  }

  /**
   * Peers of the clients connected over QUIC now, and voice packets sent to them (metrics per
   * transport). On the native engine the sends of its forwarding table count too, and `table`
   * carries its own counters.
   */
  get nativeStats(): { peers: number; voiceForwarded: number; table?: NativeVoiceTableStats } {
    let peers = 0;
    for (const session of this.#sessions) peers += session.client?.peers.size ?? 0;
    const table = this.#endpoint?.voiceTableStats;
    if (table === undefined) return { peers, voiceForwarded: this.#voice.forwarded };
    return { peers, voiceForwarded: this.#voice.forwarded + table.alone.forwarded, table };
  }

  async open(): Promise<void> {
    this.#joins.start();
    const quic = this.#quic;
    let certificatePem: string;
    let privateKeyPem: string;
    if (quic.certificate_file !== undefined && quic.privatekey_file !== undefined) {
      // A renewed pair serves the connections accepted from then on (NativeQuicEndpoint.setCertificate).
      this.#certificate = await CertificateReloader.open({
        certificateFile: quic.certificate_file,
        privateKeyFile: quic.privatekey_file,
        section: '[quic]',
        logger: this.#logger,
        ...(this.#params.certificateRecheckMs === undefined
          ? {}
          : { recheckMs: this.#params.certificateRecheckMs }),
        apply: (pair) => {
          // Before the endpoint exists, open() below serves the pair in service when it binds.
          this.#setCertificate(pair.certificatePem, pair.privateKeyPem);
          this.#certificateSha256 = pair.sha256;
        },
      });
      ({ certificatePem, privateKeyPem } = this.#certificate.current);
    } else {
      this.#logger.warn(
        '[quic] has no certificate_file/privatekey_file: using a generated development certificate',
      );
      const generated = await createDevCertificate(['localhost', '127.0.0.1', '::1']);
      certificatePem = generated.certificatePem;
      privateKeyPem = generated.privateKeyPem;
    }
    this.#certificateSha256 = certificateHash(certificatePem);
    const { host, port } = splitBinding(quic.binding);
    this.#endpoint = await this.#bind(host, port, certificatePem, privateKeyPem);
    this.#voiceTable = new NativeVoiceTable(this.#endpoint, this.#params.sfu);
    const renewed = this.#certificate?.current;
    if (renewed !== undefined && renewed.certificatePem !== certificatePem) {
      this.#setCertificate(renewed.certificatePem, renewed.privateKeyPem);
    }
    this.#certificateSha256 = renewed?.sha256 ?? this.#certificateSha256;
  }

  /** The addon's endpoint with this section's settings. */
  #bind(host: string, port: number, certificatePem: string, privateKeyPem: string) {
    const quic = this.#quic;
    return NativeQuicEndpoint.bind({
      host,
      port,
      certificatePem,
      privateKeyPem,
      alpn: ['h3'],
      idleTimeoutMs: quic.idle_timeout,
      retry: this.#params.retry ?? true,
      migration: quic.migration,
      keepAliveMs: quic.keep_alive_interval,
      preSendTimeoutMs: quic.pre_send_timeout,
      datagramRecvQueue: 1024,
      datagramSendQueue: 1024,
      onConnection: (connection) => this.#accept(connection),
      admit: (remote) => this.#preAuth.admit(remote.address),
      // The Retry token and stateless reset keys derive from the TLS private key, so they
      // survive a restart: clients of the previous process learn at once that it is gone.
      keyMaterial: keyMaterialFromPrivateKey(privateKeyPem),
    });
  }

  /** A renewed certificate pair: new connections get it, open ones keep theirs. */
  #setCertificate(certificatePem: string, privateKeyPem: string): void {
    this.#endpoint?.setCertificate(certificatePem, privateKeyPem);
  }

  drain(): void {
    this.#draining = true;
    for (const h3 of this.#connections) h3.goaway();
  }

  async close(reason: string): Promise<void> {
    this.#certificate?.close();
    this.#draining = true;
    for (const session of [...this.#sessions]) session.close(OdinCloseCode.closed, reason);
    for (const h3 of this.#connections) h3.goaway();
    if (this.#sessions.size > 0) await new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_GRACE_MS));
    this.#voiceTable?.stop();
    await this.#endpoint?.close(H3Error.NO_ERROR, reason);
    this.#joins.stop();
  }

  /** The connection's client presented a valid token: it leaves the budget and its deadline. */
  #authenticated(quic: QuicConnection): void {
    this.#preAuth.end(quic);
    this.#endpoint?.setAppDeadline(quic, undefined);
  }

  #accept(quic: QuicConnection): void {
    const endpoint = this.#endpoint!;
    const id = `quic-${this.#nextId++}`;
    let odin: OdinSession | undefined;
    this.#preAuth.add(quic, quic.remoteHost);
    const h3: H3Connection = new H3Connection({
      quic,
      role: 'server',
      maxSessions: 1,
      stats: this.#h3Stats,
      onConnect: (request) => {
        if (this.#draining) return { status: 503 };
        const path = request.path?.split('?')[0];
        return { status: path === ODIN_WEBTRANSPORT_PATH ? 200 : 404 };
      },
      onSession: (session) => {
        const opened: OdinSession = new OdinSession({
          id,
          session,
          sfu: this.#params.sfu,
          noPeersTimeoutMs: this.#quic.no_peers_timeout,
          maxBufferedBytes: MAX_BUFFERED_BYTES,
          stats: this.#roomStreamStats,
          voice: this.#voice,
          onClient: (client) => {
            if (this.#preAuth.has(quic)) this.#joins.watch(client, quic);
            this.#voiceTable?.register(client, quic, session.id);
          },
          onClosed: () => {
            this.#sessions.delete(opened);
            this.#joins.forget(opened.client);
            this.#voiceTable?.forget(opened.client);
            // One session per connection: once it is over, so is the connection.
            setTimeout(() => h3.close(H3Error.NO_ERROR, 'session closed'), SESSION_CLOSE_GRACE_MS).unref();
          },
        });
        odin = opened;
        this.#sessions.add(opened);
        this.#logger.debug({ connection: id, remote: quic.remoteAddress }, 'WebTransport session opened');
      },
      onClosed: (info) => {
        this.#connections.delete(h3);
        this.#preAuth.end(quic);
        this.#logger.debug({ connection: id, ...info }, 'QUIC connection closed');
      },
    });
    this.#connections.add(h3);
    // connect_timeout, the pre-authentication deadline: HTTP/3 setup, WebTransport session and
    // a valid token (Authenticate, or JoinRoom with a token) must all be done in time.
    const connectTimeout = this.#quic.connect_timeout;
    if (connectTimeout > 0) {
      endpoint.setAppDeadline(quic, connectTimeout, () => {
        if (odin?.authenticated) {
          this.#joins.forget(odin.client);
          this.#authenticated(quic);
          return;
        }
        if (odin === undefined) {
          this.#connectTimeouts++;
          this.#logger.debug({ connection: id }, 'closing: no WebTransport session within connect_timeout');
          h3.close(
            H3Error.REQUEST_INCOMPLETE,
            `no WebTransport session within ${connectTimeout} ms (connect_timeout)`,
          );
          return;
        }
        this.#authTimeouts++;
        this.#logger.debug({ connection: id }, 'closing: not authenticated within connect_timeout');
        odin.close(OdinCloseCode.closed, `not authenticated within ${connectTimeout} ms (connect_timeout)`);
      });
    }
  }
}
