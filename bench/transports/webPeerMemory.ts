/**
 * Memory per web peer on the server side of the WebRTC path: P pairs of server sessions on one
 * mux (client A → session A → session B → client B, as webrtcRelayThroughput.ts), the werift
 * clients in a child process so that only the server's memory is counted.
 *
 * Prints, per server session (peer): V8 heap used after a full GC, ArrayBuffer/external memory
 * and RSS, idle (connected, no voice) and speaking (every pair relaying `rate` packets/s of
 * 100 bytes, measured while it flows). With --heap-snapshot DIR it writes a V8 heap snapshot of
 * the idle state and prints the largest constructors (self size per peer), the way to find
 * where a peer's memory goes.
 *
 * The peers connect in waves of `--wave` pairs, each wave once the previous one's channels
 * opened (50 werift clients handshaking at once did not all open within 60 s on a loaded
 * machine), and the idle figures are the least-squares slope of memory over the peer count
 * sampled after every wave: one RSS delta moved by ±50 KB per peer from run to run (malloc
 * arenas and V8 pages are allocated in steps), the slope over several counts much less.
 *
 *   node --expose-gc bench/transports/webPeerMemory.ts [--pairs 50] [--wave 5] [--rate 50]
 *                      [--seconds 5] [--heap-snapshot /tmp/heap] [--top 25]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { UdpMux } from '../../server/transports/web/webrtc/udpMux.ts';
import { createWebRtcSession, type WebRtcSession } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { describeGc, watchGc } from './gcWatch.ts';
import { summarizeHeapSnapshot } from './heapSnapshotSummary.ts';
import { forkRelayClients } from './relayClientsProcess.ts';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '50' },
    wave: { type: 'string', default: '5' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    'heap-snapshot': { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
const pairs = Number(values.pairs);
const wave = Math.max(1, Math.min(pairs, Number(values.wave)));
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc (the heap figures are taken after a full GC)');
  process.exit(2);
}

type Sample = { heap: number; external: number; rss: number };
function sample(): Sample {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
}
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
function perPeer(label: string, a: Sample, b: Sample, peers: number): void {
  console.log(
    `${label.padEnd(9)} per peer: heap ${kb((b.heap - a.heap) / peers)}, external+arrayBuffers ${kb((b.external - a.external) / peers)}, RSS ${kb((b.rss - a.rss) / peers)}`,
  );
}

const mux = await UdpMux.bind({ host: '127.0.0.1', port: 0 });
const port = mux.address().port;
const sessions: WebRtcSession[] = [];
let forwarded = 0;

/**
 * A child process of `n` client pairs, connected to 2n new server sessions relaying pairwise,
 * `wavePairs` pairs at a time; `afterWave` runs once each wave's channels are open.
 */
async function connectPairs(n: number, wavePairs = n, afterWave: (peers: number) => void = () => {}) {
  const { child, next } = forkRelayClients(n);
  const { offers } = await next<{ offers: string[] }>('offers');
  const first = sessions.length;
  for (let from = 0; from < n * 2; from += wavePairs * 2) {
    const count = Math.min(wavePairs * 2, n * 2 - from);
    for (let i = from; i < from + count; i++) {
      const peerIndex = first + (i % 2 === 0 ? i + 1 : i - 1);
      sessions.push(
        createWebRtcSession({
          mux,
          candidates: ['127.0.0.1'],
          port,
          connectTimeoutMs: 60_000,
          onVoice: (bytes) => {
            if (sessions[peerIndex]!.sendVoice(bytes)) forwarded++;
          },
          onClosed: () => {},
        }),
      );
    }
    const answers = await Promise.all(
      offers.slice(from, from + count).map((offer, i) => sessions[first + from + i]!.answer(offer)),
    );
    child.send({ kind: 'answers', answers, first: from });
    await next('open');
    afterWave(from + count);
  }
  return { child, next };
}

/** Least-squares slope of y over x: bytes per peer. */
function slope(points: { x: number; y: number }[]): number {
  const mx = points.reduce((s, p) => s + p.x, 0) / points.length;
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

function snapshot(name: string): string | undefined {
  if (values['heap-snapshot'] === undefined) return undefined;
  mkdirSync(values['heap-snapshot'], { recursive: true });
  return writeHeapSnapshot(join(values['heap-snapshot'], `${name}.heapsnapshot`));
}

// The first peers pay for what is per process (compiled code, werift's certificate, lazily
// built tables): the figures are the slope from this warm-up population to the measured one.
const warm = await connectPairs(5);
await new Promise((r) => setTimeout(r, 500));
const before = sample();
const beforeFile = snapshot('webPeers-before');
const curve: (Sample & { peers: number })[] = [{ peers: 0, ...before }];
const main = await connectPairs(pairs, wave, (peers) => {
  curve.push({ peers, ...sample() });
});
await new Promise((r) => setTimeout(r, 1000));
const idle = sample();
const peers = pairs * 2;
console.log(
  `${peers} web peers (server sessions) connected on one UDP port in waves of ${wave * 2}, after ${sessions.length - peers} warm-up peers`,
);
perPeer('idle', before, idle, peers);
const fit = (key: keyof Sample) => kb(slope(curve.map((p) => ({ x: p.peers, y: p[key] }))));
console.log(
  `idle fit  per peer: heap ${fit('heap')}, external+arrayBuffers ${fit('external')}, RSS ${fit('rss')} ` +
    `(slope over ${curve.length} samples at ${curve.map((p) => p.peers).join(', ')} peers)`,
);
const idleFile = snapshot('webPeers-idle');
if (beforeFile !== undefined && idleFile !== undefined) {
  const was = new Map(summarizeHeapSnapshot(beforeFile).map((row) => [row.name, row]));
  const rows = summarizeHeapSnapshot(idleFile)
    .map((row) => ({
      name: row.name,
      selfSize: row.selfSize - (was.get(row.name)?.selfSize ?? 0),
      count: row.count - (was.get(row.name)?.count ?? 0),
    }))
    .sort((a, b) => b.selfSize - a.selfSize)
    .slice(0, Number(values.top));
  console.log(`heap snapshots ${beforeFile}, ${idleFile}; what the ${peers} peers added, largest first:`);
  console.log('  bytes/peer  objects/peer  constructor');
  for (const row of rows) {
    console.log(
      `  ${(row.selfSize / peers).toFixed(0).padStart(10)}  ${(row.count / peers).toFixed(1).padStart(12)}  ${row.name}`,
    );
  }
}

const gcWatch = watchGc();
main.child.send({ kind: 'start', rate, seconds });
await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
const speaking = sample();
const done = await main.next<{ sent: number; received: number }>('done');
perPeer('speaking', before, speaking, peers);
// The young generation is per process, grown by the voice path's garbage: part of the speaking
// RSS above that does not scale with the peers.
console.log(`speaking  ${describeGc(gcWatch.stop())}`);
console.log(
  `voice: ${rate}/s per pair for ${seconds} s, sent ${done.sent}, received ${done.received}, forwarded by the server ${forwarded}`,
);
main.child.kill();
warm.child.kill();
await Promise.all(sessions.map((s) => s.close()));
await mux.close();
