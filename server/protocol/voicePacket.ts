/**
 * HOT PATH: voice packets. Every forwarded packet goes through readVoiceHeader, so this
 * module is written for speed: no allocation, no closures, no exceptions, module-level
 * scratch state instead of result objects. Keep it that way (measure before changing).
 *
 * Layout (ODIN-PROTOCOL.md section 2, "Voice packets"), one MessagePack array per packet:
 *
 *   [1, [media_id, ...], seq: u32, ts: u32, flags, (u32 if flags & 2), (array if flags & 4), opus: bin]
 *
 * The server only needs the media ids; it forwards the bytes unchanged. The parser still walks
 * the whole structure (skipping the opus payload by its length) so that a packet whose
 * framing is broken is never forwarded. Elements after the flag-selected ones and before the
 * trailing bin are skipped, to tolerate fields a newer client may add. Untrusted input: every
 * read is bounds-checked, the parser never throws and never reads out of bounds.
 * MessagePack formats: https://github.com/msgpack/msgpack/blob/master/spec.md#formats
 */
import { encodeMsgpack } from './msgpackRpc.ts';

/** Most media ids one packet may name (the SDK sends one; more is abuse). */
export const MAX_VOICE_MEDIA_IDS = 16;
/** The first element of every voice packet. */
export const VOICE_PACKET_MARKER = 1;
/** flags & 2: a u32 follows the flags. */
export const VOICE_FLAG_U32 = 2;
/** flags & 4: an array follows (after the u32 when both are set). */
export const VOICE_FLAG_ARRAY = 4;

/** A reusable parse result: allocate once with createVoiceHeader(), refill per packet. */
export type VoiceHeader = {
  /** How many media ids the packet names (1..MAX_VOICE_MEDIA_IDS). */
  mediaIdCount: number;
  /** The media ids, valid up to mediaIdCount. */
  readonly mediaIds: Uint16Array;
  /** Byte offset of the media-id array header and the offset just after its last id. */
  mediaIdsStart: number;
  mediaIdsEnd: number;
  seq: number;
  ts: number;
  flags: number;
  /** Byte offset and length of the opus payload. */
  opusStart: number;
  opusLength: number;
};

export function createVoiceHeader(): VoiceHeader {
  return {
    mediaIdCount: 0,
    mediaIds: new Uint16Array(MAX_VOICE_MEDIA_IDS),
    mediaIdsStart: 0,
    mediaIdsEnd: 0,
    seq: 0,
    ts: 0,
    flags: 0,
    opusStart: 0,
    opusLength: 0,
  };
}

// Scratch "second return value" of the readers below: the position after what was read.
let next = 0;

/**
 * An integer in [0, 2^32 - 1] at `pos`, in any MessagePack integer encoding (fixint, uint8-64,
 * int8-64), or -1. Sets `next`.
 */
