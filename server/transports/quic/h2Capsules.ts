/**
 * The capsules of WebTransport over HTTP/2 (draft-ietf-webtrans-http2, section 6 "WebTransport
 * Capsules"): on HTTP/2 there are no QUIC streams or datagrams, so everything a session carries
 * rides the CONNECT stream's DATA frames as capsules (RFC 9297 section 3.2): stream data
 * (WT_STREAM), stream resets and stops, per-stream flow control, and datagrams as DATAGRAM
 * capsules (RFC 9297 section 3.5). The session-level flow-control capsules (WT_MAX_DATA,
 * WT_MAX_STREAMS, WT_DATA_BLOCKED, WT_STREAMS_BLOCKED) and WT_CLOSE_SESSION / WT_DRAIN_SESSION
 * share their codepoints with WebTransport over HTTP/3 (capsule.ts).
 *
 * Codepoints as in the draft's IANA section (checked against the editors' copy,
 * ietf-wg-webtrans/draft-ietf-webtrans-http2). WT_STREAM: the draft says both "the least
 * significant bit is the FIN bit" and "any number of 0x190B4D3B capsules followed by a terminal
 * 0x190B4D3C"; the two disagree (0x3B is odd). We follow the second, as Google's quiche and
 * Meta's proxygen do: 0x190B4D3B is data, 0x190B4D3C is data with FIN.
 */
import { readVarint, varintLength, writeVarint } from './varint.ts';

export const H2CapsuleType = {
  /** Section 6.1: no meaning, skipped. */
  PADDING: 0x190b4d38,
  /** Section 6.2: Stream ID, Application Protocol Error Code, Reliable Size. */
  WT_RESET_STREAM: 0x190b4d39,
  /** Section 6.3: Stream ID, Application Protocol Error Code. */
  WT_STOP_SENDING: 0x190b4d3a,
  /** Section 6.4: Stream ID, Stream Data. */
  WT_STREAM: 0x190b4d3b,
  WT_STREAM_FIN: 0x190b4d3c,
  /** Section 6.6: Stream ID, Maximum Stream Data. */
  WT_MAX_STREAM_DATA: 0x190b4d3e,
  /** Section 6.9: Stream ID, Maximum Stream Data. */
  WT_STREAM_DATA_BLOCKED: 0x190b4d42,
} as const;

/**
 * HTTP/2 SETTINGS of the draft (section 9.1): the initial flow-control limits an endpoint
 * grants every session of the connection. HTTP/2 settings are 16-bit ids with 32-bit values.
 */
export const H2Setting = {
  WT_INITIAL_MAX_DATA: 0x2b61,
  WT_INITIAL_MAX_STREAM_DATA_UNI: 0x2b62,
  WT_INITIAL_MAX_STREAM_DATA_BIDI: 0x2b63,
  WT_INITIAL_MAX_STREAMS_UNI: 0x2b64,
  WT_INITIAL_MAX_STREAMS_BIDI: 0x2b65,
} as const;

/** A capsule value that does not have the shape its type requires: a session error. */
export class H2CapsuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'H2CapsuleError';
  }
}

/** WT_STREAM: the stream id, then the data (a view into the capsule value, not a copy). */
export type StreamCapsule = { streamId: number; data: Uint8Array };

/**
 * Reads exactly `count` varints from a capsule value (the fixed-shape capsules: reset, stop,
 * stream flow control); anything short, long or above 2^53 - 1 is an H2CapsuleError naming `what`.
 */
export function readVarints(value: Uint8Array, count: number, what: string): number[] {
  const out: number[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const read = readVarint(value, offset);
    if (read === undefined)
      throw new H2CapsuleError(`${what}: ${value.length} bytes end before field ${i + 1} of ${count}`);
    if (!Number.isSafeInteger(read.value)) throw new H2CapsuleError(`${what}: field ${i + 1} above 2^53 - 1`);
    out.push(read.value);
    offset = read.next;
  }
  if (offset !== value.length)
    throw new H2CapsuleError(`${what}: ${value.length - offset} bytes after its ${count} fields`);
  return out;
}

/** WT_STREAM's value (section 6.4): a varint stream id, the rest is data. */
export function parseStreamCapsule(value: Uint8Array): StreamCapsule {
  const id = readVarint(value, 0);
  if (id === undefined) throw new H2CapsuleError('WT_STREAM without a stream id');
  if (!Number.isSafeInteger(id.value)) throw new H2CapsuleError('WT_STREAM: stream id above 2^53 - 1');
  return { streamId: id.value, data: value.subarray(id.next) };
}

/** A capsule whose value is a list of varints (reset, stop sending, stream flow control). */
export function encodeVarintsCapsule(type: number, values: readonly number[]): Uint8Array {
  let length = 0;
  for (const value of values) length += varintLength(value);
  const out = new Uint8Array(varintLength(type) + varintLength(length) + length);
  let offset = writeVarint(out, writeVarint(out, 0, type), length);
  for (const value of values) offset = writeVarint(out, offset, value);
  return out;
}

/** WT_STREAM (or WT_STREAM_FIN with `fin`) carrying `data` of stream `streamId`. */
export function encodeStreamCapsule(streamId: number, data: Uint8Array, fin: boolean): Uint8Array {
  const type = fin ? H2CapsuleType.WT_STREAM_FIN : H2CapsuleType.WT_STREAM;
  const length = varintLength(streamId) + data.length;
  const out = new Uint8Array(varintLength(type) + varintLength(length) + length);
  const offset = writeVarint(out, writeVarint(out, writeVarint(out, 0, type), length), streamId);
  out.set(data, offset);
  return out;
}

/** Client-initiated streams have even ids, bidirectional ones have bit 1 clear (RFC 9000 section 2.1). */
export function streamIdInfo(id: number): { clientInitiated: boolean; bidirectional: boolean } {
  return { clientInitiated: id % 2 === 0, bidirectional: Math.floor(id / 2) % 2 === 0 };
}

/** The `n`th (from 0) stream id of a kind: what `streamIdInfo` reads back. */
export function nthStreamId(n: number, clientInitiated: boolean, bidirectional: boolean): number {
  return n * 4 + (clientInitiated ? 0 : 1) + (bidirectional ? 0 : 2);
}
