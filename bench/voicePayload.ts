/**
 * The load generator's voice packets: real ODIN voice packets (`encodeVoicePacket`) whose opus
 * payload starts with what the receiver needs to measure loss and latency:
 *
 *   opus[0..8)    send time, µs of CLOCK_MONOTONIC (bench/clock.ts), as two big-endian u32
 *   opus[8..12)   sender number (unique in the run)
 *   opus[12..16)  sequence number of the sender
 *
 * The rest of the payload is zeros up to the requested size (a 20 ms Opus voice frame is
 * typically 40..120 bytes). The server forwards the bytes unchanged, so what a receiver reads
 * is what the sender wrote.
 */
import { createVoiceHeader, encodeVoicePacket, readVoiceHeader } from '../server/protocol/voicePacket.ts';

/** Bytes of the stamp at the start of the opus payload. */
export const STAMP_BYTES = 16;

/** A packet to send again and again: `stamp()` rewrites the stamp in place. */
export class StampedPacket {
  readonly bytes: Uint8Array;
  readonly #opusStart: number;

  constructor(mediaId: number, opusBytes: number, sender: number) {
    if (opusBytes < STAMP_BYTES) throw new RangeError(`payload must be >= ${STAMP_BYTES} bytes`);
    this.bytes = encodeVoicePacket({
      mediaIds: [mediaId],
      seq: 0,
      ts: 0,
      opus: new Uint8Array(opusBytes),
    });
    const header = createVoiceHeader();
    readVoiceHeader(this.bytes, header);
    this.#opusStart = header.opusStart;
    writeU32(this.bytes, this.#opusStart + 8, sender);
  }

  /** Writes send time and sequence number; returns the packet bytes. */
  stamp(sentAtMicros: number, seq: number): Uint8Array {
    const at = this.#opusStart;
    writeU32(this.bytes, at, Math.floor(sentAtMicros / 0x1_0000_0000));
    writeU32(this.bytes, at + 4, sentAtMicros >>> 0);
    writeU32(this.bytes, at + 12, seq);
    return this.bytes;
  }
}

export type Stamp = { sentAtMicros: number; sender: number; seq: number };

const header = createVoiceHeader();
/** Scratch result of readStamp (HOT for receivers: no allocation per packet). */
export const lastStamp: Stamp = { sentAtMicros: 0, sender: 0, seq: 0 };

/** Reads the stamp of a received packet into `lastStamp`; false when it holds none. */
export function readStamp(bytes: Uint8Array): boolean {
  if (readVoiceHeader(bytes, header) < 0 || header.opusLength < STAMP_BYTES) return false;
  const at = header.opusStart;
  lastStamp.sentAtMicros = readU32(bytes, at) * 0x1_0000_0000 + readU32(bytes, at + 4);
  lastStamp.sender = readU32(bytes, at + 8);
  lastStamp.seq = readU32(bytes, at + 12);
  return true;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}
