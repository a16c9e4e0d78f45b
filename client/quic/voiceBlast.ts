/**
 * Voice load over the native transport: `senders` native clients in one room each send
 * `burst` voice datagrams per event-loop turn for `seconds`; every other client receives.
 * Prints what was sent and received. A building block of the load generator; run against a
 * grid with `node client/quic/voiceBlast.ts` (see docs/protocol.md for the measured numbers).
 */
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import type { OdinRoom } from '../room.ts';
import type { OdinQuicClient } from './odinQuicClient.ts';

export type BlastResult = { sent: number; received: number; seconds: number };

/** Sends from `sender` for `seconds`, `burst` packets per turn; counts what `receivers` get. */
export async function voiceBlast(params: {
  sender: { client: OdinQuicClient; room: OdinRoom };
  receivers: OdinQuicClient[];
  seconds: number;
  burst: number;
}): Promise<BlastResult> {
  let received = 0;
  for (const receiver of params.receivers) receiver.onVoice = () => received++;
  const packet = encodeVoicePacket({
    mediaIds: [params.sender.room.mediaId],
    seq: 1,
    ts: 1800,
    opus: new Uint8Array(60),
  });
  let sent = 0;
  const started = performance.now();
  const end = started + params.seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = () => {
      if (performance.now() >= end) return resolve();
      for (let i = 0; i < params.burst; i++) if (params.sender.client.sendVoice(packet)) sent++;
      setImmediate(tick);
    };
    tick();
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { sent, received, seconds: (performance.now() - started) / 1000 };
}
