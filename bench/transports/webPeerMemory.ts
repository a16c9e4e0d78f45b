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
 *   node --expose-gc bench/transports/webPeerMemory.ts [--pairs 50] [--rate 50] [--seconds 5]
 *                                                       [--heap-snapshot /tmp/heap] [--top 25]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { UdpMux } from '../../server/transports/web/webrtc/udpMux.ts';
import { createWebRtcSession, type WebRtcSession } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { summarizeHeapSnapshot } from './heapSnapshotSummary.ts';
import { forkRelayClients } from './relayClientsProcess.ts';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '50' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    'heap-snapshot': { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
const pairs = Number(values.pairs);
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

/** A child process of `n` client pairs, connected to 2n new server sessions relaying pairwise. */
async function connectPairs(n: number) {
  const { child, next } = forkRelayClients(n);
  const { offers } = await next<{ offers: string[] }>('offers');
  const first = sessions.length;
  for (let i = 0; i < n * 2; i++) {
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
  const answers = await Promise.all(offers.map((offer, i) => sessions[first + i]!.answer(offer)));
  child.send({ kind: 'answers', answers });
  await next('open');
  return { child, next };
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
const main = await connectPairs(pairs);
await new Promise((r) => setTimeout(r, 1000));
const idle = sample();
const peers = pairs * 2;
console.log(
  `${peers} web peers (server sessions) connected on one UDP port, after ${sessions.length - peers} warm-up peers`,
);
perPeer('idle', before, idle, peers);
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

main.child.send({ kind: 'start', rate, seconds });
await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
const speaking = sample();
const done = await main.next<{ sent: number; received: number }>('done');
perPeer('speaking', before, speaking, peers);
console.log(
  `voice: ${rate}/s per pair for ${seconds} s, sent ${done.sent}, received ${done.received}, forwarded by the server ${forwarded}`,
);
main.child.kill();
warm.child.kill();
await Promise.all(sessions.map((s) => s.close()));
await mux.close();
