#!/usr/bin/env node
/**
 * `npm run bench`: the fixed benchmark suite. Prints numbers, not pass/fail.
 *
 * For the bare UDP relay (the baseline), QUIC and the web transport, each with a server
 * process of its own pinned to CPU 0 and the load clients on CPU 1:
 *   1. join a population of peers (join p50/p99; RSS per idle peer),
 *   2. a ladder of probes (more and more rooms speaking, 3 s each), then bisection between the
 *      last sustained and the first failed probe: the highest forwarded packets/s sustained
 *      (loss < 1%, clients keeping their schedule, p99 < 250 ms; see MAX_P99_MS),
 *   3. end-to-end latency at half that load; RSS per speaking peer with everyone speaking.
 * It also reports forwarded packets per second of *server CPU* (out/s ÷ the server's share of
 * its core, at the highest sustained probe), the figure that stays meaningful when the load clients, not the server, run out of
 * CPU first (on a 2-core machine the clients have one core, and receiving a packet costs them
 * about what forwarding it costs the server); and our per-core figures as a ratio of the
 * baseline's, comparable across (noisy) machines.
 *
 *   node bench/suite.ts [--repeat N] [--only udp,quic,web,web-tcp,http2] [--json]
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { buildLiveKit, LiveKitLoad, startLiveKit } from './livekitSide.ts';
import { type JoinResult, type LoadPlan, LoadTest, type RunParams, type RunResult } from './loadTest.ts';
import {
  compare,
  formatComparison,
  PEER_JOIN_RATE,
  PEER_ROOM_SIZES,
  PEER_ROOMS,
  PEER_SIDE_ALIASES,
  PEER_SIDES,
  PEER_SPEAKERS,
  type SideRun,
} from './peerComparison.ts';
import { ProgressBar } from './progress.ts';
import { fmtBytes, fmtInt, fmtMs, fmtPercent, formatTable, perPeer } from './report.ts';
import {
  hasTaskset,
  nativeAddonBuilt,
  type StartedServer,
  startGrid,
  startUdpRelay,
} from './serverProcess.ts';
import { median } from './stats.ts';

/** quic: `[quic]` on the native engine (docs/native-quic.md; needs the addon built). */
type Kind = 'udp' | 'quic' | 'web' | 'web-tcp' | 'http2';
/**
 * `quic-native`, the name of the native engine's row while @matrixai/quic was `quic`: still
 * accepted by --only, as `quic` (docs and scripts use it).
 */
const KIND_ALIASES: Readonly<Record<string, Kind>> = { 'quic-native': 'quic' };

/** The fixed load shapes: realistic game voice rooms, sized so the clients can follow. */
export const SHAPES: Record<Kind, { rooms: number; peers: number; speakers: number; joinRate: number }> = {
  udp: { rooms: 180, peers: 10, speakers: 2, joinRate: 1000 },
  quic: { rooms: 40, peers: 10, speakers: 2, joinRate: 200 },
  web: { rooms: 40, peers: 5, speakers: 2, joinRate: 25 },
  // The same rooms with every web peer's voice over ICE-TCP: the two rows compare directly.
  'web-tcp': { rooms: 40, peers: 5, speakers: 2, joinRate: 25 },
  // The native client over TCP: the QUIC shape, so the two compare directly.
  http2: { rooms: 40, peers: 10, speakers: 2, joinRate: 200 },
};
const RATE = 50;

/** Opus payload bytes per voice packet (a 20 ms voice frame is typically 40..120). */
const PAYLOAD = 60;
const PROBE_SECONDS = 3;
const WARMUP_SECONDS = 1;
/**
 * A probe is sustained when loss < 1% (the issue's definition), the load clients kept their
 * schedule (skipped <= 1% of the sends) and the end-to-end p99 stayed under 250 ms (a backlog
 * growing through the window shows here before it turns into loss). Latency proper is measured
 * separately, at half the sustained load.
 */
const MAX_P99_MS = 250;

