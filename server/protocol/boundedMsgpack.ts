/**
 * The one MessagePack decoder for bytes a peer sent us: a header pre-scan that allocates
 * nothing, then @msgpack/msgpack with length limits. Every decode of client bytes goes
 * through {@link decodeBoundedMsgpack} (RPC frames on both listeners, QUIC room-stream ids).
 *
 * Why a pre-scan (hand-written): @msgpack/msgpack 3.1 allocates `new Array(count)` for an
 * array header *before* it has seen a single element (Decoder#pushArrayState), and has no
 * nesting limit. Its `maxArrayLength`/`maxMapLength` options compare the declared count with
 * a fixed number, never with the bytes left, so a 3 KB frame of nested `array16`/`array32`
 * headers each declaring ~65,000 elements reserves gigabytes (issue 14, defect 1). The scan
 * below walks the headers (formats: https://github.com/msgpack/msgpack/blob/master/spec.md#formats)
 * with a counter instead of a stack:
 *
 * - `owed` is the number of values every open container still declares. Each value takes at
 *   least one byte, so `owed` can never exceed the bytes left: a declared count that does is
 *   refused at its header, before anything is reserved;
 * - nesting deeper than `maxDepth` is refused;
 * - str/bin/array/map lengths above the limits, and ext values (the ODIN protocol uses no
 *   extension types), are refused;
 * - the value must end exactly at the end of the frame.
 *
 * A frame that passes holds at most one element per byte, so what the library then builds is
 * bounded by a small multiple of the frame size. The scan is O(bytes), no allocation.
 */
import { Decoder } from '@msgpack/msgpack';
import { ProtocolError } from './errors.ts';

export type MsgpackLimits = {
  /** Deepest container nesting (the outermost array or map is depth 1). */
  readonly maxDepth: number;
  /** Largest str, in UTF-8 bytes. */
  readonly maxStrBytes: number;
  /** Largest bin, in bytes. */
  readonly maxBinBytes: number;
  /** Most elements of one array. */
  readonly maxArrayLength: number;
  /** Most entries (key/value pairs) of one map. */
  readonly maxMapLength: number;
};

/**
 * What the server accepts from a client (docs/security.md, "Parsing limits"). Depth 16 leaves
 * room for the deepest legitimate request, `[0, id, "StartMedia", {properties: {...}}]` with
 * properties nested up to MAX_PROPERTIES_DEPTH; strings fit the largest SDP (32 Ki chars, up
 * to 64 KiB as UTF-8, the frame limit), arrays the 1,024 `target_peer_ids`.
 */
export const CLIENT_MSGPACK_LIMITS: MsgpackLimits = Object.freeze({
  maxDepth: 16,
  maxStrBytes: 64 * 1024,
  maxBinBytes: 64 * 1024,
  maxArrayLength: 4096,
  maxMapLength: 256,
});

/**
 * What our own clients (client/, bench/) accept from a server: deeper (a `Joined` holds the
 * room, its peers, their medias and properties) and larger (a room of many peers), still bounded.
 */
export const SERVER_MSGPACK_LIMITS: MsgpackLimits = Object.freeze({
  maxDepth: 64,
  maxStrBytes: 16 * 1024 * 1024,
  maxBinBytes: 16 * 1024 * 1024,
  maxArrayLength: 1024 * 1024,
  maxMapLength: 64 * 1024,
});

/** A reason the scan refused the bytes, with the byte offset where it happened. */
function refuse(offset: number, what: string): string {
  return `${what} at byte ${offset}`;
}

/**
 * Walks the MessagePack value in `bytes` without allocating. Returns `undefined` when the
 * bytes are exactly one value within `limits`, otherwise what is wrong and where.
 */
