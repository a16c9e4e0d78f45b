/**
 * What a WebTransport session and its streams look like to the code above them (odinSession.ts
 * on the server, client/quic/ on the client), whichever protocol carries them: HTTP/3
 * (webTransport.ts) or HTTP/2 (h2WebTransport.ts). Both classes satisfy these shapes, so the
 * ODIN session over either behaves the same (docs/protocol.md).
 */
import type { SessionCloseInfo, WebTransportStreamHandler } from './webTransport.ts';

export type { SessionCloseInfo, WebTransportStreamHandler } from './webTransport.ts';

export interface WtStream {
  readonly id: number;
  readonly bidirectional: boolean;
  /** Sets the handler and hands it what arrived before. */
  setHandler(handler: WebTransportStreamHandler): void;
  /** Sends bytes reliably (FIN with `fin`); false when the stream or session is gone. */
  write(bytes: Uint8Array, fin?: boolean): boolean;
  reset(code?: number): void;
  stopSending(code?: number): void;
}

export interface WtSessionHandler<S extends WtStream = WtStream> {
  /** A stream the peer opened. */
  onStream(stream: S): void;
  /** HOT PATH: one datagram's payload. */
  onDatagram(payload: Uint8Array): void;
  /** The session ended. Once. */
  onClose(info: SessionCloseInfo): void;
  onDrain?(): void;
}

export interface WtSession {
  /** `host:port` of the peer. */
  readonly remoteAddress: string;
  /** Bytes written to the session's streams and not yet sent (a slow reader shows here). */
  readonly unsentBytes: number;
  handler: WtSessionHandler;
  openBidiStream(): WtStream;
  /** HOT PATH: one datagram; false when dropped. */
  sendDatagram(payload: Uint8Array): boolean;
  close(code?: number, reason?: string): void;
}