export type Probe = {
  activeRooms: number;
  out: number;
  in: number;
  loss: number;
  p99: number;
  serverCpu: number | undefined;
  clientCpu: number;
  skipped: number;
  sustained: boolean;
  /** The first try failed on a latency spike with both cores below 85%: this is the second. */
  retried?: boolean;
  /** The server process had ended by the end of this probe's window. */
  serverEnded?: boolean;
};

export type TransportResult = {
  kind: Kind | 'livekit';
  shape: Shape;
  /** LiveKit only: subscriptions it sent as audio/red (RFC 2198) instead of plain Opus. */
  redTracks?: number;
  join: JoinResult;
  probes: Probe[];
  /** Highest out/s of a sustained probe. */
  maxSustained: number;
  /**
   * What failed first: 'server' (its core >= 85% busy), 'clients' (theirs, or they fell behind),
   * 'latency' (neither saturated: a latency spike, e.g. another process on the machine), 'none';
   * 'server ended' when the server process exited during a probe (the probes stop there).
   */
  bound: 'server' | 'clients' | 'latency' | 'none' | 'server ended';
  /** With bound 'server ended': the probe it ended in and the last lines of its log. */
  serverEnded?: string;
  /** out/s ÷ server CPU share at the highest sustained probe (the server >= 20% busy). */
  perServerCore: number | undefined;
  halfLoad: { out: number; p50: number; p95: number; p99: number } | undefined;
  memory: { idlePerPeer: number | undefined; speakingPerPeer: number | undefined };
};

/** Sends the load clients skipped (fell > 2 frames behind) may be at most this share of those sent. */
const MAX_SKIPPED = 0.01;

function isSustained(run: RunResult): boolean {
  const sent = run.inPerSecond * run.params.duration;
  return (
    run.loss < 0.01 &&
    run.latency.p99 < MAX_P99_MS &&
    run.clients.skipped <= MAX_SKIPPED * sent &&
    run.outPerSecond > 0
  );
}

function toProbe(run: RunResult): Probe {
  return {
    activeRooms: run.params.activeRooms,
    out: run.outPerSecond,
    in: run.inPerSecond,
    loss: run.loss,
    p99: run.latency.p99,
    serverCpu: run.serverCpu,
    clientCpu: Math.max(...run.clients.cpu),
    skipped: run.clients.skipped,
    sustained: isSustained(run) && !run.serverEnded,
    ...(run.serverEnded ? { serverEnded: true } : {}),
  };
}

/** Thrown inside `measure` when a probe finds the server process gone: ends the probes. */
class ServerEnded extends Error {}

/** What the probes need of a load test: grid's LoadTest, or LiveKitLoad (bench/livekitSide.ts). */
export type Load = {
  readonly joined: JoinResult;
  run(params: RunParams, progress?: (text: string, fraction: number) => void): Promise<RunResult>;
  close(): Promise<void>;
};

export type Shape = { rooms: number; peers: number; speakers: number; joinRate: number };

async function benchTransport(kind: Kind, cpus: { server?: string; client?: string }, bar: ProgressBar) {
  return benchGrid(kind, SHAPES[kind], cpus, bar);
}

/** One grid transport (or the bare UDP relay) at one shape, on a server of its own. */
async function benchGrid(
  kind: Kind,
  shape: Shape,
  cpus: { server?: string; client?: string },
  bar: ProgressBar,
  label: string = kind,
  climbWhileNoLoss = false,
): Promise<TransportResult> {
  const say = (text: string, fraction: number) => bar.update(`${label}: ${text}`, fraction);
  say('starting the server', 0);
  const server: StartedServer =
    kind === 'udp'
      ? await startUdpRelay(cpus.server === undefined ? {} : { cpus: cpus.server })
      : await startGrid(cpus.server === undefined ? {} : { cpus: cpus.server });
  let test: LoadTest | undefined;
  try {
    const plan: LoadPlan = {
      transport: kind,
      ...shape,
      payload: PAYLOAD,
      workers: 1,
      clientCpus: cpus.client,
      target: server,
      serverPid: server.pid,
    };
    test = await LoadTest.start(plan, say);
    return { kind, ...(await measure(test, shape, say, climbWhileNoLoss, server.logTail)) };
  } finally {
    await test?.close();
    await server.stop();
  }
}

