/**
 * A load-test worker process: joins its share of the peers (whole rooms), then on each `run`
 * makes the speakers of the active rooms send stamped voice packets at `rate`/s and counts,
 * on every receiver, what arrives and how late. Forked by loadTest.ts; talks over IPC.
 *
 * Sending: the frame (1000/rate ms) is cut into slots of >= 1 ms; each speaker owns a slot
 * (spread evenly, or all slot 0 with `align`), and a timer walks the slots. A worker that falls
 * more than two frames behind skips the missed sends (and counts them) instead of bursting.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { type SharedClientEndpoint, sharedClientEndpoint } from '../client/quic/webTransportClient.ts';
import { signToken } from '../common/auth/index.ts';
import { monotonicMicros } from './clock.ts';
import { type BenchPeer, joinPeer } from './peers.ts';
import { Histogram } from './stats.ts';
import { lastStamp, readStamp, StampedPacket } from './voicePayload.ts';
import type { FromWorker, PeerSpec, ToWorker } from './workerProtocol.ts';

type Live = { spec: PeerSpec; peer: BenchPeer; packet: StampedPacket | undefined; seq: number };

const send = (message: FromWorker) => process.send!(message);
const live: Live[] = [];
/** Joined peers per room index (receivers of a packet = joined - 1). */
const roomSize = new Map<number, number>();
const latency = new Histogram();
let windowStart = Number.POSITIVE_INFINITY;
let windowEnd = 0;
let collecting = false;
let receivedInWindow = 0;
let receivedTotal = 0;
/** GC pauses of this worker while `collecting` (a long one shows as latency and skipped sends). */
let gcMaxMs = 0;
let gcTotalMs = 0;
new PerformanceObserver((list) => {
  if (!collecting) return;
  for (const entry of list.getEntries()) {
    gcTotalMs += entry.duration;
    if (entry.duration > gcMaxMs) gcMaxMs = entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

function onVoice(bytes: Uint8Array): void {
  if (!readStamp(bytes)) {
    receivedTotal++;
    return;
  }
  onStamp(lastStamp.sentAtMicros, monotonicMicros());
}

function onStamp(sentAt: number, receivedAt: number): void {
  receivedTotal++;
  if (!collecting || sentAt < windowStart || sentAt >= windowEnd) return;
  receivedInWindow++;
  latency.record(receivedAt - sentAt);
}

/**
 * The QUIC peers of this worker share one native endpoint: one
 * socket, and their received voice is stamped with its arrival time in the addon, then taken
 * here in batches, so receiving costs the load generator no JavaScript event per packet.
 */
let quicEndpoint: SharedClientEndpoint | undefined;
function sharedQuic(serverAddress: string): SharedClientEndpoint | undefined {
  if (quicEndpoint === undefined) {
    // A server on loopback is reached from loopback; a remote one (--quic HOST:PORT) from any.
    const host = serverAddress.slice(0, serverAddress.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    const localHost = host === '127.0.0.1' || host === '::1' ? host : host.includes(':') ? '::' : '0.0.0.0';
    quicEndpoint = sharedClientEndpoint({ insecure: true, localHost });
    setInterval(drainSink, 10).unref();
  }
  return quicEndpoint;
}

function drainSink(): void {
  if (quicEndpoint === undefined) return;
  const pairs = quicEndpoint.takeVoiceStamps();
  for (let i = 0; i + 1 < pairs.length; i += 2) onStamp(pairs[i]!, pairs[i + 1]!);
}

async function join(message: Extract<ToWorker, { kind: 'join' }>): Promise<void> {
  const connectMs: number[] = [];
  const joinMs: number[] = [];
  const failures: string[] = [];
  const started = performance.now();
  let done = 0;
  const progress = setInterval(() => send({ kind: 'joinProgress', done }), 250);
  await Promise.all(
    message.peers.map(async (spec, i) => {
      const due = started + i * message.joinIntervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        // The bare UDP relay has no tokens.
        const token =
          spec.transport === 'udp'
            ? ''
            : await signToken(
                message.accessKey,
                { rid: spec.room, uid: spec.user },
                { lifetimeSeconds: 24 * 3600 },
              );
        const joined = await joinPeer({
          transport: spec.transport,
          address: spec.address,
          token,
          room: spec.room,
          speaker: spec.speaker,
          timeoutMs: message.timeoutMs,
          ...(spec.transport === 'quic' ? { quicEndpoint: sharedQuic(spec.address) } : {}),
        });
        joined.peer.onVoice(onVoice);
        const packet = spec.speaker
          ? new StampedPacket(joined.peer.mediaId, message.payload, spec.index)
          : undefined;
        live.push({ spec, peer: joined.peer, packet, seq: 0 });
        roomSize.set(spec.roomIndex, (roomSize.get(spec.roomIndex) ?? 0) + 1);
        connectMs.push(joined.connectMs);
        joinMs.push(joined.joinMs);
      } catch (error) {
        failures.push(`${spec.user} (${spec.transport}) in ${spec.room}: ${(error as Error).message}`);
      }
      done++;
    }),
  );
  clearInterval(progress);
  send({ kind: 'joined', connectMs, joinMs, failures });
}

async function run(message: Extract<ToWorker, { kind: 'run' }>): Promise<void> {
  const active = new Set(message.activeRooms);
  const speakers = live.filter((p) => p.packet !== undefined && active.has(p.spec.roomIndex));
  const frameUs = 1e6 / message.rate;
  const slots = Math.max(1, Math.min(20, Math.floor(frameUs / 1000)));
  const slotUs = frameUs / slots;
  const bySlot: Live[][] = Array.from({ length: slots }, () => []);
  speakers.forEach((speaker, i) => {
    bySlot[message.align ? 0 : Math.floor((i * slots) / speakers.length)]!.push(speaker);
  });
  windowStart = message.windowStart;
  windowEnd = message.windowEnd;
  receivedInWindow = 0;
  latency.reset();
  gcMaxMs = 0;
  gcTotalMs = 0;
  collecting = true;
  let sent = 0;
  let expected = 0;
  let skipped = 0;
  let refused = 0;
  let sentTotal = 0;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let cpuFromAt = 0;
  let cpu = 0;
  const progress = setInterval(
    () => send({ kind: 'progress', sent: sentTotal, received: receivedTotal }),
    250,
  );

  await new Promise<void>((resolve) => {
    let nextSlot = 0;
    const tick = () => {
      const now = monotonicMicros();
      if (cpuFrom === undefined && now >= message.windowStart) {
        cpuFrom = process.cpuUsage();
        cpuFromAt = now;
        delay.enable();
      }
      if (now >= message.windowEnd) {
        if (cpuFrom !== undefined) {
          const used = process.cpuUsage(cpuFrom);
          cpu = (used.user + used.system) / Math.max(1, now - cpuFromAt);
        }
        delay.disable();
        resolve();
        return;
      }
      const dueSlot = Math.floor((now - message.startAt) / slotUs);
      // More than two frames behind: skip the backlog (counted) rather than burst it out.
      if (dueSlot - nextSlot > 2 * slots) {
        for (let s = nextSlot; s < dueSlot - 2 * slots; s++) skipped += bySlot[s % slots]!.length;
        nextSlot = dueSlot - 2 * slots;
      }
      for (; nextSlot <= dueSlot; nextSlot++) {
        const group = bySlot[nextSlot % slots]!;
        for (let i = 0; i < group.length; i++) {
          const speaker = group[i]!;
          const at = monotonicMicros();
          const ok = speaker.peer.sendVoice(speaker.packet!.stamp(at, speaker.seq++));
          sentTotal++;
          if (!ok) refused++;
          if (at >= message.windowStart && at < message.windowEnd) {
            sent++;
            expected += (roomSize.get(speaker.spec.roomIndex) ?? 1) - 1;
          }
        }
      }
      const nextAt = message.startAt + nextSlot * slotUs;
      setTimeout(tick, Math.max(0, (nextAt - monotonicMicros()) / 1000));
    };
    const wait = (message.startAt - monotonicMicros()) / 1000;
    setTimeout(tick, Math.max(0, wait));
  });
  clearInterval(progress);
  const collectWait = (message.collectAt - monotonicMicros()) / 1000;
  if (collectWait > 0) await new Promise((resolve) => setTimeout(resolve, collectWait));
  drainSink();
  collecting = false;
  send({
    kind: 'result',
    sent,
    expected,
    received: receivedInWindow,
    skipped,
    refused,
    latency: latency.toData(),
    cpu,
    loopDelayP99Ms: delay.count > 0 ? delay.percentile(99) / 1e6 : 0,
    gcMaxMs,
    gcTotalMs,
  });
}

async function closeAll(): Promise<void> {
  const batch = 50;
  for (let i = 0; i < live.length; i += batch) {
    await Promise.allSettled(live.slice(i, i + batch).map((p) => p.peer.close()));
  }
  await quicEndpoint?.close();
  send({ kind: 'closed' });
  process.disconnect();
  // werift and quiche may keep handles a moment after close: do not wait for them.
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('message', (message: ToWorker) => {
  const handle = message.kind === 'join' ? join(message) : message.kind === 'run' ? run(message) : closeAll();
  handle.catch((error: unknown) => {
    process.stderr.write(`bench worker: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
});
process.on('disconnect', () => setTimeout(() => process.exit(0), 500).unref());
