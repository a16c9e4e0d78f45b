/**
 * Memory per native QUIC peer on the server, and where it goes: a grid with `[quic] engine =
 * "native"` runs in this process (the same config as the suite's, bench/serverProcess.ts
 * startGrid); the peers are the load generator's (bench/worker.ts: OdinQuicClient on one shared
 * native client endpoint, rooms of `--room-size` with `--speakers` speakers), in a child
 * process, so only the server's memory is counted.
 *
 * Prints per peer, idle (joined, no voice) and speaking (every speaker sending `--rate`
 * packets/s, sampled while it flows):
 *   - RSS as the suite reports it (from the grid's start, no warm-up: per-process costs included)
 *     and the slope over a warm-up population (what one more peer costs);
 *   - the V8 heap used after a full GC, its committed spaces (new space = the young generation,
 *     which grows with the garbage of joining, per process), external and ArrayBuffer memory;
 *   - glibc malloc in use and its arenas (the addon: quiche, BoringSSL, our structs; Node's C++
 *     side), from the addon's `mallocInfo()`.
 * With --heap-snapshot DIR it writes V8 heap snapshots before and after the measured peers and
 * prints the constructors they added (self size per peer).
 *
 *   node --expose-gc bench/transports/nativePeerMemory.ts [--peers 400] [--warm 50]
 *        [--room-size 10] [--speakers 2] [--rate 50] [--seconds 4] [--join-rate 300]
 *        [--heap-snapshot /tmp/heap] [--top 25] [--exit-idle] [--log]
 *
 * `--exit-idle` exits right after the idle sample, for an allocation tracer: under
 * `heaptrack node --expose-gc bench/transports/nativePeerMemory.ts --exit-idle`, what it reports
 * as leaked is what was live with the peers idle, by call site (the load generator's process is
 * not traced).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { stringify as stringifyToml } from 'smol-toml';
import { accessKeyToJwk, generateAccessKey } from '../../common/auth/index.ts';
import { assembleGrid } from '../../server/assembly.ts';
import { parseConfigText } from '../../server/config/index.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { Grid } from '../../server/grid.ts';
import { createLogger } from '../../server/observability/log.ts';
import { loadNativeAddon } from '../../server/transports/quic/nativeAddon.ts';
import { QuicListener } from '../../server/transports/quic/quicListener.ts';
import { monotonicMicros } from '../clock.ts';
import type { FromWorker, PeerSpec, ToWorker } from '../workerProtocol.ts';
import { summarizeHeapSnapshot } from './heapSnapshotSummary.ts';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '400' },
    warm: { type: 'string', default: '50' },
    'room-size': { type: 'string', default: '10' },
    speakers: { type: 'string', default: '2' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '4' },
    'join-rate': { type: 'string', default: '300' },
    'heap-snapshot': { type: 'string' },
    top: { type: 'string', default: '25' },
    'exit-idle': { type: 'boolean', default: false },
    log: { type: 'boolean', default: false },
  },
});
const peers = Number(values.peers);
const warmPeers = Number(values.warm);
const roomSize = Number(values['room-size']);
const speakersPerRoom = Number(values.speakers);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc (the heap figures are taken after a full GC)');
  process.exit(2);
}
const addon = loadNativeAddon();

// The grid: the suite's config (startGrid), in this process.
const dir = mkdtempSync(join(tmpdir(), 'native-peer-memory-'));
const certificate = await createDevCertificate(['127.0.0.1', 'localhost']);
writeFileSync(join(dir, 'cert.pem'), certificate.certificatePem);
writeFileSync(join(dir, 'key.pem'), certificate.privateKeyPem, { mode: 0o600 });
const accessKey = generateAccessKey();
const tls = { certificate_file: join(dir, 'cert.pem'), privatekey_file: join(dir, 'key.pem') };
const configText = stringifyToml({
  public_address: '127.0.0.1',
  authorization: { keys: [accessKeyToJwk(accessKey)] },
  http: {
    binding: '127.0.0.1:0',
    webrtc_binding: '127.0.0.1:0',
    webrtc_candidates: ['127.0.0.1'],
    ...tls,
  },
  quic: { binding: '127.0.0.1:0', engine: 'native', ...tls },
  shutdown: { grace_period: 0 },
});
const config = parseConfigText(configText, { source: 'nativePeerMemory.toml', checkFiles: true });
const logger = createLogger({
  verbosity: 1,
  format: 'json',
  filters: ['warn'],
  // --log: the grid's warnings on stderr (why a join failed).
  destination: values.log ? process.stderr : new Writable({ write: (_chunk, _encoding, done) => done() }),
});
const { sfu, listeners } = assembleGrid(config, logger);
const grid = new Grid({ config, logger, listeners, core: sfu });
await grid.start();
const quic = listeners.find((listener) => listener instanceof QuicListener);
if (quic === undefined) throw new Error('no [quic] listener');
const address = `127.0.0.1:${quic.port}`;

type Sample = {
  /** RSS before the forced GC: what the suite reads from /proc. */
  rssAsIs: number;
  rss: number;
  heapUsed: number;
  heapCommitted: number;
  newSpace: number;
  external: number;
  arrayBuffers: number;
  mallocInUse: number;
  mallocArenas: number;
};
function sample(): Sample {
  const rssAsIs = process.memoryUsage.rss();
  gc!();
  gc!();
  const m = process.memoryUsage();
  const spaces = getHeapSpaceStatistics();
  const malloc = addon.mallocInfo();
  return {
    rssAsIs,
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapCommitted: m.heapTotal,
    newSpace: spaces.find((s) => s.space_name === 'new_space')?.space_size ?? 0,
    // `external` includes the ArrayBuffers; shown apart.
    external: m.external - m.arrayBuffers,
    arrayBuffers: m.arrayBuffers,
    mallocInUse: malloc.inUse,
    mallocArenas: malloc.arena + malloc.mmapped,
  };
}
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
function perPeer(label: string, a: Sample, b: Sample, n: number): void {
  const d = (key: keyof Sample) => kb((b[key] - a[key]) / n);
  console.log(
    `${label}: RSS ${d('rssAsIs')} (after GC ${d('rss')}); V8 heap used ${d('heapUsed')}, committed ${d('heapCommitted')} (of it new space ${d('newSpace')}); external ${d('external')}, ArrayBuffers ${d('arrayBuffers')}; malloc in use ${d('mallocInUse')}, arenas ${d('mallocArenas')}`,
  );
}

