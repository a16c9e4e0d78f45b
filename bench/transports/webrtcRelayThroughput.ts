/**
 * Relay throughput of the server side of the WebRTC path, on the shared mux:
 *   client A → session A → (glue) → session B → client B,  for P pairs, rates ramped.
 * Clients run in a child process so that the numbers below are the server process's alone.
 *
 *   node bench/transports/webrtcRelayThroughput.ts [pairs=1] [rates=1000,2000,...] [seconds=5]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/transports/webrtcRelayThroughput.ts 2 4000 8
 *   node --max-semi-space-size=2 bench/transports/webrtcRelayThroughput.ts 8 1500 10   (GC cost)
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UdpMux } from '../../server/transports/web/webrtc/udpMux.ts';
import { createWebRtcSession, type WebRtcSession } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { describeGc, watchGc } from './gcWatch.ts';
import { forkRelayClients } from './relayClientsProcess.ts';

const pairs = Number(process.argv[2] ?? 1);
const rates = (process.argv[3] ?? '1000,2000,3000,4000,6000').split(',').map(Number);
const seconds = Number(process.argv[4] ?? 5);

const mux = await UdpMux.bind({ host: '127.0.0.1', port: 0 });
const port = mux.address().port;
const sessions: WebRtcSession[] = [];
let forwarded = 0;
let dropped = 0;
for (let i = 0; i < pairs * 2; i++) {
  const peerIndex = i % 2 === 0 ? i + 1 : i - 1;
  sessions.push(
    createWebRtcSession({
      mux,
      candidates: ['127.0.0.1'],
      port,
      connectTimeoutMs: 30_000,
      maxBufferedBytes: 1 << 20,
      onVoice: (bytes) => {
        if (sessions[peerIndex]!.sendVoice(bytes)) forwarded++;
        else dropped++;
      },
      onClosed: (reason) => console.error(`session ${i} closed: ${reason}`),
    }),
  );
}

const { child, next } = forkRelayClients(pairs);
const { offers } = await next<{ offers: string[] }>('offers');
const answers = await Promise.all(offers.map((offer, i) => sessions[i]!.answer(offer)));
child.send({ kind: 'answers', answers });
await next('open');
console.log(`${pairs} pair(s) connected on one UDP port ${port}`);

const delay = monitorEventLoopDelay({ resolution: 10 });
for (const rate of rates) {
  forwarded = 0;
  dropped = 0;
  delay.reset();
  delay.enable();
  const gcWatch = watchGc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  child.send({ kind: 'start', rate, seconds });
  const done = await next<{ sent: number; refused: number; received: number; meanLatencyMs: number }>('done');
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const gc = gcWatch.stop();
  delay.disable();
  const cpuShare = (cpu.user + cpu.system) / 1e6 / wall;
  const perSecond = forwarded / seconds;
  console.log(
    `offered ${rate}/s per pair × ${pairs}: forwarded ${perSecond.toFixed(0)}/s (in ${perSecond.toFixed(0)} + out ${perSecond.toFixed(0)}), ` +
      `server CPU ${(cpuShare * 100).toFixed(0)}% of a core → ${(perSecond / cpuShare).toFixed(0)} forwarded/s per core; ` +
      `clients sent ${done.sent} (refused ${done.refused}), received ${done.received} ` +
      `(${((100 * done.received) / Math.max(1, done.sent)).toFixed(1)}%), mean latency ${done.meanLatencyMs.toFixed(1)} ms, ` +
      `server drops ${dropped} (+ ${sessions.reduce((n, s) => n + s.stats.voiceTooLate, 0)} too late, cumulative), loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; ` +
      `${describeGc(gc)}, RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
  );
}
child.kill();
await Promise.all(sessions.map((s) => s.close()));
await mux.close();
console.log('mux counters', mux.counters);
