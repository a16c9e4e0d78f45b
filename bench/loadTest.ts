/**
 * The load-test coordinator: forks the worker processes, hands each its rooms, joins every
 * peer (join latency), then runs measurement windows on the joined population (the suite runs
 * several with different numbers of active rooms). Loss and latency come from the stamps in
 * the packets; server CPU and RSS from /proc when the server is a process we know.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import type { Transport } from './args.ts';
import { monotonicMicros } from './clock.ts';
import type { PeerTransport } from './peers.ts';
import { cpuShare, type ProcSample, sampleProcess } from './procStat.ts';
import { readServerCounters, type ServerCounters } from './serverProcess.ts';
import { Histogram } from './stats.ts';
import type { FromWorker, PeerSpec, ToWorker } from './workerProtocol.ts';

export type LoadTarget = { web?: string; quic?: string; udp?: string; metrics?: string; accessKey: string };

export type LoadPlan = {
  transport: Transport;
  rooms: number;
  peers: number;
  speakers: number;
  payload: number;
  joinRate: number;
  workers: number;
  clientCpus: string | undefined;
  target: LoadTarget;
  /** The server's pid when it runs on this machine (CPU and RSS from /proc). */
  serverPid: number | undefined;
  /** Room name prefix (distinct per load test against one server). */
  roomPrefix?: string;
};

export type Percentiles = { p50: number; p95: number; p99: number; max: number };

export type JoinResult = {
  peers: number;
  failures: string[];
  seconds: number;
  /** Transport set-up, ms. */
  connect: Percentiles;
  /** JoinRoom until Joined, ms. */
  join: Percentiles;
  /** RSS of the server before the peers joined and after, bytes. */
  rssBefore: number | undefined;
  rssAfter: number | undefined;
};

export type RunParams = {
  /** The first `activeRooms` rooms speak. */
  activeRooms: number;
  rate: number;
  duration: number;
  warmup: number;
  align: boolean;
};

export type RunResult = {
  params: RunParams;
  /** Voice packets/s the clients sent (into the server) and received (forwarded by it). */
  inPerSecond: number;
  outPerSecond: number;
  /** Deliveries expected per second (sent × receivers in the room). */
  expectedOutPerSecond: number;
  /** 1 - received / expected. */
  loss: number;
  /** End-to-end latency (send → receive through the server), ms. */
  latency: Percentiles;
  /** Server share of one core in the window, its RSS at the end (when its pid is known). */
  serverCpu: number | undefined;
  serverRss: number | undefined;
  /** The server process (its pid known) had ended by the end of the window. */
  serverEnded: boolean;
  /** Server-side counters per second (grid /metrics or the relay's own). */
  server: { inPerSecond: number; outPerSecond: number } | undefined;
  clients: {
    cpu: number[];
    loopDelayP99Ms: number;
    skipped: number;
    refused: number;
    /** Longest GC pause of a worker, ms. */
    gcMaxMs: number;
  };
};

export type Progress = (text: string, fraction: number) => void;

/**
 * The result of a finished join (grid's load workers or LiveKit's lk-load): times in ms, kept
 * in µs buckets for precision and reported back in ms; the server's RSS read after it settled.
 */
export async function settledJoinResult(joined: {
  connectMs: readonly number[];
  joinMs: readonly number[];
  failures: string[];
  seconds: number;
  rssBefore: number | undefined;
  serverPid: number | undefined;
}): Promise<JoinResult> {
  const connect = new Histogram();
  const join = new Histogram();
  for (const ms of joined.connectMs) connect.record(ms * 1000);
  for (const ms of joined.joinMs) join.record(ms * 1000);
  // Let the server settle (GC, timers) before reading its memory.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return {
    peers: join.count,
    failures: joined.failures,
    seconds: joined.seconds,
    connect: percentiles(connect, 1e-3),
    join: percentiles(join, 1e-3),
    rssBefore: joined.rssBefore,
    rssAfter: joined.serverPid === undefined ? undefined : sampleProcess(joined.serverPid)?.rssBytes,
  };
}

/**
 * The timeline of one measurement window, in the monotonic µs the load clients share (clock.ts):
 * 200 ms to hand the run out, the warm-up, the measured window, 1 s for the last packets.
 */
export type WindowSchedule = {
  now: number;
  startAt: number;
  windowStart: number;
  windowEnd: number;
  collectAt: number;
};

export function windowSchedule(params: RunParams): WindowSchedule {
  const now = monotonicMicros();
  const startAt = now + 200_000;
  const windowStart = startAt + params.warmup * 1e6;
  const windowEnd = windowStart + params.duration * 1e6;
  return { now, startAt, windowStart, windowEnd, collectAt: windowEnd + 1_000_000 };
}