/** LiveKit (bench/livekitSide.ts) at one shape, pinned and loaded like grid. */
async function benchLiveKit(
  binDir: string,
  shape: Shape,
  cpus: { server?: string; client?: string },
  bar: ProgressBar,
  label: string,
): Promise<TransportResult> {
  const say = (text: string, fraction: number) => bar.update(`${label}: ${text}`, fraction);
  say('starting the server', 0);
  const server = await startLiveKit(binDir, cpus.server === undefined ? {} : { cpus: cpus.server });
  let load: LiveKitLoad | undefined;
  try {
    load = await LiveKitLoad.start(
      binDir,
      server,
      { ...shape, payload: PAYLOAD, clientCpus: cpus.client },
      say,
    );
    const result = await measure(load, shape, say, true, server.logTail);
    return { kind: 'livekit', ...result, redTracks: load.redTracks };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nlivekit-server log:\n${await server.logTail()}`);
  } finally {
    await load?.close();
    await server.stop();
  }
}

/**
 * The probes of one server and shape: a ladder of more and more rooms speaking, bisection,
 * latency at half the sustained load, memory with everyone speaking.
 */
async function measure(
  test: Load,
  shape: Shape,
  say: (text: string, fraction: number) => void,
  climbWhileNoLoss = false,
  serverLog: () => Promise<string> = async () => '',
): Promise<Omit<TransportResult, 'kind'>> {
  const probes: Probe[] = [];
  try {
    return await measureProbes(test, shape, say, climbWhileNoLoss, probes);
  } catch (error) {
    if (!(error instanceof ServerEnded)) throw error;
    // The server ending is a result of this side, not a crash of the bench: report what was
    // measured up to then, and why it stopped.
    const join = test.joined;
    return {
      shape,
      join,
      probes,
      maxSustained: Math.max(0, ...probes.filter((p) => p.sustained).map((p) => p.out)),
      bound: 'server ended',
      serverEnded: `${error.message}\n${await serverLog()}`,
      perServerCore: undefined,
      halfLoad: undefined,
      memory: { idlePerPeer: perPeer(join.rssBefore, join.rssAfter, join.peers), speakingPerPeer: undefined },
    };
  }
}

async function measureProbes(
  test: Load,
  shape: Shape,
  say: (text: string, fraction: number) => void,
  climbWhileNoLoss: boolean,
  probes: Probe[],
): Promise<Omit<TransportResult, 'kind'>> {
  {
    const once = (activeRooms: number, label: string) =>
      test.run(
        { activeRooms, rate: RATE, duration: PROBE_SECONDS, warmup: WARMUP_SECONDS, align: false },
        (text, fraction) => say(`${label} ${activeRooms} rooms ${text}`, fraction),
      );
    // A probe that fails while neither the server nor the clients are near a full core failed
    // on a latency spike from elsewhere (the machine is shared): it gets one second chance.
    const probe = async (activeRooms: number, label: string) => {
      let run = await once(activeRooms, label);
      let p = toProbe(run);
      if (!p.sustained && !run.serverEnded && (p.serverCpu ?? 0) < 0.85 && p.clientCpu < 0.85) {
        run = await once(activeRooms, `${label} (again)`);
        p = { ...toProbe(run), retried: true };
      }
      if (run.serverEnded) {
        probes.push(p);
        throw new ServerEnded(`the server process ended during the ${label} probe of ${activeRooms} rooms`);
      }
      return { run, probe: p };
    };
    const runs: RunResult[] = [];
    // Ladder: 1/6, 2/6 ... of the rooms until a probe fails; then bisect twice.
    let good = 0;
    let bad = shape.rooms + 1;
    // Side by side, every server also gets a probe at 1/12 of the rooms: a load that all sides
    // carry even on a busy machine, so the equal-load comparison always has a common point.
    for (const step of climbWhileNoLoss ? [0.5, 1, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5, 6]) {
      const rooms = Math.max(1, Math.round((shape.rooms * step) / 6));
      const { run, probe: p } = await probe(rooms, 'ladder');
      probes.push(p);
      runs.push(run);
      if (p.sustained) good = rooms;
      else {
        bad = Math.min(bad, rooms);
        // Side by side (`climbWhileNoLoss`), a probe that lost < 1% but missed the latency or
        // schedule checks does not end the ladder: the equal-load comparison reads its CPU.
        if (!(climbWhileNoLoss && p.loss < 0.01)) break;
      }
    }
    if (good > bad) bad = shape.rooms + 1; // a later step passed: nothing left to bisect
    for (let i = 0; i < 2 && bad - good > 1 && bad <= shape.rooms; i++) {
      const rooms = Math.round((good + bad) / 2);
      const { run, probe: p } = await probe(rooms, 'bisect');
      probes.push(p);
      runs.push(run);
      if (p.sustained) good = rooms;
      else bad = rooms;
    }
    const sustained = probes.filter((p) => p.sustained);
    const maxSustained = Math.max(0, ...sustained.map((p) => p.out));
    const failed = probes.find((p) => !p.sustained);
    const bound: TransportResult['bound'] =
      failed === undefined
        ? 'none'
        : (failed.serverCpu ?? 0) >= 0.85
          ? 'server'
          : failed.clientCpu >= 0.85 || failed.skipped > 0
            ? 'clients'
            : 'latency';
    const top = sustained
      .filter((p) => (p.serverCpu ?? 0) >= 0.2)
      .reduce<Probe | undefined>((best, p) => (best === undefined || p.out > best.out ? p : best), undefined);
    const perCore = top === undefined ? Number.NaN : top.out / (top.serverCpu as number);
    // Latency at half the sustained load.
    let halfLoad: TransportResult['halfLoad'];
    if (good > 0) {
      const { run } = await probe(Math.max(1, Math.round(good / 2)), 'half load');
      halfLoad = { out: run.outPerSecond, p50: run.latency.p50, p95: run.latency.p95, p99: run.latency.p99 };
    }
    // Everyone speaking: RSS per speaking peer.
    const { run: full } = await probe(shape.rooms, 'all speaking');
    const join = test.joined;
    return {
      shape,
      join,
      probes,
      maxSustained,
      bound,
      perServerCore: Number.isNaN(perCore) ? undefined : perCore,
      halfLoad,
      memory: {
        idlePerPeer: perPeer(join.rssBefore, join.rssAfter, join.peers),
        speakingPerPeer: perPeer(join.rssBefore, full.serverRss, join.peers),
      },
    };
  }
}

function medianOf(
  results: TransportResult[],
  pick: (r: TransportResult) => number | undefined,
): number | undefined {
  const values = results.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return values.length === 0 ? undefined : median(values);
}

export type SuiteSummary = Record<
  Kind,
  {
    maxSustained: number | undefined;
    bound: string;
    perServerCore: number | undefined;
    ratioToBaseline: number | undefined;
    latencyHalfLoad: { p50: number | undefined; p99: number | undefined };
    join: { p50: number | undefined; p99: number | undefined };
    connect: { p50: number | undefined; p99: number | undefined };
    idlePerPeer: number | undefined;
    speakingPerPeer: number | undefined;
  }
>;

export function summarize(all: Partial<Record<Kind, TransportResult[]>>): Partial<SuiteSummary> {
  const summary: Partial<SuiteSummary> = {};
  const base = all.udp ? medianOf(all.udp, (r) => r.perServerCore) : undefined;
  for (const [kind, results] of Object.entries(all) as [Kind, TransportResult[]][]) {
    const perCore = medianOf(results, (r) => r.perServerCore);
    summary[kind] = {
      maxSustained: medianOf(results, (r) => r.maxSustained),
      bound: results.map((r) => r.bound).join(','),
      perServerCore: perCore,
      ratioToBaseline: perCore !== undefined && base !== undefined ? perCore / base : undefined,
      latencyHalfLoad: {
        p50: medianOf(results, (r) => r.halfLoad?.p50),
        p99: medianOf(results, (r) => r.halfLoad?.p99),
      },
      join: {
        p50: medianOf(results, (r) => r.join.join.p50),
        p99: medianOf(results, (r) => r.join.join.p99),
      },
      connect: {
        p50: medianOf(results, (r) => r.join.connect.p50),
        p99: medianOf(results, (r) => r.join.connect.p99),
      },
      idlePerPeer: medianOf(results, (r) => r.memory.idlePerPeer),
      speakingPerPeer: medianOf(results, (r) => r.memory.speakingPerPeer),
    };
  }
  return summary;
}

function printSummary(summary: Partial<SuiteSummary>, repeat: number): string {
  const rows: [string, string][] = [];
  const names: Record<Kind, string> = {
    udp: 'bare UDP relay (baseline)',
    quic: 'QUIC / WebTransport (native engine)',
    web: 'web (WebSocket + WebRTC data channel)',
    'web-tcp': 'web over ICE-TCP (data channel on TCP; loopback, so no loss and no head-of-line stalls)',
    http2:
      'WebTransport over HTTP/2 (TCP; head-of-line blocking: a lost segment delays every packet behind it)',
  };
  for (const kind of ['udp', 'quic', 'web', 'web-tcp', 'http2'] as Kind[]) {
    const s = summary[kind];
    if (!s) continue;
    const shape = SHAPES[kind];
    rows.push([
      '',
      `${names[kind]}: rooms of ${shape.peers} (${shape.speakers} speaking), ${RATE} packets/s per speaker`,
    ]);
    rows.push(['max sustained', `${fmtInt(s.maxSustained)} forwarded/s (< 1% loss; stopped by: ${s.bound})`]);
    rows.push([
      'per server core',
      `${fmtInt(s.perServerCore)} forwarded/s per CPU-second${s.ratioToBaseline === undefined || kind === 'udp' ? '' : ` = ${s.ratioToBaseline.toFixed(2)} × baseline`}`,
    ]);
    rows.push([
      'latency @ half load',
      `p50 ${fmtMs(s.latencyHalfLoad.p50)} ms, p99 ${fmtMs(s.latencyHalfLoad.p99)} ms (end to end)`,
    ]);
    if (kind !== 'udp') {
      rows.push(['join (JoinRoom→Joined)', `p50 ${fmtMs(s.join.p50)} ms, p99 ${fmtMs(s.join.p99)} ms`]);
      rows.push(['connect (transport)', `p50 ${fmtMs(s.connect.p50)} ms, p99 ${fmtMs(s.connect.p99)} ms`]);
    }
    rows.push(['RSS per peer', `idle ${fmtBytes(s.idlePerPeer)}, speaking ${fmtBytes(s.speakingPerPeer)}`]);
  }
  return `${formatTable(rows)}\n(${repeat === 1 ? 'one run' : `medians of ${repeat} runs`}; server on CPU 0, clients on CPU 1)\n`;
}

function printProbes(result: TransportResult): string {
  return result.probes
    .map(
      (p) =>
        `  ${result.kind}/${result.shape.peers} ${String(p.activeRooms).padStart(3)} rooms: out ${fmtInt(p.out).padStart(7)}/s in ${fmtInt(p.in).padStart(6)}/s loss ${fmtPercent(p.loss, 2).padStart(7)} p99 ${fmtMs(p.p99).padStart(5)} ms server ${fmtPercent(p.serverCpu).padStart(5)} clients ${fmtPercent(p.clientCpu).padStart(5)}${p.skipped ? ` skipped ${p.skipped}` : ''} ${p.sustained ? 'ok' : 'FAIL'}${p.retried ? ' (2nd try)' : ''}${p.serverEnded ? ' SERVER ENDED' : ''}`,
    )
    .concat(result.serverEnded === undefined ? [] : [`  ${result.serverEnded.replaceAll('\n', '\n  ')}`])
    .join('\n');
}

function parseSuiteArgs() {
  return parseArgs({
    options: {
      repeat: { type: 'string', default: '1' },
      only: { type: 'string' },
      peer: { type: 'string' },
      'room-sizes': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

const suiteHelp = `Usage: npm run bench [-- --repeat N] [--only udp,quic,web,web-tcp,http2] [--json]
       npm run bench -- --peer livekit [--only web,quic,livekit] [--room-sizes 5,10] [--repeat N]

The fixed benchmark suite (docs/performance.md): for each transport, the highest forwarded
voice packets/s one server core sustains at < 1% loss, latency at half that load, join time and
memory per peer, beside a bare UDP relay baseline. Prints numbers, not pass/fail; about 5 min.

  --repeat N     run the suite N times and print medians (default 1)
  --only LIST    transports to measure, of udp, quic, web, web-tcp, http2 (default all; quic
                 when the native addon is built, docs/native-quic.md; quic-native is an
                 older name of quic)
  --json         the summary and every probe as JSON on stdout
  --peer livekit grid's web and QUIC paths beside LiveKit v1.13.5 (--dev), audio only, 40 rooms
                 of each --room-sizes (default 5,10) with 2 speaking; per-core ratios
                 grid/LiveKit (docs/performance.md, "LiveKit side by side"); the QUIC path
                 when the addon is built. Builds
                 livekit-server and its load client with Go on first use (bench/livekit/).

For one load test with your own shape: npx grid-bench --help`;

const kindNames: readonly Kind[] = ['udp', 'quic', 'web', 'web-tcp', 'http2'];

/** --only's list: aliases resolved, each once, in the order given. */
function onlyList<T extends string>(text: string, aliases: Readonly<Record<string, T>>): T[] {
  return [...new Set(text.split(',').map((name) => aliases[name] ?? (name as T)))];
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseSuiteArgs>;
  try {
    parsed = parseSuiteArgs();
  } catch (error) {
    process.stderr.write(
      `bench suite: ${(error as Error).message}\nRun 'npm run bench -- --help' for usage.\n`,
    );
    process.exitCode = 2;
    return;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${suiteHelp}\n`);
    return;
  }
  const repeat = Number(values.repeat);
  if (values.peer !== undefined) {
    await peerMain(values, repeat);
    return;
  }
  // quic joins the default list once the addon is built (npm run build:native).
  const defaultKinds = kindNames.filter((kind) => kind !== 'quic' || nativeAddonBuilt());
  const kinds = onlyList(values.only ?? defaultKinds.join(','), KIND_ALIASES);
  const unknown = kinds.filter((kind) => !kindNames.includes(kind));
  if (!Number.isInteger(repeat) || repeat < 1 || unknown.length > 0) {
    process.stderr.write(
      `bench suite: ${unknown.length > 0 ? `unknown transport(s) ${unknown.join(', ')} in --only` : `--repeat must be a whole number >= 1, got '${values.repeat}'`}\n`,
    );
    process.exitCode = 2;
    return;
  }
  const cpus = pinning();
  const bar = new ProgressBar(process.stderr, true);
  const all: Partial<Record<Kind, TransportResult[]>> = {};
  for (let i = 0; i < repeat; i++) {
    for (const kind of kinds) {
      const result = await benchTransport(kind, cpus, bar);
      bar.done();
      const list = all[kind] ?? [];
      list.push(result);
      all[kind] = list;
      process.stderr.write(`${printProbes(result)}\n`);
    }
  }
  bar.done();
  const summary = summarize(all);
  if (values.json) process.stdout.write(`${JSON.stringify({ summary, runs: all }, null, 2)}\n`);
  else process.stdout.write(printSummary(summary, repeat));
}

