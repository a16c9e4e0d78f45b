/**
 * Node's HTTP(S) server options that bound what a connection may hold before it is a client
 * (docs/security.md, "The web listener").
 */
import type { HttpConfig } from '../../config/index.ts';

/**
 * The timeouts of the `[http]` listener's HTTP(S) server (docs/security.md). Node's defaults
 * hold a silent TCP connection 120 s before its TLS hello and a slowloris 60 s per header set.
 */
export function httpServerLimits(http: HttpConfig) {
  return {
    // tls.Server: the whole TLS handshake, from the TCP accept.
    handshakeTimeout: http.handshake_timeout,
    // http.Server: complete headers, and the complete request, within request_timeout of the
    // connection (or of the previous request on a kept-alive connection). Node checks these
    // every connectionsCheckingInterval (30 s by default, far coarser than the timeouts).
    headersTimeout: http.request_timeout,
    requestTimeout: http.request_timeout,
    connectionsCheckingInterval: Math.min(1_000, http.request_timeout),
    // An idle kept-alive connection between requests (Node's default, stated here on purpose).
    keepAliveTimeout: 5_000,
  };
}