/** Where `at` falls in the window (progress lines). */
export function windowPhase(window: WindowSchedule, at: number): 'warm-up' | 'measuring' | 'collecting' {
  return at < window.windowStart ? 'warm-up' : at < window.windowEnd ? 'measuring' : 'collecting';
}

export function percentiles(h: Histogram, scale: number): Percentiles {
  return {
    p50: h.percentile(50) * scale,
    p95: h.percentile(95) * scale,
    p99: h.percentile(99) * scale,
    max: (h.count === 0 ? Number.NaN : h.max) * scale,
  };
}

function addressFor(transport: PeerTransport, target: LoadTarget): string {
  // web-tcp peers use the web listener (their voice goes to the webrtc_binding port over TCP);
  // WebTransport over HTTP/2 is served on the [http] port.
  const address = target[transport === 'web-tcp' || transport === 'http2' ? 'web' : transport];
  if (address === undefined) throw new Error(`no ${transport} address to load`);
  return address;
}

/** Peer specs of one room: `speakers` first; `mix` alternates quic and web. */
export function roomPeers(
  plan: Pick<LoadPlan, 'transport' | 'peers' | 'speakers' | 'roomPrefix'>,
  room: number,
  firstIndex: number,
) {
  const specs: Omit<PeerSpec, 'address'>[] = [];
  for (let p = 0; p < plan.peers; p++) {
    const transport: PeerTransport =
      plan.transport === 'mix' ? (p % 2 === 0 ? 'quic' : 'web') : plan.transport;
    specs.push({
      index: firstIndex + p,
      transport,
      room: `${plan.roomPrefix ?? 'bench'}-${room}`,
      roomIndex: room,
      user: `bench-${room}-${p}`,
      speaker: p < plan.speakers,
    });
  }
  return specs;
}

export class LoadTest {
  readonly plan: LoadPlan;
  readonly #workers: ChildProcess[];
  #joined: JoinResult | undefined;

  private constructor(plan: LoadPlan, workers: ChildProcess[]) {
    this.plan = plan;
    this.#workers = workers;
  }

  get joined(): JoinResult {
    if (!this.#joined) throw new Error('not joined');
    return this.#joined;
  }

  /** Forks the workers and joins every peer. */
  static async start(plan: LoadPlan, progress?: Progress): Promise<LoadTest> {
    const count = Math.max(1, Math.min(plan.workers, plan.rooms));
    const workers: ChildProcess[] = [];
    for (let i = 0; i < count; i++) {
      // BENCH_WORKER_CPU_PROF=DIR profiles the load clients too (`--cpu-prof` into DIR).
      const profDir = process.env.BENCH_WORKER_CPU_PROF;
      const child = fork(new URL('./worker.ts', import.meta.url), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      });
      if (plan.clientCpus !== undefined && plan.clientCpus !== 'none') {
        execFileSync('taskset', ['-a', '-p', '-c', plan.clientCpus, String(child.pid)], { stdio: 'ignore' });
      }
      workers.push(child);
    }
    const test = new LoadTest(plan, workers);
    try {
      await test.#join(progress);
    } catch (error) {
      await test.close();
      throw error;
    }
    return test;
  }

