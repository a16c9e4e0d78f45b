/**
 * The legitimate clients of the abuse battery, on 127.0.0.1: a web pair (our Node client:
 * `/main`, `/room`, WebRTC voice through the one UDP port, as the web SDK does) and a QUIC pair
 * (WebTransport, datagram voice). `exchange()` sends one message and voice packets each way
 * and times their arrival: the latency a player would feel while the battery runs.
 */
import { OdinClient } from '../../client/odinClient.ts';
import { OdinQuicClient } from '../../client/quic/odinQuicClient.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import type { Target } from './attacks.ts';

export type Exchange = { messageMs: number; voiceMs: number };

export type LegitPair = {
  kind: 'web' | 'quic';
  /** Join time of the slower of the two, ms. */
  joinMs: number;
  exchange(): Promise<Exchange>;
  close(): Promise<void>;
};

const HOST = '127.0.0.1';
/** A message or voice that has not arrived after this long has failed. */
const ARRIVAL_CAP_MS = 15_000;

let seq = 1;
function packet(mediaId: number): Uint8Array {
  const n = seq++;
  return encodeVoicePacket({
    mediaIds: [mediaId],
    seq: n,
    ts: n * 1800,
    opus: new Uint8Array(60).fill(n & 0xff),
  });
}

/**
 * Resolves with the ms until `arrived()` holds (checked every 2 ms). With `resend`, sends again
 * every 20 ms, one voice frame's time: voice is unreliable, a lost packet is not a failure.
 */
async function timeArrival(what: string, arrived: () => boolean, resend?: () => void): Promise<number> {
  const start = performance.now();
  let sentAt = start;
  resend?.();
  while (!arrived()) {
    const now = performance.now();
    if (now - start > ARRIVAL_CAP_MS) throw new Error(`${what} did not arrive within ${ARRIVAL_CAP_MS} ms`);
    if (resend !== undefined && now - sentAt >= 20) {
      sentAt = now;
      resend();
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return performance.now() - start;
}

export async function webPair(target: Target, room: string): Promise<LegitPair> {
  const started = performance.now();
  const join = async (user: string) => {
    const client = await OdinClient.connect(`${HOST}:${target.httpPort}`, await target.token(room, user), {
      ca: target.ca,
      voice: true,
      localAddress: HOST,
    });
    const joined = await client.joinRoom(room);
    await joined.startMedia();
    return { client, room: joined };
  };
  const [a, b] = await Promise.all([join('web-a'), join('web-b')]);
  const joinMs = performance.now() - started;
  const heard = { a: 0, b: 0 };
  a.client.onVoice(() => heard.a++);
  b.client.onVoice(() => heard.b++);
  const messages = { a: 0, b: 0 };
  a.room.on('message', () => messages.a++);
  b.room.on('message', () => messages.b++);
  return {
    kind: 'web',
    joinMs,
    async exchange() {
      const seen = messages.b;
      const sentAt = performance.now();
      await a.room.sendMessage(new Uint8Array([1, 2, 3]));
      await timeArrival('web message to b', () => messages.b > seen);
      const messageMs = performance.now() - sentAt;
      const heardBefore = heard.b;
      const voiceMs = await timeArrival(
        'web voice to b',
        () => heard.b > heardBefore,
        () => a.client.sendVoice(packet(a.room.mediaId)),
      );
      // And back: b speaks, a hears.
      const heardByA = heard.a;
      await timeArrival(
        'web voice to a',
        () => heard.a > heardByA,
        () => b.client.sendVoice(packet(b.room.mediaId)),
      );
      return { messageMs, voiceMs };
    },
    async close() {
      await Promise.allSettled([a.client.close(), b.client.close()]);
    },
  };
}

export async function quicPair(target: Target, room: string): Promise<LegitPair> {
  const started = performance.now();
  const join = async (user: string) => {
    const client = await OdinQuicClient.connect({ host: HOST, port: target.quicPort, insecure: true });
    const joined = await client.joinRoom(await target.token(room, user), room);
    await joined.startMedia();
    return { client, room: joined };
  };
  const [a, b] = await Promise.all([join('quic-a'), join('quic-b')]);
  const joinMs = performance.now() - started;
  const heard = { a: 0, b: 0 };
  a.client.onVoice = () => heard.a++;
  b.client.onVoice = () => heard.b++;
  const messages = { a: 0, b: 0 };
  a.room.on('message', () => messages.a++);
  b.room.on('message', () => messages.b++);
  return {
    kind: 'quic',
    joinMs,
    async exchange() {
      const seen = messages.b;
      const sentAt = performance.now();
      await a.room.request('SendMessage', { message: new Uint8Array([4, 5, 6]) });
      await timeArrival('quic message to b', () => messages.b > seen);
      const messageMs = performance.now() - sentAt;
      const heardBefore = heard.b;
      const voiceMs = await timeArrival(
        'quic voice to b',
        () => heard.b > heardBefore,
        () => a.client.sendVoice(packet(a.room.mediaId)),
      );
      const heardByA = heard.a;
      await timeArrival(
        'quic voice to a',
        () => heard.a > heardByA,
        () => b.client.sendVoice(packet(b.room.mediaId)),
      );
      return { messageMs, voiceMs };
    },
    async close() {
      await Promise.allSettled([a.client.close(), b.client.close()]);
    },
  };
}
