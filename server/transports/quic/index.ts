/**
 * The QUIC stack's surface for its other end: what `client/quic/` needs to open a
 * WebTransport session with the same modules the server runs, in the client role (QUIC
 * endpoint, HTTP/3 connection, WebTransport streams, ODIN message framing). The client imports
 * this file only, so the stack's files can be rearranged behind it (docs/architecture.md).
 */
export type { QuicEndpointStats } from './endpointStats.ts';
export {
  H2_SETTING_IDS,
  h2PeerLimits,
  h2Settings,
  parseWebTransportInit,
  webTransportInitHeader,
} from './h2Server.ts';
export { connectStreamSink, H2WebTransportSession, type H2WebTransportStream } from './h2WebTransport.ts';
export { H3Connection, type H3ConnectionParams } from './h3Connection.ts';
export { frameMessage, MessageReader } from './messageFraming.ts';
export { nativeAddonBuilt } from './nativeAddon.ts';
export { NativeQuicClientEndpoint } from './nativeClientEndpoint.ts';
export type { ConnectionCore, QuicConnection } from './quicConnection.ts';
export { CLIENT_RECEIVE_WINDOWS } from './quiche.ts';
export type { WebTransportDraft, WebTransportSession, WebTransportStream } from './webTransport.ts';
export type { WtSession, WtStream } from './webTransportSurface.ts';
