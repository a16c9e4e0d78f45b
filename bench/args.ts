/**
 * `grid-bench` options: parsed once into a typed `BenchOptions`; every problem is reported
 * with the flag, the value and what would be accepted.
 */
import { parseArgs } from 'node:util';

/** `http2`: native clients over WebTransport over HTTP/2 on the [http] port (`--web`), the UDP-blocked fallback. */
export type Transport = 'quic' | 'web' | 'web-tcp' | 'mix' | 'udp' | 'http2';
export const TRANSPORTS: readonly Transport[] = ['quic', 'web', 'web-tcp', 'mix', 'udp', 'http2'];

export type BenchTarget = {
  /** host:port of the [http] listener (web transport). */
  web?: string;
  /** host:port of the [quic] listener. */
  quic?: string;
  /** host:port of a bare UDP relay (the baseline; bench/udpRelay.ts). */
  udp?: string;
  /** host:port of the [metrics] listener: server-side packet counters when given. */
  metrics?: string;
  /** Access key the server trusts; tokens are minted from it. */
  accessKey: string;
};

export type BenchOptions = {
  transport: Transport;
  rooms: number;
  /** Peers per room. */
  peers: number;
  /** Speaking peers per room (<= peers). */
  speakers: number;
  /** Voice packets per second per speaker (50: 20 ms frames). */
  rate: number;
  /** Opus payload bytes per packet (>= 16: the stamp). */
  payload: number;
  /** Seconds measured. */
  duration: number;
  /** Seconds of voice before the measurement starts. */
  warmup: number;
  /** Peers joining per second, over all workers. */
  joinRate: number;
  /** Load client processes. */
  workers: number;
  /** Speakers send at the same instant of each frame (true) or spread over the frame (false). */
  align: boolean;
  /** A running server, or undefined: the bench starts `grid` itself on loopback. */
  target: BenchTarget | undefined;
  /** CPU list for `taskset -c` of the server it starts ('none': no pinning; undefined: auto). */
  serverCpus: string | undefined;
  /** CPU list for `taskset -c` of the load clients. */
  clientCpus: string | undefined;
  /** Directory for a `--cpu-prof` profile of the server it starts. */
  cpuProf: string | undefined;
  json: boolean;
  progress: boolean;
  help: boolean;
};

export const benchHelp = `grid-bench: load test an ODIN Grid server

Usage: grid-bench [options]            (npx grid-bench, or node bench/gridBench.ts)

Load:
  --transport quic|web|web-tcp|mix|udp|http2   client transport (default quic). web: WebSocket +
                                 WebRTC data channel; web-tcp: the same over ICE-TCP; mix: every
                                 other peer web; udp: the bare relay baseline; http2: WebTransport
                                 over HTTP/2 on --web's port
  --rooms N          rooms (default 10)
  --peers M          peers per room (default 5)
  --speakers S       speaking peers per room (default 2)
  --rate R           voice packets/s per speaker (default 50: 20 ms frames)
  --payload B        opus bytes per packet (default 60; >= 16)
  --duration S       seconds measured (default 10)
  --warmup S         seconds of voice before measuring (default 2)
  --join-rate J      peers joining per second (default 100)
  --workers W        load client processes (default 1)
  --align            speakers send at the same instant of each frame (default: spread)

Server (default: start grid on loopback, pinned with taskset when there are >= 2 CPUs):
  --web HOST:PORT    target a running server's [http] listener
  --quic HOST:PORT   target a running server's [quic] listener
  --udp HOST:PORT    target a running bare UDP relay (bench/udpRelay.ts)
  --metrics HOST:PORT  the running server's [metrics] listener (server-side counters)
  --access-key KEY   access key of the running server (or env BENCH_ACCESS_KEY)
  --server-cpus L    taskset CPU list of the started server (default 0; 'none': unpinned)
  --client-cpus L    taskset CPU list of the load clients (default 1; 'none': unpinned)
  --cpu-prof DIR     write a V8 CPU profile of the started server into DIR

Output:
  --json             one JSON object on stdout instead of the table
  --no-progress      no progress bar (it is drawn only on a TTY anyway)
  -h, --help
`;

export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

