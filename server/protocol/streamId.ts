/**
 * Room-stream ids: what `JoinRoom` answers as `stream_id` and what a client presents to open
 * its room stream (`/room?<stream_id>` on the web, the first message of a QUIC room stream).
 * On the web the id is the only credential of `/room?<stream_id>` (generation A has nothing
 * else there), so it is drawn at random from the largest range every client decodes exactly:
 *
 * - the 0.16 web SDK reads `result.stream_id` and only interpolates it into the URL; its
 *   msgpackr decodes a uint64 (0xcf) to a BigInt, which prints as the same decimal digits;
 * - JavaScript decoders that give a Number (@msgpack/msgpack, ours, Chromium pages) are exact
 *   up to 2^53 - 1 and no further; a larger id would be rounded and open nothing.
 *
 * So ids are uniform in [1, 2^53 - 1]: 53 random bits, minimally encoded by MessagePack (uint64
 * above 2^32). Ids are also single-use and short-lived (the Sfu forgets one when it attaches or
 * after `roomStreamTimeoutMs`), and failed attaches are counted per source (attachGuard.ts).
 */
import { randomBytes } from 'node:crypto';

/** Largest stream id: the largest integer every JavaScript client decodes exactly. */
export const MAX_STREAM_ID = Number.MAX_SAFE_INTEGER;

/** A fresh random stream id in [1, MAX_STREAM_ID] for which `taken(id)` is false. */
export function newStreamId(taken: (id: number) => boolean = () => false): number {
  for (;;) {
    const bytes = randomBytes(8);
    // 21 high bits + 32 low bits = 53 random bits.
    const id = (bytes.readUInt32BE(0) & 0x1f_ffff) * 0x1_0000_0000 + bytes.readUInt32BE(4);
    if (id !== 0 && !taken(id)) return id;
  }
}

/** `/room?<stream_id>`: the query as a stream id, or undefined when it is not one (no sign, no leading 0). */
export function parseStreamIdText(text: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_STREAM_ID ? id : undefined;
}

/**
 * A decoded MessagePack value (the first message of a QUIC room stream) as a stream id:
 * a positive safe integer, as a Number or (from a decoder that yields BigInt for uint64) a BigInt.
 */
export function streamIdFromValue(value: unknown): number | undefined {
  if (typeof value === 'bigint')
    return value >= 1n && value <= BigInt(MAX_STREAM_ID) ? Number(value) : undefined;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}
