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
 *   connect_timeout    a connection without a WebTransport session after that long is closed
 *   no_peers_timeout   a client in no room that long is closed (the core's timer)
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type QuicConfig, splitBinding } from '../../config/index.ts';
import type { Sfu } from '../../core/sfu.ts';
import { certificateHash, createDevCertificate } from '../../dev/certificate.ts';
import type { Listener } from '../../listener.ts';
import { QuicEndpoint, type QuicEndpointStats } from './endpoint.ts';
import { H3Error } from './errors.ts';
import { H3Connection, type H3Stats } from './h3Connection.ts';
import { OdinCloseCode, OdinSession } from './odinSession.ts';
import type { QuicConnection } from './quicConnection.ts';
import { createQuicheConfig } from './quiche.ts';

/** The path of the WebTransport session (docs/protocol.md). */
export const ODIN_WEBTRANSPORT_PATH = '/main';

export type QuicListenerParams = {
  /** `[quic]`: the listener gets its own section only. */
  config: QuicConfig;
  sfu: Sfu;
  logger: Logger;
  /** Stateless Retry before accepting a connection (address validation). Default true. */
  retry?: boolean;
};

export type QuicListenerStats = QuicEndpointStats &
  H3Stats & {
    /** Connections closed by connect_timeout. */
    connectTimeouts: number;
    sessions: number;
  };

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
  #endpoint: QuicEndpoint | undefined;
  #certificateSha256 = '';
  #connectTimeouts = 0;
  #nextId = 1;
  #draining = false;

  constructor(params: QuicListenerParams) {
    this.#params = params;
    this.#quic = params.config;
    this.#logger = params.logger;
  }

  get name(): string {
    const { host, port } = splitBinding(this.#quic.binding);
    const shown = host.includes(':') ? `[${host}]` : host;
    return `quic udp ${shown}:${this.port || port} (WebTransport ${ODIN_WEBTRANSPORT_PATH})`;
  }

  /** The bound UDP port (useful with port 0 in tests). */
  get port(): number {
    return this.#endpoint?.port ?? 0;
  }

  /** SHA-256 (hex) of the certificate's DER: what `serverCertificateHashes` wants. */
  get certificateSha256(): string {
    return this.#certificateSha256;
  }

  get stats(): QuicListenerStats {
    const endpoint = this.#endpoint?.stats;
    return {
      ...(endpoint ?? ({} as QuicEndpointStats)),
      ...this.#h3Stats,
      connectTimeouts: this.#connectTimeouts,
      sessions: this.#sessions.size,
    };
  }

  async open(): Promise<void> {
    const quic = this.#quic;
    let certificatePem: string;
    let privateKeyPem: string;
    if (quic.certificate_file !== undefined && quic.privatekey_file !== undefined) {
      certificatePem = await readFile(quic.certificate_file, 'utf8');
      privateKeyPem = await readFile(quic.privatekey_file, 'utf8');
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
    this.#endpoint = await QuicEndpoint.bind({
      host,
      port,
      role: 'server',
      config: createQuicheConfig({
        certificatePem,
        privateKeyPem,
        alpn: ['h3'],
        idleTimeoutMs: quic.idle_timeout,
        disableActiveMigration: !quic.migration,
        verifyPeer: false,
        datagramRecvQueue: 1024,
        datagramSendQueue: 1024,
      }),
      retry: this.#params.retry ?? true,
      migration: quic.migration,
      keepAliveMs: quic.keep_alive_interval,
      preSendTimeoutMs: quic.pre_send_timeout,
      onConnection: (connection) => this.#accept(connection),
    });
  }

  drain(): void {
    this.#draining = true;
    for (const h3 of this.#connections) h3.goaway();
  }

  async close(reason: string): Promise<void> {
    this.#draining = true;
    for (const session of [...this.#sessions]) session.close(OdinCloseCode.closed, reason);
    for (const h3 of this.#connections) h3.goaway();
    if (this.#sessions.size > 0) await new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_GRACE_MS));
    await this.#endpoint?.close(H3Error.NO_ERROR, reason);
  }

  #accept(quic: QuicConnection): void {
    const endpoint = this.#endpoint!;
    const id = `quic-${this.#nextId++}`;
    let sessionOpened = false;
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
        sessionOpened = true;
        endpoint.setAppDeadline(quic, undefined);
        const odin: OdinSession = new OdinSession({
          id,
          session,
          sfu: this.#params.sfu,
          noPeersTimeoutMs: this.#quic.no_peers_timeout,
          maxBufferedBytes: MAX_BUFFERED_BYTES,
          onClosed: () => {
            this.#sessions.delete(odin);
            // One session per connection: once it is over, so is the connection.
            setTimeout(() => h3.close(H3Error.NO_ERROR, 'session closed'), SESSION_CLOSE_GRACE_MS).unref();
          },
        });
        this.#sessions.add(odin);
        this.#logger.debug({ connection: id, remote: quic.remoteAddress }, 'WebTransport session opened');
      },
      onClosed: (info) => {
        this.#connections.delete(h3);
        this.#logger.debug({ connection: id, ...info }, 'QUIC connection closed');
      },
    });
    this.#connections.add(h3);
    // connect_timeout: the HTTP/3 + WebTransport setup must be done in time.
    const connectTimeout = this.#quic.connect_timeout;
    if (connectTimeout > 0) {
      endpoint.setAppDeadline(quic, connectTimeout, () => {
        if (sessionOpened) return;
        this.#connectTimeouts++;
        this.#logger.debug({ connection: id }, 'closing: no WebTransport session within connect_timeout');
        h3.close(
          H3Error.REQUEST_INCOMPLETE,
          `no WebTransport session within ${connectTimeout} ms (connect_timeout)`,
        );
      });
    }
  }
}
