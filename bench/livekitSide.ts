/**
 * The LiveKit side of `npm run bench -- --peer livekit`: a LiveKit server (v1.13.5, `--dev`,
 * built by bench/livekit/build.sh) pinned like grid, and its load client `lk-load`
 * (bench/livekit/main.go, on server-sdk-go) pinned like grid's load workers. `LiveKitLoad`
 * offers what the suite needs of a load test (join, measurement windows, close), so the
 * same ladder, bisection and memory probes run against both servers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { monotonicMicros } from './clock.ts';
import {
  type JoinResult,
  type Progress,
  percentiles,
  type RunParams,
  type RunResult,
  settledJoinResult,
  windowPhase,
  windowSchedule,
} from './loadTest.ts';
import { cpuShare, sampleProcess } from './procStat.ts';
import { freeTcpPort, freeUdpPort, pinned, type StartedServer, spawnLogged } from './serverProcess.ts';
import { Histogram } from './stats.ts';
import type { FromWorker } from './workerProtocol.ts';

const BUILD = fileURLToPath(new URL('./livekit/build.sh', import.meta.url));

/** Builds (or finds in the cache) livekit-server and lk-load; returns their folder. */
export function buildLiveKit(): string {
  return execFileSync('bash', [BUILD], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export type StartedLiveKit = StartedServer & { url: string; apiKey: string; apiSecret: string };

/**
 * `livekit-server --dev --bind 127.0.0.1`: LiveKit's development mode as shipped (keys
 * devkey/secret, debug log level, its default RTC settings), with only the three ports moved
 * to free ones so that it runs beside whatever else uses 7880-7882 here.
 */
export async function startLiveKit(binDir: string, options: { cpus?: string }): Promise<StartedLiveKit> {
  const dir = await mkdtemp(join(tmpdir(), 'livekit-bench-'));
  const [http, tcp, udp] = [await freeTcpPort(), await freeTcpPort(), await freeUdpPort()];
  const configBody = `port: ${http}\nrtc:\n  tcp_port: ${tcp}\n  udp_port: ${udp}\n`;
  const [command, args] = pinned(options.cpus, join(binDir, 'livekit-server'), [
    '--dev',
    '--bind',
    '127.0.0.1',
    '--config-body',
    configBody,
  ]);
  const { child, logTail, stop, ready } = spawnLogged(command, args, {
    cwd: dir,
    logFile: join(dir, 'livekit.log'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  });
  await ready(async () => (await fetch(`http://127.0.0.1:${http}/`)).ok, `livekit-server on port ${http}`);
  return {
    pid: child.pid!,
    url: `ws://127.0.0.1:${http}`,
    apiKey: 'devkey',
    apiSecret: 'secret',
    accessKey: '',
    logTail,
    stop,
  };
}

type Joined = {
  kind: 'joined';
  connectMs: number[];
  failures: string[] | null;
  subscribed: number;
  expectedSubscriptions: number;
  redTracks: number;
};
/** A worker's result (bench/workerProtocol.ts) less what lk-load does not measure. */
type Result = Omit<Extract<FromWorker, { kind: 'result' }>, 'loopDelayP99Ms' | 'gcTotalMs'>;

export type LiveKitPlan = {
  rooms: number;
  peers: number;
  speakers: number;
  payload: number;
  joinRate: number;
  clientCpus: string | undefined;
};

/** lk-load driven over JSON lines: the LiveKit counterpart of LoadTest (bench/loadTest.ts). */
export class LiveKitLoad {
  readonly #child: ChildProcess;
  readonly #lines: Interface;
  readonly #queue: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #ended = false;
  readonly #serverPid: number;
  joined!: JoinResult;
  /** Subscriptions LiveKit sent as audio/red instead of audio/opus. */
  redTracks = 0;

  private constructor(child: ChildProcess, serverPid: number) {
    this.#child = child;
    this.#serverPid = serverPid;
    this.#lines = createInterface({ input: child.stdout! });
    this.#lines.on('line', (line) => {
      if (this.#waiting) {
        const resolve = this.#waiting;
        this.#waiting = undefined;
        resolve(line);
      } else this.#queue.push(line);
    });
    this.#lines.on('close', () => {
      this.#ended = true;
      this.#waiting?.(undefined);
    });
  }

  #next(): Promise<string | undefined> {
    const line = this.#queue.shift();
    if (line !== undefined || this.#ended) return Promise.resolve(line);
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  async #expect<T extends { kind: string }>(kind: T['kind']): Promise<T> {
    const line = await this.#next();
    if (line === undefined) throw new Error(`lk-load exited (code ${this.#child.exitCode}) before '${kind}'`);
    const message = JSON.parse(line) as T;
    if (message.kind !== kind) throw new Error(`lk-load said '${message.kind}', expected '${kind}'`);
    return message;
  }

  static async start(
    binDir: string,
    server: StartedLiveKit,
    plan: LiveKitPlan,
    progress?: Progress,
  ): Promise<LiveKitLoad> {
    const [command, args] = pinned(plan.clientCpus, join(binDir, 'lk-load'), [
      `--url=${server.url}`,
      `--api-key=${server.apiKey}`,
      `--api-secret=${server.apiSecret}`,
      `--rooms=${plan.rooms}`,
      `--peers=${plan.peers}`,
      `--speakers=${plan.speakers}`,
      `--payload=${plan.payload}`,
      `--join-rate=${plan.joinRate}`,
    ]);
    const rssBefore = sampleProcess(server.pid)?.rssBytes;
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const load = new LiveKitLoad(child, server.pid);
    const total = plan.rooms * plan.peers;
    const ticker = setInterval(() => {
      const done = Math.min(total, ((performance.now() - started) / 1000) * plan.joinRate);
      progress?.(`joining ~${Math.round(done)}/${total} peers`, done / total);
    }, 250);
    try {
      const joined = await load.#expect<Joined>('joined');
      const seconds = (performance.now() - started) / 1000;
      const failures = [...(joined.failures ?? [])];
      if (joined.subscribed < joined.expectedSubscriptions) {
        failures.push(`${joined.expectedSubscriptions - joined.subscribed} subscriptions missing after 60 s`);
      }
      load.redTracks = joined.redTracks;
      // lk-load reports one time per peer: it stands for both connect and join.
      const connectMs = joined.connectMs ?? [];
      load.joined = await settledJoinResult({
        connectMs,
        joinMs: connectMs,
        failures,
        seconds,
        rssBefore,
        serverPid: server.pid,
      });
      return load;
    } catch (error) {
      await load.close();
      throw error;
    } finally {
      clearInterval(ticker);
    }
  }

  /** One measurement window, timed like LoadTest.run. */
  async run(params: RunParams, progress?: Progress): Promise<RunResult> {
    const window = windowSchedule(params);
    const { now, startAt, windowStart, windowEnd, collectAt } = window;
    const activeRooms = Array.from({ length: params.activeRooms }, (_, i) => i);
    this.#child.stdin!.write(
      `${JSON.stringify({ kind: 'run', startAt, windowStart, windowEnd, collectAt, activeRooms, rate: params.rate })}\n`,
    );
    const ticker = setInterval(() => {
      const at = monotonicMicros();
      progress?.(windowPhase(window, at), Math.min(1, (at - now) / (collectAt - now)));
    }, 250);
    const sampleAt = (time: number) =>
      new Promise<ReturnType<typeof sampleProcess>>((resolve) =>
        setTimeout(() => resolve(sampleProcess(this.#serverPid)), (time - monotonicMicros()) / 1000),
      );
    try {
      const [from, to, result] = await Promise.all([
        sampleAt(windowStart),
        sampleAt(windowEnd),
        this.#expect<Result>('result'),
      ]);
      const latency = new Histogram();
      latency.merge(result.latency);
      return {
        params,
        inPerSecond: result.sent / params.duration,
        outPerSecond: result.received / params.duration,
        expectedOutPerSecond: result.expected / params.duration,
        loss: result.expected === 0 ? 0 : Math.max(0, 1 - result.received / result.expected),
        latency: percentiles(latency, 1e-3),
        serverCpu: from && to ? cpuShare(from, to) : undefined,
        serverRss: to?.rssBytes,
        serverEnded: to === undefined,
        server: undefined,
        clients: {
          cpu: [result.cpu],
          loopDelayP99Ms: 0,
          skipped: result.skipped,
          refused: result.refused,
          gcMaxMs: result.gcMaxMs,
        },
      };
    } finally {
      clearInterval(ticker);
    }
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin!.end(`${JSON.stringify({ kind: 'close' })}\n`);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.#lines.close();
  }
}
