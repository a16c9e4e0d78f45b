/**
 * Voice packets for tests: distinct packets of one media, and an inbox that records what a
 * client's WebRTC "audio" channel received and resolves when enough has arrived.
 */
import { randomBytes } from 'node:crypto';
import type { OdinClient } from '../../client/odinClient.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { WAIT_CAP_MS } from './waitFor.ts';

let nextSeq = 1_000;

/** `count` voice packets of `mediaId`, consecutive seq/ts, random 20..120-byte opus payloads. */
export function voicePackets(mediaId: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => {
    const seq = nextSeq++;
    return encodeVoicePacket({
      mediaIds: [mediaId],
      seq,
      ts: seq * 1800,
      opus: randomBytes(20 + (seq % 100)),
    });
  });
}

export class VoiceInbox {
  readonly packets: Uint8Array[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(client: OdinClient) {
    client.onVoice((bytes) => {
      this.packets.push(Uint8Array.from(bytes));
      this.#waiters = this.#waiters.filter((waiter) => {
        if (this.packets.length < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  /** Resolves once `count` packets have arrived in total (since the last `clear`). */
  waitFor(count: number, timeoutMs = WAIT_CAP_MS): Promise<void> {
    if (this.packets.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`only ${this.packets.length} of ${count} voice packets within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  clear(): void {
    this.packets.length = 0;
  }
}

/** Byte-exact comparison that ignores arrival order (the "audio" channel is unordered). */
export function sameBytes(received: readonly Uint8Array[], sent: readonly Uint8Array[]): boolean {
  const hex = (list: readonly Uint8Array[]) => list.map((b) => Buffer.from(b).toString('hex')).sort();
  const a = hex(received);
  const b = hex(sent);
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