function readU32(buf: Uint8Array, pos: number): number {
  const len = buf.length;
  if (pos >= len) return -1;
  const b = buf[pos]!;
  if (b <= 0x7f) {
    next = pos + 1;
    return b;
  }
  switch (b) {
    case 0xcc:
      if (pos + 2 > len) return -1;
      next = pos + 2;
      return buf[pos + 1]!;
    case 0xcd:
      if (pos + 3 > len) return -1;
      next = pos + 3;
      return (buf[pos + 1]! << 8) | buf[pos + 2]!;
    case 0xce:
      if (pos + 5 > len) return -1;
      next = pos + 5;
      return ((buf[pos + 1]! << 24) >>> 0) + ((buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!);
    case 0xcf: // uint64
    case 0xd3: // int64
      // A wider encoding is legal MessagePack for a small value (an encoder may always write
      // 64 bits): accepted when the value fits 32 bits unsigned, i.e. the high half is 0 (for
      // int64 that also means not negative).
      if (pos + 9 > len) return -1;
      if ((buf[pos + 1]! | buf[pos + 2]! | buf[pos + 3]! | buf[pos + 4]!) !== 0) return -1;
      next = pos + 9;
      return ((buf[pos + 5]! << 24) >>> 0) + ((buf[pos + 6]! << 16) | (buf[pos + 7]! << 8) | buf[pos + 8]!);
    // Signed encodings of a value >= 0 (sign bit clear); a negative value fits no field.
    case 0xd0: // int8
      if (pos + 2 > len || buf[pos + 1]! > 0x7f) return -1;
      next = pos + 2;
      return buf[pos + 1]!;
    case 0xd1: // int16
      if (pos + 3 > len || buf[pos + 1]! > 0x7f) return -1;
      next = pos + 3;
      return (buf[pos + 1]! << 8) | buf[pos + 2]!;
    case 0xd2: // int32
      if (pos + 5 > len || buf[pos + 1]! > 0x7f) return -1;
      next = pos + 5;
      return (buf[pos + 1]! << 24) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!;
    default:
      return -1; // negative fixint, float, nil, anything else
  }
}

/** An array header at `pos`: its element count, or -1. Sets `next`. */
function readArrayHeader(buf: Uint8Array, pos: number): number {
  const len = buf.length;
  if (pos >= len) return -1;
  const b = buf[pos]!;
  if ((b & 0xf0) === 0x90) {
    next = pos + 1;
    return b & 0x0f;
  }
  if (b === 0xdc) {
    if (pos + 3 > len) return -1;
    next = pos + 3;
    return (buf[pos + 1]! << 8) | buf[pos + 2]!;
  }
  if (b === 0xdd) {
    if (pos + 5 > len) return -1;
    next = pos + 5;
    return ((buf[pos + 1]! << 24) >>> 0) + ((buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!);
  }
  return -1;
}

function be16(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 8) | buf[pos + 1]!;
}

function be32(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 24) >>> 0) + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
}

/** MessagePack's one predefined extension type: timestamp (-1, sent as the byte 0xff). */
const EXT_TIMESTAMP = 0xff;

/**
 * Whether an extension value of `type` (its raw byte) and `dataLength` is well-formed. Only
 * the timestamp type has a fixed shape (4, 8 or 12 bytes, MessagePack spec); any other
 * size makes the web SDK's decoder throw on the whole packet, so forwarding one would hand
 * every web listener a packet it cannot read (found by `npm run fuzz`, voicePacket target).
 */
function validExtension(type: number, dataLength: number): boolean {
  return type !== EXT_TIMESTAMP || dataLength === 4 || dataLength === 8 || dataLength === 12;
}

/** Deepest container nesting skipValues walks (the web SDK's decoder has no use for more). */
const MAX_SKIP_DEPTH = 32;
// skipValues' stack, allocated once (it runs per voice packet and never re-enters): values left
// in each container being walked (a map32 declares up to 2^33), and what its next value is.
const levelLeft = new Float64Array(MAX_SKIP_DEPTH);
const levelKind = new Uint8Array(MAX_SKIP_DEPTH);
const ARRAY = 0;
const MAP_KEY_NEXT = 1;
const MAP_VALUE_NEXT = 2;

/**
 * Whether the value starting with type byte `b` may be a map key for the web SDK's decoder
 * (@msgpack/msgpack: a string or a number; anything else throws on the whole packet).
 */
function validMapKey(b: number): boolean {
  return (
    b <= 0x7f || // positive fixint
    b >= 0xe0 || // negative fixint
    (b >= 0xa0 && b <= 0xbf) || // fixstr
    (b >= 0xca && b <= 0xd3) || // float32/64, uint8-64, int8-64
    (b >= 0xd9 && b <= 0xdb) // str8/16/32
  );
}

/**
 * Skips `count` MessagePack values starting at `pos`, iteratively: a small stack of the
 * containers being walked (at most MAX_SKIP_DEPTH deep) says how many values each has left and
 * whether the next one is a map key. Returns the position after them, or -1 when the bytes end
 * early, hold an invalid byte, nest too deep or have a map key the web SDK cannot decode.
 */
