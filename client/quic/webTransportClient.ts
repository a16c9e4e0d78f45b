/**
 * A Node WebTransport client over our own QUIC + HTTP/3 stack (the same modules the server
 * runs, in the client role): what Chromium's `new WebTransport(url)` does, for tests, bots and
 * the load generator. One QUIC connection (its own UDP socket) per session.
 */
import {
  createQuicheConfig,
  H3Connection,
  type H3ConnectionParams,
  QuicEndpoint,
  type WebTransportDraft,
  type WebTransportSession,
} from '../../server/transports/quic/index.ts';
import type { WebTransportSessionOptions } from './sessionOptions.ts';

export type WebTransportClientOptions = WebTransportSessionOptions & {
  idleTimeoutMs?: number;
  /** Local address to bind; default 127.0.0.1 for a loopback server. */
  localHost?: string;
  /**
   * WebTransport draft: `draft02` (default, what Chromium speaks) or `current`
   * (draft-ietf-webtrans-http3-15/16: `webtransport-h3`, SETTINGS_WT_ENABLED, session flow control).
   */
  draft?: WebTransportDraft;
  /** Current draft: the per-session limits this client grants the server (tests of flow control). */
  flowLimits?: H3ConnectionParams['flowLimits'];
  /**
   * Give up with QuicUnansweredError when not a single packet came back from the server this
   * long after the first Initial (UDP blocked, nothing listening): what the HTTP/2 fallback
   * waits for (odinQuicClient.ts). A server that answers gets the whole `timeoutMs`.
   */
  answerTimeoutMs?: number;
};

/** The server sent nothing back within `answerTimeoutMs`: UDP is probably blocked on the way. */
export class QuicUnansweredError extends Error {
  constructor(host: string, port: number, ms: number) {
    super(`no QUIC packet from ${host}:${port} within ${ms} ms (is UDP blocked?)`);
    this.name = 'QuicUnansweredError';
  }
}

export type WebTransportClient = {
  kind: 'quic';
  endpoint: QuicEndpoint;
  h3: H3Connection;
  session: WebTransportSession;
  close(code?: number, reason?: string): Promise<void>;
};

/** Opens a QUIC connection and a WebTransport session on it. */
export async function connectWebTransport(options: WebTransportClientOptions): Promise<WebTransportClient> {
  const serverName = options.serverName ?? 'localhost';
  const config = createQuicheConfig({
    alpn: ['h3'],
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    disableActiveMigration: false,
    verifyPeer: options.insecure !== true,
    ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
    datagramRecvQueue: 1024,
    datagramSendQueue: 1024,
  });
  const endpoint = await QuicEndpoint.bind({
    host: options.localHost ?? (options.host.includes(':') ? '::1' : '127.0.0.1'),
    port: 0,
    role: 'client',
    config,
    keepAliveMs: options.keepAliveMs ?? 5_000,
  });
  const quic = endpoint.connect(options.host, options.port, serverName);
  let closedReason: string | undefined;
  const h3 = new H3Connection({
    quic,
    role: 'client',
    webTransportDraft: options.draft ?? 'draft02',
    ...(options.flowLimits === undefined ? {} : { flowLimits: options.flowLimits }),
    onClosed: (info) => {
      closedReason = `${info.by}: ${info.reason || `code 0x${info.code.toString(16)}`}`;
    },
  });
  const timeoutMs = options.timeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let answerTimer: NodeJS.Timeout | undefined;
  try {
    const session = await Promise.race([
      h3.connectWebTransport(`${serverName}:${options.port}`, options.path),
      new Promise<never>((_, reject) => {
        const answerMs = options.answerTimeoutMs;
        if (answerMs === undefined) return;
        answerTimer = setTimeout(() => {
          if (endpoint.stats.packetsIn === 0)
            reject(new QuicUnansweredError(options.host, options.port, answerMs));
        }, answerMs);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `WebTransport setup to ${options.host}:${options.port} not done within ${timeoutMs} ms` +
                  (closedReason ? ` (connection closed: ${closedReason})` : ''),
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
    return {
      kind: 'quic',
      endpoint,
      h3,
      session,
      close: async (code = 0, reason = '') => {
        // The close capsule first, in its own flight: a CONNECTION_CLOSE in the same packet
        // would make the server drop the stream data before reading it.
        session.close(code, reason);
        await new Promise((resolve) => setTimeout(resolve, 20));
        h3.close();
        await endpoint.close();
      },
    };
  } catch (error) {
    await endpoint.close();
    throw error;
  } finally {
    clearTimeout(timer);
    clearTimeout(answerTimer);
  }
}
