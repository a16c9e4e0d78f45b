/**
 * HOT PATH: voice fan-out. Every voice packet of every client goes through route(). Written
 * for speed: the header is read into one reusable struct, the forward lists are precomputed
 * by proximity.ts (no distance per packet), the same bytes go to every receiver, drops are
 * counted in plain numeric fields (metrics read them, nothing is computed here). No per-packet
 * allocation except when one packet names medias in several rooms (then each room gets a
 * copy with its own media-id list), no promise, no logging.
 */
import { createVoiceHeader, readVoiceHeader, rewriteMediaIds } from '../protocol/voicePacket.ts';
import type { Client } from './client.ts';
import type { Clock } from './clock.ts';
import type { Media } from './media.ts';

/** Counters of the voice path; read by metrics. */
export type VoiceStats = {
  /** Packets received from clients. */
  received: number;
  /** Bytes of those packets. */
  received_bytes: number;
  /** Packets handed to a receiver's connection (one per receiver). */
  forwarded: number;
  /** Bytes of those packets. */
  forwarded_bytes: number;
  /** Packets whose framing is broken. */
  malformed: number;
  /** Packets naming no media the sending client has started. */
  unknown_media: number;
  /** Packets over `[limit.network] incoming_media_packets` of their media. */
  rate_limited: number;
  /** Sends a receiver's connection refused (send queue full or voice channel not open). */
  send_queue_full: number;
};

export function createVoiceStats(): VoiceStats {
  return {
    received: 0,
    received_bytes: 0,
    forwarded: 0,
    forwarded_bytes: 0,
    malformed: 0,
    unknown_media: 0,
    rate_limited: 0,
    send_queue_full: 0,
  };
}

const MAX_ROOMS_PER_PACKET = 16;

export class VoiceRouter {
  readonly stats: VoiceStats = createVoiceStats();
  readonly #clock: Clock;
  readonly #header = createVoiceHeader();
  readonly #medias: (Media | undefined)[] = new Array(MAX_ROOMS_PER_PACKET).fill(undefined);
  readonly #ids = new Uint16Array(MAX_ROOMS_PER_PACKET);
  #stamp = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  route(from: Client, bytes: Uint8Array): void {
    const stats = this.stats;
    stats.received++;
    stats.received_bytes += bytes.length;
    const header = this.#header;
    const count = readVoiceHeader(bytes, header);
    if (count < 0) {
      stats.malformed++;
      return;
    }
    if (count === 1) {
      const media = from.mediaById.get(header.mediaIds[0]!);
      if (media === undefined) {
        stats.unknown_media++;
        return;
      }
      const bucket = media.bucket;
      if (bucket !== undefined && !bucket.tryTake(this.#clock.now())) {
        stats.rate_limited++;
        return;
      }
      const list = media.forwardList();
      for (let i = 0; i < list.length; i++) {
        if (list[i]!.connection.sendVoice(bytes)) {
          stats.forwarded++;
          stats.forwarded_bytes += bytes.length;
        } else stats.send_queue_full++;
      }
      return;
    }
    this.#routeMany(from, bytes, count);
  }

  /** A packet naming several medias: per room, forward it (rewritten when needed) once per receiver. */
  #routeMany(from: Client, bytes: Uint8Array, count: number): void {
    const stats = this.stats;
    const header = this.#header;
    const medias = this.#medias;
    let known = 0;
    let limited = 0;
    const now = this.#clock.now();
    for (let i = 0; i < count; i++) {
      const media = from.mediaById.get(header.mediaIds[i]!);
      if (media !== undefined && media.bucket !== undefined && !media.bucket.tryTake(now)) {
        limited++;
        medias[i] = undefined;
      } else {
        medias[i] = media;
        if (media !== undefined) known++;
      }
    }
    if (known === 0) {
      if (limited > 0) stats.rate_limited++;
      else stats.unknown_media++;
      return;
    }
    for (let i = 0; i < count; i++) {
      const first = medias[i];
      if (first === undefined) continue;
      // One stamp per room: a receiver gets each room's version at most once.
      const stamp = ++this.#stamp;
      // Gather this room's medias (and clear them so the room is handled once).
      const room = first.peer.room;
      const ids = this.#ids;
      let n = 0;
      for (let j = i; j < count; j++) {
        const media = medias[j];
        if (media !== undefined && media.peer.room === room) {
          ids[n++] = media.id;
          medias[j] = media === first ? first : undefined;
        }
      }
      const out = n === count ? bytes : rewriteMediaIds(bytes, header, ids, n);
      for (let j = 0; j < n; j++) {
        const media = j === 0 ? first : room.mediaById.get(ids[j]!);
        if (media === undefined) continue;
        const list = media.forwardList();
        for (let k = 0; k < list.length; k++) {
          const receiver = list[k]!;
          if (receiver.voiceStamp === stamp) continue;
          receiver.voiceStamp = stamp;
          if (receiver.connection.sendVoice(out)) {
            stats.forwarded++;
            stats.forwarded_bytes += out.length;
          } else stats.send_queue_full++;
        }
      }
      medias[i] = undefined;
    }
  }
}