function skipValues(buf: Uint8Array, pos: number, count: number): number {
  const len = buf.length;
  let p = pos;
  let left = count; // values left to walk, at every level
  let top = 0;
  levelLeft[0] = count;
  levelKind[0] = ARRAY;
  while (left > 0) {
    // Every value takes at least one byte: a count beyond the bytes left cannot be valid.
    if (left > len - p) return -1;
    while (levelLeft[top] === 0) top--;
    const b = buf[p]!;
    left--;
    levelLeft[top]!--;
    const kind = levelKind[top]!;
    if (kind === MAP_KEY_NEXT && !validMapKey(b)) return -1;
    if (kind !== ARRAY) levelKind[top] = kind === MAP_KEY_NEXT ? MAP_VALUE_NEXT : MAP_KEY_NEXT;
    let size = 0; // bytes after the type byte
    let children = 0; // values inside this one, if it is a container
    let isMap = false;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      size = 0;
    } else if (b <= 0x8f) {
      children = 2 * (b & 0x0f);
      isMap = true;
    } else if (b <= 0x9f) {
      children = b & 0x0f;
    } else if (b <= 0xbf) {
      size = b & 0x1f;
    } else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          size = 1;
          break;
        case 0xcd:
        case 0xd1:
          size = 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          size = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          size = 8;
          break;
        case 0xd4: // fixext 1, 2, 4, 8, 16: a type byte, then 1 << (b - 0xd4) data bytes
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: {
          const dataLength = 1 << (b - 0xd4);
          if (p + 2 > len || !validExtension(buf[p + 1]!, dataLength)) return -1;
          size = 1 + dataLength;
          break;
        }
        case 0xc4:
        case 0xd9:
          if (p + 2 > len) return -1;
          size = 1 + buf[p + 1]!;
          break;
        case 0xc5:
        case 0xda:
          if (p + 3 > len) return -1;
          size = 2 + be16(buf, p + 1);
          break;
        case 0xc6:
        case 0xdb:
          if (p + 5 > len) return -1;
          size = 4 + be32(buf, p + 1);
          break;
        case 0xc7:
          if (p + 3 > len || !validExtension(buf[p + 2]!, buf[p + 1]!)) return -1;
          size = 2 + buf[p + 1]!;
          break;
        case 0xc8:
          if (p + 4 > len || !validExtension(buf[p + 3]!, be16(buf, p + 1))) return -1;
          size = 3 + be16(buf, p + 1);
          break;
        case 0xc9:
          if (p + 6 > len || !validExtension(buf[p + 5]!, be32(buf, p + 1))) return -1;
          size = 5 + be32(buf, p + 1);
          break;
        case 0xdc:
          if (p + 3 > len) return -1;
          children = be16(buf, p + 1);
          size = 2;
          break;
        case 0xdd:
          if (p + 5 > len) return -1;
          children = be32(buf, p + 1);
          size = 4;
          break;
        case 0xde:
          if (p + 3 > len) return -1;
          children = 2 * be16(buf, p + 1);
          isMap = true;
          size = 2;
          break;
        case 0xdf:
          if (p + 5 > len) return -1;
          children = 2 * be32(buf, p + 1);
          isMap = true;
          size = 4;
          break;
        default:
          return -1; // 0xc1 is never used
      }
    }
    p += 1 + size;
    if (p > len) return -1;
    if (children > 0) {
      if (top + 1 >= MAX_SKIP_DEPTH) return -1;
      left += children;
      top++;
      levelLeft[top] = children;
      levelKind[top] = isMap ? MAP_KEY_NEXT : ARRAY;
    }
  }
  return p;
}

/**
 * Parses the voice packet in `buf` into `out` (no allocation). Returns the number of media
 * ids (>= 1), or -1 when the packet is malformed (then `out` holds garbage).
 */
