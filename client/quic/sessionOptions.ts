/**
 * The options both WebTransport clients take (over QUIC, webTransportClient.ts, and over
 * HTTP/2, http2WebTransportClient.ts): one definition, so the HTTP/2 fallback of
 * odinQuicClient.ts reaches the server the same way QUIC would.
 */
import { isIP } from 'node:net';

export type WebTransportSessionOptions = {
  /** The server: an IP address or a host name (resolved with node:dns, as a browser would). */
  host: string;
  /** The server's port: UDP of `[quic]` for QUIC, TCP of `[http]` for HTTP/2. */
  port: number;
  /** `:path` of the CONNECT, e.g. `/odin`. */
  path: string;
  /**
   * TLS server name and `:authority` host. Default: `host` when it is a name (what a browser
   * does with `https://name:port`), `localhost` when it is an IP address.
   */
  serverName?: string;
  /** PEM to trust; without it (and without `insecure`) the system's roots are used. */
  caPem?: string;
  /** Skip certificate verification (development and tests only). */
  insecure?: boolean;
  /** Whole setup (QUIC handshake or TCP + TLS, then SETTINGS, CONNECT), ms. Default 5000. */
  timeoutMs?: number;
  /**
   * Keep-alive, ms: a QUIC PING after this long without traffic, or an HTTP/2 PING frame at this
   * interval (keeps NATs open, lets the server see we are alive); 0: never. Default 5000.
   */
  keepAliveMs?: number;
};

/** The TLS server name when none is given: the host name, or `localhost` for an IP address. */
export function defaultServerName(options: Pick<WebTransportSessionOptions, 'host' | 'serverName'>): string {
  return options.serverName ?? (isIP(options.host) === 0 ? options.host : 'localhost');
}