function positive(flag: string, text: string | undefined, fallback: number, integer = true): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new BenchUsageError(
      `--${flag} ${JSON.stringify(text)}: expected a ${integer ? 'whole ' : ''}number > 0`,
    );
  }
  return value;
}

function hostPort(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(text)) {
    throw new BenchUsageError(`--${flag} ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:4433`);
  }
  return text;
}

function cpuList(flag: string, text: string | undefined): string | undefined {
  if (text === undefined || text === 'none') return text;
  if (!/^\d+([-,]\d+)*$/.test(text)) {
    throw new BenchUsageError(
      `--${flag} ${JSON.stringify(text)}: expected a taskset CPU list (0, 1-3, 0,2) or none`,
    );
  }
  return text;
}

export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        transport: { type: 'string' },
        rooms: { type: 'string' },
        peers: { type: 'string' },
        speakers: { type: 'string' },
        rate: { type: 'string' },
        payload: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        'join-rate': { type: 'string' },
        workers: { type: 'string' },
        align: { type: 'boolean' },
        web: { type: 'string' },
        quic: { type: 'string' },
        udp: { type: 'string' },
        metrics: { type: 'string' },
        'access-key': { type: 'string' },
        'server-cpus': { type: 'string' },
        'client-cpus': { type: 'string' },
        'cpu-prof': { type: 'string' },
        json: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new BenchUsageError(`${(error as Error).message}\nRun 'grid-bench --help' for the options.`);
  }
  const str = (key: string) => values[key] as string | undefined;
  const transport = (str('transport') ?? 'quic') as Transport;
  if (!TRANSPORTS.includes(transport)) {
    throw new BenchUsageError(
      `--transport ${JSON.stringify(transport)}: expected one of ${TRANSPORTS.join(', ')}`,
    );
  }
  const peers = positive('peers', str('peers'), 5);
  const speakers = str('speakers') === '0' ? 0 : positive('speakers', str('speakers'), Math.min(2, peers));
  if (speakers > peers) {
    throw new BenchUsageError(`--speakers ${speakers}: more speakers than --peers ${peers} per room`);
  }
  const payload = positive('payload', str('payload'), 60);
  if (payload < 16) throw new BenchUsageError(`--payload ${payload}: must be >= 16 (the latency stamp)`);
  const web = hostPort('web', str('web'));
  const quic = hostPort('quic', str('quic'));
  const udp = hostPort('udp', str('udp'));
  const metrics = hostPort('metrics', str('metrics'));
  let target: BenchTarget | undefined;
  if (web !== undefined || quic !== undefined || udp !== undefined) {
    const accessKey = str('access-key') ?? env.BENCH_ACCESS_KEY;
    if (accessKey === undefined && udp === undefined) {
      throw new BenchUsageError(
        'a running server needs --access-key KEY (or env BENCH_ACCESS_KEY): the key its [[authorization.keys]] trust',
      );
    }
    const needs: Record<Transport, boolean> = {
      quic: quic !== undefined,
      web: web !== undefined,
      'web-tcp': web !== undefined,
      mix: quic !== undefined && web !== undefined,
      udp: udp !== undefined,
      http2: web !== undefined,
    };
    if (!needs[transport]) {
      const flags =
        transport === 'mix'
          ? '--web and --quic'
          : transport === 'web-tcp' || transport === 'http2'
            ? '--web'
            : `--${transport}`;
      throw new BenchUsageError(`--transport ${transport} against a running server needs ${flags} HOST:PORT`);
    }
    target = { accessKey: accessKey ?? '', web, quic, udp, metrics };
  }
  return {
    transport,
    rooms: positive('rooms', str('rooms'), 10),
    peers,
    speakers,
    rate: positive('rate', str('rate'), 50, false),
    payload,
    duration: positive('duration', str('duration'), 10, false),
    warmup: str('warmup') === '0' ? 0 : positive('warmup', str('warmup'), 2, false),
    joinRate: positive('join-rate', str('join-rate'), 100, false),
    workers: positive('workers', str('workers'), 1),
    align: values.align === true,
    target,
    serverCpus: cpuList('server-cpus', str('server-cpus')),
    clientCpus: cpuList('client-cpus', str('client-cpus')),
    cpuProf: str('cpu-prof'),
    json: values.json === true,
    progress: values['no-progress'] !== true,
    help: values.help === true,
  };
}