  #next<K extends FromWorker['kind']>(
    worker: ChildProcess,
    kind: K,
    onOther?: (message: FromWorker) => void,
  ): Promise<Extract<FromWorker, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.kind === kind) {
          cleanup();
          resolve(message as Extract<FromWorker, { kind: K }>);
        } else onOther?.(message);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`a load worker exited (code ${code}) while waiting for '${kind}'`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
    });
  }

  async #join(progress?: Progress): Promise<void> {
    const plan = this.plan;
    const total = plan.rooms * plan.peers;
    const perWorker: PeerSpec[][] = this.#workers.map(() => []);
    for (let room = 0; room < plan.rooms; room++) {
      for (const spec of roomPeers(plan, room, room * plan.peers)) {
        perWorker[room % this.#workers.length]!.push({
          ...spec,
          address: addressFor(spec.transport, plan.target),
        });
      }
    }
    const rssBefore = plan.serverPid === undefined ? undefined : sampleProcess(plan.serverPid)?.rssBytes;
    const done = new Array<number>(this.#workers.length).fill(0);
    const started = performance.now();
    const results = await Promise.all(
      this.#workers.map((worker, i) => {
        const answer = this.#next(worker, 'joined', (message) => {
          if (message.kind !== 'joinProgress') return;
          done[i] = message.done;
          const sum = done.reduce((a, b) => a + b, 0);
          progress?.(`joining ${sum}/${total} peers`, sum / total);
        });
        worker.send({
          kind: 'join',
          peers: perWorker[i]!,
          accessKey: plan.target.accessKey,
          joinIntervalMs: (1000 * this.#workers.length) / plan.joinRate,
          payload: plan.payload,
          timeoutMs: 15_000,
        } satisfies ToWorker);
        return answer;
      }),
    );
    this.#joined = await settledJoinResult({
      connectMs: results.flatMap((result) => result.connectMs),
      joinMs: results.flatMap((result) => result.joinMs),
      failures: results.flatMap((result) => result.failures),
      seconds: (performance.now() - started) / 1000,
      rssBefore,
      serverPid: plan.serverPid,
    });
  }

  /** One measurement window. */
  async run(params: RunParams, progress?: Progress): Promise<RunResult> {
    const window = windowSchedule(params);
    const { now, startAt, windowStart, windowEnd, collectAt } = window;
    const activeRooms = Array.from({ length: Math.min(params.activeRooms, this.plan.rooms) }, (_, i) => i);
    const sent = new Array<number>(this.#workers.length).fill(0);
    const received = new Array<number>(this.#workers.length).fill(0);
    const totalUs = collectAt - now;
    let lastSent = 0;
    let lastReceived = 0;
    let lastAt = now;
    let rate = '';
    const answers = this.#workers.map((worker, i) => {
      const answer = this.#next(worker, 'result', (message) => {
        if (message.kind !== 'progress') return;
        sent[i] = message.sent;
        received[i] = message.received;
      });
      worker.send({
        kind: 'run',
        startAt,
        windowStart,
        windowEnd,
        collectAt,
        activeRooms,
        rate: params.rate,
        align: params.align,
      } satisfies ToWorker);
      return answer;
    });
    const ticker = setInterval(() => {
      const at = monotonicMicros();
      const s = sent.reduce((a, b) => a + b, 0);
      const r = received.reduce((a, b) => a + b, 0);
      if (at - lastAt >= 900_000) {
        const dt = (at - lastAt) / 1e6;
        rate = `in ${Math.round((s - lastSent) / dt)}/s out ${Math.round((r - lastReceived) / dt)}/s`;
        lastSent = s;
        lastReceived = r;
        lastAt = at;
      }
      progress?.(`${windowPhase(window, at)} ${rate}`, Math.min(1, (at - now) / totalUs));
    }, 250);

    // Server CPU, RSS and counters at the window edges.
    const pid = this.plan.serverPid;
    const at = (time: number) =>
      new Promise<{ proc: ProcSample | undefined; counters: ServerCounters | undefined; t: number }>(
        (resolve) =>
          setTimeout(
            async () => {
              const t = monotonicMicros();
              const proc = pid === undefined ? undefined : sampleProcess(pid);
              resolve({ proc, counters: await readServerCounters(this.plan.target), t });
            },
            (time - monotonicMicros()) / 1000,
          ),
      );
    const [from, to] = await Promise.all([at(windowStart), at(windowEnd)]);
    const results = await Promise.all(answers);
    clearInterval(ticker);

    const latency = new Histogram();
    let sentTotal = 0;
    let expected = 0;
    let receivedTotal = 0;
    let skipped = 0;
    let refused = 0;
    let loopDelay = 0;
    let gcMaxMs = 0;
    for (const result of results) {
      gcMaxMs = Math.max(gcMaxMs, result.gcMaxMs);
      latency.merge(result.latency);
      sentTotal += result.sent;
      expected += result.expected;
      receivedTotal += result.received;
      skipped += result.skipped;
      refused += result.refused;
      loopDelay = Math.max(loopDelay, result.loopDelayP99Ms);
    }
    const serverSeconds = (to.t - from.t) / 1e6;
    return {
      params,
      inPerSecond: sentTotal / params.duration,
      outPerSecond: receivedTotal / params.duration,
      expectedOutPerSecond: expected / params.duration,
      loss: expected === 0 ? 0 : Math.max(0, 1 - receivedTotal / expected),
      latency: percentiles(latency, 1e-3),
      serverCpu: from.proc && to.proc ? cpuShare(from.proc, to.proc) : undefined,
      serverRss: to.proc?.rssBytes,
      serverEnded: pid !== undefined && to.proc === undefined,
      server:
        from.counters && to.counters
          ? {
              inPerSecond: (to.counters.in - from.counters.in) / serverSeconds,
              outPerSecond: (to.counters.out - from.counters.out) / serverSeconds,
            }
          : undefined,
      clients: { cpu: results.map((r) => r.cpu), loopDelayP99Ms: loopDelay, skipped, refused, gcMaxMs },
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (worker) => {
        if (worker.exitCode !== null || !worker.connected) return;
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.send({ kind: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