export function scanMsgpack(bytes: Uint8Array, limits: MsgpackLimits): string | undefined {
  const end = bytes.length;
  let pos = 0;
  // Values still declared by open containers plus the top-level value itself.
  let owed = 1;
  // Open containers, innermost last: their remaining value counts, kept in one number each.
  // Depth is bounded by maxDepth, so a small fixed array suffices (no growth from input).
  const remaining: number[] = [];
  while (owed > 0) {
    if (pos >= end) return refuse(pos, 'truncated: a declared value is missing');
    const start = pos;
    const b = bytes[pos++]!;
    let count = -1; // values a container header declares (a map declares 2 per entry)
    let skip = 0; // payload bytes of a scalar
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      skip = 0; // fixint, nil, false, true
    } else if (b >= 0x80 && b <= 0x8f) {
      count = b & 0x0f;
      if (count > limits.maxMapLength)
        return refuse(start, `map of ${count} entries (limit ${limits.maxMapLength})`);
      count *= 2;
    } else if (b >= 0x90 && b <= 0x9f) {
      count = b & 0x0f;
      if (count > limits.maxArrayLength) {
        return refuse(start, `array of ${count} elements (limit ${limits.maxArrayLength})`);
      }
    } else if (b >= 0xa0 && b <= 0xbf) {
      skip = b & 0x1f;
      if (skip > limits.maxStrBytes)
        return refuse(start, `str of ${skip} bytes (limit ${limits.maxStrBytes})`);
    } else {
      const size = lengthFieldSize(b);
      if (size < 0) return refuse(start, `byte 0x${b.toString(16)} is not a MessagePack format`);
      if (pos + size > end) return refuse(start, 'truncated header');
      const n = readBigEndian(bytes, pos, size);
      pos += size;
      switch (b) {
        case 0xc4:
        case 0xc5:
        case 0xc6:
          if (n > limits.maxBinBytes) return refuse(start, `bin of ${n} bytes (limit ${limits.maxBinBytes})`);
          skip = n;
          break;
        case 0xd9:
        case 0xda:
        case 0xdb:
          if (n > limits.maxStrBytes) return refuse(start, `str of ${n} bytes (limit ${limits.maxStrBytes})`);
          skip = n;
          break;
        case 0xdc:
        case 0xdd:
          if (n > limits.maxArrayLength) {
            return refuse(start, `array of ${n} elements (limit ${limits.maxArrayLength})`);
          }
          count = n;
          break;
        case 0xde:
        case 0xdf:
          if (n > limits.maxMapLength)
            return refuse(start, `map of ${n} entries (limit ${limits.maxMapLength})`);
          count = n * 2;
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return refuse(start, 'an ext value (the ODIN protocol uses no extension types)');
        default:
          skip = 0; // numbers: their payload was the "length field" read above
      }
    }
    if (skip > end - pos) return refuse(start, `truncated: ${skip} bytes declared, ${end - pos} left`);
    pos += skip;
    // This value is delivered to its container.
    owed--;
    if (count > 0) {
      if (remaining.length >= limits.maxDepth) return refuse(start, `nesting deeper than ${limits.maxDepth}`);
      // Each declared value needs at least one byte: refuse before anything is reserved.
      if (owed + count > end - pos) {
        return refuse(
          start,
          `declared values exceed the bytes left (${owed + count} owed, ${end - pos} left)`,
        );
      }
      owed += count;
      remaining.push(count);
      continue;
    }
    if (count === 0 && remaining.length >= limits.maxDepth) {
      return refuse(start, `nesting deeper than ${limits.maxDepth}`);
    }
    // Close every container this value completed.
    while (remaining.length > 0) {
      const left = remaining[remaining.length - 1]! - 1;
      if (left > 0) {
        remaining[remaining.length - 1] = left;
        break;
      }
      remaining.pop();
    }
  }
  if (pos !== end) return refuse(pos, `${end - pos} extra bytes after the value`);
  return undefined;
}

/** Bytes of the length (or number payload) field after head byte `b`, or -1 for 0xc1. */
function lengthFieldSize(b: number): number {
  switch (b) {
    case 0xcc: // uint8
    case 0xd0: // int8
    case 0xc4: // bin8
    case 0xd9: // str8
    case 0xc7: // ext8
      return 1;
    case 0xcd:
    case 0xd1:
    case 0xc5:
    case 0xda:
    case 0xdc:
    case 0xde:
    case 0xc8:
      return 2;
    case 0xce:
    case 0xd2:
    case 0xca: // float32
    case 0xc6:
    case 0xdb:
    case 0xdd:
    case 0xdf:
    case 0xc9:
      return 4;
    case 0xcf:
    case 0xd3:
    case 0xcb: // float64
      return 8;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return 1; // fixext: its type byte (refused anyway)
    default:
      return -1; // 0xc1 is never used
  }
}

/** An unsigned big-endian number of 1, 2 or 4 bytes (8-byte fields are numbers, never lengths). */
function readBigEndian(bytes: Uint8Array, pos: number, size: number): number {
  if (size === 1) return bytes[pos]!;
  if (size === 2) return (bytes[pos]! << 8) | bytes[pos + 1]!;
  if (size === 4) {
    return bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
  }
  return 0;
}

const decoders = new WeakMap<MsgpackLimits, Decoder>();

function decoderFor(limits: MsgpackLimits): Decoder {
  let decoder = decoders.get(limits);
  if (decoder === undefined) {
    // The library's own limits repeat the scan's: a second line of defence should the two disagree.
    decoder = new Decoder({
      maxStrLength: limits.maxStrBytes,
      maxBinLength: limits.maxBinBytes,
      maxArrayLength: limits.maxArrayLength,
      maxMapLength: limits.maxMapLength,
      maxExtLength: 0,
    });
    decoders.set(limits, decoder);
  }
  return decoder;
}

/**
 * Untrusted bytes → exactly one MessagePack value within `limits`, or a ProtocolError
 * (`malformed_msgpack`) naming what is wrong and the byte offset. Never throws. bin values
 * are views into `bytes`.
 */
export function decodeBoundedMsgpack(
  bytes: Uint8Array,
  limits: MsgpackLimits = CLIENT_MSGPACK_LIMITS,
): unknown {
  const problem = scanMsgpack(bytes, limits);
  if (problem !== undefined)
    return new ProtocolError('malformed_msgpack', `malformed MessagePack: ${problem}`);
  try {
    return decoderFor(limits).decode(bytes);
  } catch (error) {
    return new ProtocolError(
      'malformed_msgpack',
      `malformed MessagePack: ${(error as Error)?.message ?? error}`,
    );
  }
}
