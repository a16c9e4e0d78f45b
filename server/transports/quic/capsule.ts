/**
 * Capsules (RFC 9297 section 3.2): type, length, value, carried in the DATA frames of the
 * extended CONNECT stream that opened a WebTransport session. WebTransport defines
 * CLOSE_WEBTRANSPORT_SESSION (draft-02 section 5; later drafts keep it as WT_CLOSE_SESSION),
 * DRAIN_WEBTRANSPORT_SESSION (later drafts: WT_DRAIN_SESSION) and the later drafts' session
 * flow-control capsules (sessionFlowControl.ts); unknown capsule types are skipped (RFC 9297
 * section 3.2: "an intermediary ... MUST ignore unknown capsule types").
 */
import { H3ConnectionError, H3Error } from './errors.ts';
import { concatBytes, readVarint, varintLength, writeVarint } from './varint.ts';

export const CapsuleType = {
  /** RFC 9297 section 3.5. */
  DATAGRAM: 0x00,
  CLOSE_WEBTRANSPORT_SESSION: 0x2843,
  DRAIN_WEBTRANSPORT_SESSION: 0x78ae,
  /** draft-ietf-webtrans-http3-15/16 section 5.6 (flow control capsules); same codepoints since draft-07. */
  WT_MAX_DATA: 0x190b4d3d,
  WT_MAX_STREAMS_BIDI: 0x190b4d3f,
  WT_MAX_STREAMS_UNI: 0x190b4d40,
  WT_DATA_BLOCKED: 0x190b4d41,
  WT_STREAMS_BLOCKED_BIDI: 0x190b4d43,
  WT_STREAMS_BLOCKED_UNI: 0x190b4d44,
} as const;

/** Longest reason a CLOSE_WEBTRANSPORT_SESSION may carry (draft-02 section 5). */
export const MAX_CLOSE_REASON_BYTES = 1024;

export type Capsule = { type: number; value: Uint8Array };

export type SessionClose = { code: number; reason: string };

export function encodeCapsule(type: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(value.length) + value.length);
  out.set(value, writeVarint(out, writeVarint(out, 0, type), value.length));
  return out;
}

/** A capsule whose value is one varint (the flow-control capsules, section 5.6). */
export function encodeVarintCapsule(type: number, value: number): Uint8Array {
  const body = new Uint8Array(varintLength(value));
  writeVarint(body, 0, value);
  return encodeCapsule(type, body);
}

/** CLOSE_WEBTRANSPORT_SESSION: a 32-bit error code and a UTF-8 reason (cut to 1024 bytes). */
export function encodeCloseSession(code: number, reason: string): Uint8Array {
  let text = new TextEncoder().encode(reason);
  if (text.length > MAX_CLOSE_REASON_BYTES) text = text.subarray(0, MAX_CLOSE_REASON_BYTES);
  const value = new Uint8Array(4 + text.length);
  new DataView(value.buffer).setUint32(0, code >>> 0);
  value.set(text, 4);
  return encodeCapsule(CapsuleType.CLOSE_WEBTRANSPORT_SESSION, value);
}

export function parseCloseSession(value: Uint8Array): SessionClose {
  if (value.length < 4 || value.length > 4 + MAX_CLOSE_REASON_BYTES) {
    throw new H3ConnectionError(
      H3Error.MESSAGE_ERROR,
      `CLOSE_WEBTRANSPORT_SESSION of ${value.length} bytes (must be 4..${4 + MAX_CLOSE_REASON_BYTES})`,
    );
  }
  const code = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  return { code, reason: new TextDecoder().decode(value.subarray(4)) };
}

/** Incremental capsule parser over the concatenated DATA payloads of one stream. */
export class CapsuleReader {
  #buffer: Uint8Array = new Uint8Array(0);
  readonly #maxValue: number;

  constructor(maxValue: number) {
    this.#maxValue = maxValue;
  }

  push(bytes: Uint8Array): void {
    this.#buffer = this.#buffer.length === 0 ? bytes : concatBytes([this.#buffer, bytes]);
  }

  next(): Capsule | undefined {
    let type: ReturnType<typeof readVarint>;
    let length: ReturnType<typeof readVarint>;
    try {
      type = readVarint(this.#buffer, 0);
      length = type === undefined ? undefined : readVarint(this.#buffer, type.next);
    } catch {
      throw new H3ConnectionError(H3Error.MESSAGE_ERROR, 'capsule: varint above 2^53 - 1');
    }
    if (type === undefined || length === undefined) return undefined;
    if (length.value > this.#maxValue) {
      throw new H3ConnectionError(
        H3Error.EXCESSIVE_LOAD,
        `capsule 0x${type.value.toString(16)} of ${length.value} bytes exceeds our limit of ${this.#maxValue}`,
      );
    }
    const end = length.next + length.value;
    if (end > this.#buffer.length) return undefined;
    const value = this.#buffer.subarray(length.next, end);
    this.#buffer = this.#buffer.subarray(end);
    return { type: type.value, value };
  }
}