// The load generator's worker, as the suite forks it (loadTest.ts).
// Without a preloaded allocator tracer of ours (heaptrack): only the server is traced.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'LD_PRELOAD'));
const worker: ChildProcess = fork(new URL('../worker.ts', import.meta.url), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  env,
});
const inbox: FromWorker[] = [];
let waiting: (() => void) | undefined;
worker.on('message', (message: FromWorker) => {
  if (message.kind === 'joinProgress' || message.kind === 'progress') return;
  inbox.push(message);
  waiting?.();
});
async function next<K extends FromWorker['kind']>(kind: K): Promise<Extract<FromWorker, { kind: K }>> {
  for (;;) {
    const at = inbox.findIndex((m) => m.kind === kind);
    if (at >= 0) return inbox.splice(at, 1)[0] as Extract<FromWorker, { kind: K }>;
    await new Promise<void>((resolve) => {
      waiting = resolve;
    });
  }
}
const send = (message: ToWorker) => worker.send(message);

let joinedPeers = 0;
let rooms = 0;
/** Joins `n` more peers in new rooms of `roomSize`. */
async function joinPeers(n: number): Promise<number> {
  const specs: PeerSpec[] = [];
  for (let i = 0; i < n; i++) {
    const roomIndex = rooms + Math.floor(i / roomSize);
    specs.push({
      index: joinedPeers + i,
      transport: 'quic',
      address,
      room: `room-${roomIndex}`,
      roomIndex,
      user: `peer-${joinedPeers + i}`,
      speaker: i % roomSize < speakersPerRoom,
    });
  }
  rooms += Math.ceil(n / roomSize);
  joinedPeers += n;
  send({
    kind: 'join',
    peers: specs,
    accessKey,
    joinIntervalMs: 1000 / Number(values['join-rate']),
    payload: 60,
    timeoutMs: 30_000,
  });
  const joined = await next('joined');
  // A failed join is reported, not fatal: the figures divide by the sessions the server holds.
  if (joined.failures.length > 0) {
    console.log(`${joined.failures.length} of ${n} joins failed, first: ${joined.failures[0]}`);
  }
  return joined.joinMs.length;
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

function snapshot(name: string): string | undefined {
  if (values['heap-snapshot'] === undefined) return undefined;
  mkdirSync(values['heap-snapshot'], { recursive: true });
  return writeHeapSnapshot(join(values['heap-snapshot'], `${name}.heapsnapshot`));
}

const started = sample();
const warmJoined = await joinPeers(warmPeers);
await settle();
const warm = sample();
const beforeFile = snapshot('nativePeers-before');
const measured = await joinPeers(peers);
// As the suite: let the server settle (timers, GC) before reading its memory.
await settle();
const idle = sample();
console.log(
  `${measured} native QUIC peers (rooms of ${roomSize}, ${speakersPerRoom} speakers) after ${warmJoined} warm-up peers; sessions ${quic.stats.sessions}`,
);
perPeer(
  `idle, as the suite (from start, ${measured + warmJoined} peers)`,
  started,
  idle,
  measured + warmJoined,
);
perPeer('idle, slope over the warm-up', warm, idle, measured);
const idleFile = snapshot('nativePeers-idle');
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
  console.log(`heap snapshots ${beforeFile}, ${idleFile}; what the ${measured} peers added, largest first:`);
  console.log('  bytes/peer  objects/peer  constructor');
  for (const row of rows) {
    console.log(
      `  ${(row.selfSize / measured).toFixed(0).padStart(10)}  ${(row.count / measured).toFixed(1).padStart(12)}  ${row.name}`,
    );
  }
}

if (values['exit-idle']) {
  // For an allocation tracer (`heaptrack node ... --exit-idle`): what is live now is what it
  // reports as leaked at exit, the idle peers' memory by call site.
  worker.kill();
  process.exit(0);
}

// Speaking: every room's speakers send for --seconds; sampled halfway.
const seconds = Number(values.seconds);
const now = monotonicMicros();
const startAt = now + 200_000;
send({
  kind: 'run',
  startAt,
  windowStart: startAt,
  windowEnd: startAt + seconds * 1e6,
  collectAt: startAt + seconds * 1e6 + 500_000,
  activeRooms: Array.from({ length: rooms }, (_, i) => i),
  rate: Number(values.rate),
  align: false,
});
await new Promise((resolve) => setTimeout(resolve, 200 + (seconds * 1000) / 2));
const speaking = sample();
const result = await next('result');
perPeer('speaking, slope over the warm-up', warm, speaking, measured);
console.log(
  `voice: ${values.rate}/s per speaker for ${seconds} s, sent ${result.sent}, received ${result.received} of ${result.expected}`,
);
send({ kind: 'close' });
await next('closed');
await grid.shutdown('signal', { immediate: true });
rmSync(dir, { recursive: true, force: true });
