/**
 * Error codes of the QUIC transport's layers, in one place (RFC 9114 section 8.1, RFC 9204
 * section 6, WebTransport over HTTP/3 draft-02 section 4.3 / later drafts), and the error
 * class that carries one of them up to the connection, which closes with it.
 */

/** HTTP/3 error codes (RFC 9114 section 8.1). */
export const H3Error = {
  NO_ERROR: 0x0100,
  GENERAL_PROTOCOL_ERROR: 0x0101,
  INTERNAL_ERROR: 0x0102,
  STREAM_CREATION_ERROR: 0x0103,
  CLOSED_CRITICAL_STREAM: 0x0104,
  FRAME_UNEXPECTED: 0x0105,
  FRAME_ERROR: 0x0106,
  EXCESSIVE_LOAD: 0x0107,
  ID_ERROR: 0x0108,
  SETTINGS_ERROR: 0x0109,
  MISSING_SETTINGS: 0x010a,
  REQUEST_REJECTED: 0x010b,
  REQUEST_CANCELLED: 0x010c,
  REQUEST_INCOMPLETE: 0x010d,
  MESSAGE_ERROR: 0x010e,
  CONNECT_ERROR: 0x010f,
  VERSION_FALLBACK: 0x0110,
  /** RFC 9204 section 6. */
  QPACK_DECOMPRESSION_FAILED: 0x0200,
  QPACK_ENCODER_STREAM_ERROR: 0x0201,
  QPACK_DECODER_STREAM_ERROR: 0x0202,
  /** RFC 9297 section 5.2. */
  DATAGRAM_ERROR: 0x33,
} as const;

export type H3ErrorCode = (typeof H3Error)[keyof typeof H3Error];

/** WebTransport over HTTP/3 error codes (draft-ietf-webtrans-http3, "IANA Considerations"). */
export const WebTransportError = {
  /** The session of a stream is gone or never existed. */
  BUFFERED_STREAM_REJECTED: 0x3994bd84,
  SESSION_GONE: 0x170d7b68,
  /** A session error (close code): the peer broke session flow control (draft-15/16 section 5.6). */
  FLOW_CONTROL_ERROR: 0x045d4487,
} as const;

/** The application error code range WebTransport maps its 32-bit codes onto (draft-02 section 4.3). */
export function webTransportCodeToHttp3(code: number): number {
  return 0x52e4a40fa8db + code + Math.floor(code / 0x1e);
}

/**
 * A violation that ends the whole HTTP/3 connection with `code` (RFC 9114 section 8: "connection
 * error"). Parsers throw it; the connection catches it and closes the QUIC connection.
 */
export class H3ConnectionError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'H3ConnectionError';
    this.code = code;
  }
}

/** A violation confined to one stream (RFC 9114 section 8: "stream error"). */
export class H3StreamError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'H3StreamError';
    this.code = code;
  }
}