function pinning() {
  const pin = availableParallelism() >= 2 && hasTaskset();
  return pin
    ? { server: '0', client: availableParallelism() === 2 ? '1' : `1-${availableParallelism() - 1}` }
    : {};
}

/** `--peer livekit`: the same room shapes on grid (web, QUIC) and LiveKit, side by side. */
async function peerMain(values: ReturnType<typeof parseSuiteArgs>['values'], repeat: number) {
  // quic joins the default sides once the addon is built (npm run build:native).
  const defaultSides = PEER_SIDES.filter((side) => side !== 'quic' || nativeAddonBuilt());
  if (values.only === undefined && !defaultSides.includes('quic')) {
    process.stderr.write('quic left out: the native addon is not built (npm run build:native)\n');
  }
  const sides = onlyList(values.only ?? defaultSides.join(','), PEER_SIDE_ALIASES);
  const sizes = (values['room-sizes'] ?? PEER_ROOM_SIZES.join(',')).split(',').map(Number);
  const problem =
    values.peer !== 'livekit'
      ? `--peer knows only 'livekit', got '${values.peer}'`
      : sides.some((side) => !PEER_SIDES.includes(side))
        ? `--only with --peer takes ${PEER_SIDES.join(', ')}, got '${values.only}'`
        : sizes.some((n) => !Number.isInteger(n) || n < PEER_SPEAKERS + 1 || n > 50)
          ? `--room-sizes takes whole numbers ${PEER_SPEAKERS + 1}..50, got '${values['room-sizes']}'`
          : !Number.isInteger(repeat) || repeat < 1
            ? `--repeat must be a whole number >= 1, got '${values.repeat}'`
            : undefined;
  if (problem !== undefined) {
    process.stderr.write(`bench suite: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  // Build (or find) LiveKit's two programs before measuring anything: a cold build takes minutes
  // and may fail, and neither should happen after the grid sides were measured.
  const liveKitBin = sides.includes('livekit') ? buildLiveKit() : undefined;
  const cpus = pinning();
  const bar = new ProgressBar(process.stderr, true);
  const loadBefore = loadavg();
  const runs: (SideRun & { result: TransportResult })[] = [];
  for (let i = 0; i < repeat; i++) {
    for (const peers of sizes) {
      for (const side of sides) {
        const shape = { rooms: PEER_ROOMS, peers, speakers: PEER_SPEAKERS, joinRate: PEER_JOIN_RATE[side] };
        const label = `${side} (rooms of ${peers})`;
        const result =
          side === 'livekit'
            ? await benchLiveKit(liveKitBin!, shape, cpus, bar, label)
            : await benchGrid(side, shape, cpus, bar, label, true);
        bar.done();
        runs.push({ side, peers, result });
        process.stderr.write(
          `${printProbes(result)}${result.join.failures.length > 0 ? `\n  ${label}: ${result.join.failures.length} join failures, first: ${result.join.failures[0]}` : ''}\n`,
        );
      }
    }
  }
  bar.done();
  const loadAfter = loadavg();
  const rows = compare(runs);
  const red = runs.filter((r) => r.side === 'livekit').map((r) => r.result.redTracks ?? 0);
  const note = [
    `(${repeat === 1 ? 'one run' : `medians of ${repeat} runs`}; server on CPU ${cpus.server ?? 'any'}, clients on CPU ${cpus.client ?? 'any'};`,
    ` load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' ')} after, on ${availableParallelism()} cores;`,
    red.length > 0 ? ` LiveKit sent ${Math.max(...red)} subscriptions as audio/red)` : ')',
  ].join('');
  if (values.json)
    process.stdout.write(`${JSON.stringify({ rows, loadBefore, loadAfter, runs }, null, 2)}\n`);
  else process.stdout.write(`${formatComparison(rows)}\n${note}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench suite: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