export function readVoiceHeader(buf: Uint8Array, out: VoiceHeader): number {
  const len = buf.length;
  const elements = readArrayHeader(buf, 0);
  if (elements < 6) return -1;
  let p = next;
  if (readU32(buf, p) !== VOICE_PACKET_MARKER) return -1;
  p = next;
  out.mediaIdsStart = p;
  const count = readArrayHeader(buf, p);
  if (count < 1 || count > MAX_VOICE_MEDIA_IDS) return -1;
  p = next;
  const ids = out.mediaIds;
  for (let i = 0; i < count; i++) {
    const id = readU32(buf, p);
    if (id < 0 || id > 0xffff) return -1;
    ids[i] = id;
    p = next;
  }
  out.mediaIdsEnd = p;
  out.mediaIdCount = count;
  const seq = readU32(buf, p);
  if (seq < 0) return -1;
  const ts = readU32(buf, next);
  if (ts < 0) return -1;
  const flags = readU32(buf, next);
  if (flags < 0) return -1;
  p = next;
  out.seq = seq;
  out.ts = ts;
  out.flags = flags;
  let used = 5;
  if ((flags & VOICE_FLAG_U32) !== 0) {
    if (readU32(buf, p) < 0) return -1;
    p = next;
    used++;
  }
  if ((flags & VOICE_FLAG_ARRAY) !== 0) {
    const n = readArrayHeader(buf, p);
    if (n < 0) return -1;
    p = skipValues(buf, next, n);
    if (p < 0) return -1;
    used++;
  }
  const rest = elements - used;
  if (rest < 1) return -1;
  if (rest > 1) {
    p = skipValues(buf, p, rest - 1);
    if (p < 0) return -1;
  }
  // The opus payload: bin8/16/32 reaching exactly the end of the packet.
  if (p >= len) return -1;
  const b = buf[p]!;
  let size: number;
  let start: number;
  if (b === 0xc4) {
    if (p + 2 > len) return -1;
    size = buf[p + 1]!;
    start = p + 2;
  } else if (b === 0xc5) {
    if (p + 3 > len) return -1;
    size = be16(buf, p + 1);
    start = p + 3;
  } else if (b === 0xc6) {
    if (p + 5 > len) return -1;
    size = be32(buf, p + 1);
    start = p + 5;
  } else {
    return -1;
  }
  if (start + size !== len) return -1;
  out.opusStart = start;
  out.opusLength = size;
  return count;
}

function uintSize(v: number): number {
  return v <= 0x7f ? 1 : v <= 0xff ? 2 : 3;
}

function writeUint16Min(dst: Uint8Array, pos: number, v: number): number {
  if (v <= 0x7f) {
    dst[pos] = v;
    return pos + 1;
  }
  if (v <= 0xff) {
    dst[pos] = 0xcc;
    dst[pos + 1] = v;
    return pos + 2;
  }
  dst[pos] = 0xcd;
  dst[pos + 1] = v >>> 8;
  dst[pos + 2] = v & 0xff;
  return pos + 3;
}

/**
 * A copy of the packet `buf` (already parsed into `header`) with its media-id list replaced
 * by the first `count` ids of `mediaIds` (uint16, count 1..15): used when one packet names
 * medias in several rooms and each room must see only its own ids. Everything else is copied
 * byte for byte; the outer array length does not change.
 */
export function rewriteMediaIds(
  buf: Uint8Array,
  header: VoiceHeader,
  mediaIds: ArrayLike<number>,
  count: number = mediaIds.length,
): Uint8Array {
  let idsSize = 1;
  for (let i = 0; i < count; i++) idsSize += uintSize(mediaIds[i]!);
  const head = header.mediaIdsStart;
  const tail = buf.length - header.mediaIdsEnd;
  const out = new Uint8Array(head + idsSize + tail);
  out.set(buf.subarray(0, head), 0);
  let p = head;
  out[p++] = 0x90 | count;
  for (let i = 0; i < count; i++) p = writeUint16Min(out, p, mediaIds[i]!);
  out.set(buf.subarray(header.mediaIdsEnd), p);
  return out;
}

export type VoicePacket = {
  mediaIds: readonly number[];
  seq: number;
  ts: number;
  /** Default 0. */
  flags?: number;
  /** Required when flags & 2. */
  extraU32?: number;
  /** Required when flags & 4. */
  extraArray?: readonly unknown[];
  opus: Uint8Array;
};

/** Encodes a voice packet (clients, tests, the load generator; not the server's hot path). */
export function encodeVoicePacket(packet: VoicePacket): Uint8Array {
  const flags = packet.flags ?? 0;
  const value: unknown[] = [VOICE_PACKET_MARKER, packet.mediaIds, packet.seq >>> 0, packet.ts >>> 0, flags];
  if ((flags & VOICE_FLAG_U32) !== 0) value.push((packet.extraU32 ?? 0) >>> 0);
  if ((flags & VOICE_FLAG_ARRAY) !== 0) value.push(packet.extraArray ?? []);
  value.push(packet.opus);
  return encodeMsgpack(value);
}
