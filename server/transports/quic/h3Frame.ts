/**
 * HTTP/3 frames (RFC 9114 section 7), stream types (section 6.2) and settings (section 7.2.4),
 * with the WebTransport extensions (draft-ietf-webtrans-http3: draft-02 section 4, later
 * drafts' settings).
 *
 * `FrameReader` parses frames incrementally from a stream's bytes: a frame may arrive in pieces,
 * and several frames in one read.
 */
import { H3ConnectionError, H3Error } from './errors.ts';
import { concatBytes, readVarint, varintLength, writeVarint } from './varint.ts';

/** Frame types (RFC 9114 section 7.2) plus WEBTRANSPORT_STREAM (draft-02 section 4.2). */
export const FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
  /** Not a frame but the signal that turns a bidirectional stream into a WebTransport stream. */
  WEBTRANSPORT_STREAM: 0x41,
} as const;

/** HTTP/2 frame types reserved in HTTP/3: receiving one is H3_FRAME_UNEXPECTED (section 7.2.8). */
export const RESERVED_HTTP2_FRAME_TYPES: ReadonlySet<number> = new Set([0x02, 0x06, 0x08, 0x09]);

/** Unidirectional stream types (RFC 9114 section 6.2, RFC 9204 section 4.2, draft-02 section 4.1). */
export const StreamType = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
  WEBTRANSPORT: 0x54,
} as const;

/** Settings identifiers (RFC 9114 section 7.2.4.1, RFC 9204, RFC 9220, RFC 9297, WebTransport drafts). */
export const Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
  /** RFC 9220 section 3. */
  ENABLE_CONNECT_PROTOCOL: 0x08,
  /** RFC 9297 section 2.1.1. */
  H3_DATAGRAM: 0x33,
  /** draft-ietf-masque-h3-datagram-04, still sent by some clients. */
  H3_DATAGRAM_DRAFT04: 0xffd277,
  /** WebTransport draft-02 section 3.1: what Chromium requires of a server. */
  ENABLE_WEBTRANSPORT: 0x2b603742,
  /** WebTransport drafts 03..07. */
  WEBTRANSPORT_MAX_SESSIONS_DRAFT07: 0xc671706a,
  /** WebTransport drafts 09 and later (SETTINGS_WT_MAX_SESSIONS). */
  WT_MAX_SESSIONS: 0x14e9cd29,
  /**
   * SETTINGS_WT_ENABLED (draft-ietf-webtrans-http3-15/16 section 3.1, replacing
   * WT_MAX_SESSIONS): what a current-draft client (webtransport-go v0.13) requires of a server.
   */
  WT_ENABLED: 0x2c7cf000,
  /** Later drafts' session flow control: initial limits (draft-15/16 section 5.5). */
  WT_INITIAL_MAX_DATA: 0x2b61,
  WT_INITIAL_MAX_STREAMS_UNI: 0x2b64,
  WT_INITIAL_MAX_STREAMS_BIDI: 0x2b65,
} as const;

/** HTTP/2 settings reserved in HTTP/3: receiving one is H3_SETTINGS_ERROR (section 7.2.4.1). */
const RESERVED_HTTP2_SETTINGS: ReadonlySet<number> = new Set([0x00, 0x02, 0x03, 0x04, 0x05]);

export type Frame = { type: number; payload: Uint8Array };

/** One frame's bytes: type, length, payload. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(payload.length) + payload.length);
  let offset = writeVarint(out, 0, type);
  offset = writeVarint(out, offset, payload.length);
  out.set(payload, offset);
  return out;
}

/** A SETTINGS frame's payload: identifier/value pairs (section 7.2.4). */
export function encodeSettings(settings: ReadonlyMap<number, number>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [id, value] of settings) {
    const out = new Uint8Array(varintLength(id) + varintLength(value));
    writeVarint(out, writeVarint(out, 0, id), value);
    parts.push(out);
  }
  return encodeFrame(FrameType.SETTINGS, concatBytes(parts));
}

/**
 * Parses a SETTINGS payload. Duplicate identifiers, HTTP/2 settings and a truncated pair are
 * H3_SETTINGS_ERROR (section 7.2.4); unknown identifiers are kept (and ignored by the caller).
 */
export function parseSettings(payload: Uint8Array): Map<number, number> {
  const settings = new Map<number, number>();
  let offset = 0;
  while (offset < payload.length) {
    const id = safeVarint(payload, offset, H3Error.SETTINGS_ERROR);
    const value = id === undefined ? undefined : safeVarint(payload, id.next, H3Error.SETTINGS_ERROR);
    if (id === undefined || value === undefined) {
      throw new H3ConnectionError(H3Error.FRAME_ERROR, 'SETTINGS: truncated identifier/value pair');
    }
    if (RESERVED_HTTP2_SETTINGS.has(id.value)) {
      throw new H3ConnectionError(
        H3Error.SETTINGS_ERROR,
        `SETTINGS: HTTP/2 setting 0x${id.value.toString(16)}`,
      );
    }
    if (settings.has(id.value)) {
      throw new H3ConnectionError(H3Error.SETTINGS_ERROR, `SETTINGS: duplicate 0x${id.value.toString(16)}`);
    }
    settings.set(id.value, value.value);
    offset = value.next;
  }
  return settings;
}

/** A GOAWAY frame (section 7.2.6): the id of the first request stream that will not be served. */
export function encodeGoaway(streamId: number): Uint8Array {
  const payload = new Uint8Array(varintLength(streamId));
  writeVarint(payload, 0, streamId);
  return encodeFrame(FrameType.GOAWAY, payload);
}

/** Parses one varint of a frame payload; a value too large for us is a framing error. */
export function safeVarint(bytes: Uint8Array, offset: number, code: number = H3Error.FRAME_ERROR) {
  try {
    return readVarint(bytes, offset);
  } catch {
    throw new H3ConnectionError(code, 'varint above 2^53 - 1');
  }
}

/**
 * Incremental frame parser for one stream. `push` appends bytes; `next` returns the next whole
 * frame, or undefined until more bytes arrive. A frame longer than `maxPayload` is refused as
 * soon as its length is known (H3_EXCESSIVE_LOAD: we do not buffer what we will not use).
 */
/** What a reader holds when it holds nothing (shared: an empty view pins no received chunk). */
const NOTHING = new Uint8Array(0);

export class FrameReader {
  #buffer: Uint8Array = NOTHING;
  #offset = 0;
  readonly #maxPayload: number;

  constructor(maxPayload: number) {
    this.#maxPayload = maxPayload;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#buffer.length - this.#offset;
  }

  push(bytes: Uint8Array): void {
    if (this.#offset >= this.#buffer.length) {
      this.#buffer = bytes;
    } else {
      this.#buffer = concatBytes([this.#buffer.subarray(this.#offset), bytes]);
    }
    this.#offset = 0;
  }

  /** Takes the bytes not yet parsed (after a stream switched from frames to raw data). */
  takeRest(): Uint8Array {
    const rest = this.#buffer.subarray(this.#offset);
    this.#buffer = NOTHING;
    this.#offset = 0;
    return rest;
  }

  /**
   * Moves past `end`; a chunk read to its end is let go at once. Otherwise an idle stream's
   * reader kept its last chunk (with the addon, an ArrayBuffer of its own per chunk) until
   * the next one arrived: a few hundred bytes per long-lived stream, several per session.
   */
  #advance(end: number): void {
    if (end >= this.#buffer.length) {
      this.#buffer = NOTHING;
      this.#offset = 0;
    } else {
      this.#offset = end;
    }
  }

  /** Reads just a varint at the front (stream types and WebTransport stream headers). */
  nextVarint(): number | undefined {
    const read = safeVarint(this.#buffer, this.#offset);
    if (read === undefined) return undefined;
    this.#advance(read.next);
    return read.value;
  }

  next(): Frame | undefined {
    const type = safeVarint(this.#buffer, this.#offset);
    if (type === undefined) return undefined;
    const length = safeVarint(this.#buffer, type.next);
    if (length === undefined) return undefined;
    if (length.value > this.#maxPayload) {
      throw new H3ConnectionError(
        H3Error.EXCESSIVE_LOAD,
        `frame 0x${type.value.toString(16)} of ${length.value} bytes exceeds our limit of ${this.#maxPayload}`,
      );
    }
    const end = length.next + length.value;
    if (end > this.#buffer.length) return undefined;
    const payload = this.#buffer.subarray(length.next, end);
    this.#advance(end);
    return { type: type.value, payload };
  }
}
