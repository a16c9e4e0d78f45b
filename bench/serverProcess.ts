/**
 * Starts the server under test in its own process (so its CPU and memory are its own): `grid`
 * with a generated config on loopback, or the bare UDP relay baseline; pinned to a core with
 * `taskset -c` when asked. Both are stopped with SIGTERM (then SIGKILL after 5 s).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyToml } from 'smol-toml';
import { accessKeyToJwk, generateAccessKey } from '../common/auth/index.ts';
import { createDevCertificate } from '../server/dev/certificate.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** True when `taskset` runs here (util-linux). */
export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `[command, ...args]` run under `taskset -c cpus` unless cpus is undefined or 'none'. */
export function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  if (cpus === undefined || cpus === 'none') return [command, args];
  return ['taskset', ['-c', cpus, command, ...args]];
}

export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export type StartedServer = {
  pid: number;
  /** host:port of each listener. */
  web?: string;
  quic?: string;
  udp?: string;
  metrics?: string;
  accessKey: string;
  /** The last lines the process printed (for error messages). */
  logTail(): Promise<string>;
  stop(): Promise<void>;
  /** Settles when the process exits, however that came about (grid and livekit-server). */
  exited?: Promise<ProcessExit>;
};

export type ProcessExit = { code: number | null; signal: NodeJS.Signals | null };

/** Stops `child` once (SIGTERM, SIGKILL after 5 s), then runs `cleanup`. */
export function stopper(child: ChildProcess, cleanup: () => Promise<void>): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          // A server that outlives its SIGTERM is a finding (something holds its event loop open).
          process.stderr.write(`pid ${child.pid} did not exit within 5 s of SIGTERM: killed\n`);
          child.kill('SIGKILL');
        }, 5_000);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    })();
    return stopped;
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, child: ChildProcess, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A server process started by `spawnLogged`, its output going to a log file. */
export type LoggedProcess = {
  child: ChildProcess;
  exited: Promise<ProcessExit>;
  /** The last 20 lines of the log. */
  logTail(): Promise<string>;
  /** Stops the process once, ends the log, then runs the caller's cleanup. */
  stop(): Promise<void>;
  /**
   * Waits (up to 30 s) until `check` holds; if it never does, stops the process and throws
   * naming `what` with the log's tail, so a failed start says why.
   */
  ready(check: () => Promise<boolean>, what: string): Promise<void>;
};

/** Spawns `command` with stdout and stderr into `logFile` (one place for grid and LiveKit). */
export function spawnLogged(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; logFile: string; cleanup: () => Promise<void> },
): LoggedProcess {
  const log = createWriteStream(options.logFile);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<ProcessExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const logTail = async () =>
    (await readFile(options.logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
  const stop = stopper(child, async () => {
    log.end();
    await options.cleanup();
  });
  const ready = async (check: () => Promise<boolean>, what: string) => {
    try {
      await waitFor(check, what, child, 30_000);
    } catch (error) {
      const tail = await logTail();
      await stop();
      throw new Error(`${(error as Error).message}\n${tail}`);
    }
  };
  return { child, exited, logTail, stop, ready };
}

/**
 * Whether the native QUIC addon is built, where server/transports/quic/nativeAddon.ts loads it
 * (bench may not import the server's transports: docs/architecture.md).
 */
export function nativeAddonBuilt(): boolean {
  return existsSync(process.env.ODIN_QUIC_ADDON || new URL('../native/quic/odin_quic.node', import.meta.url));
}

/** `grid` with web, QUIC (when the native addon is built) and metrics listeners on loopback and a fresh access key. */
export async function startGrid(options: { cpus?: string; cpuProf?: string }): Promise<StartedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'grid-bench-'));
  const certificate = await createDevCertificate(['127.0.0.1', 'localhost']);
  const certificateFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(certificateFile, certificate.certificatePem);
  await writeFile(keyFile, certificate.privateKeyPem, { mode: 0o600 });
  const accessKey = generateAccessKey();
  const [http, metrics, webrtc, quic] = [
    await freeTcpPort(),
    await freeTcpPort(),
    await freeUdpPort(),
    await freeUdpPort(),
  ];
  const withQuic = nativeAddonBuilt();
  const config = {
    public_address: '127.0.0.1',
    authorization: { keys: [accessKeyToJwk(accessKey)] },
    http: {
      binding: `127.0.0.1:${http}`,
      webrtc_binding: `127.0.0.1:${webrtc}`,
      webrtc_candidates: ['127.0.0.1'],
      certificate_file: certificateFile,
      privatekey_file: keyFile,
    },
    // [quic] needs the native addon; without it the grid serves the web paths only (the suite
    // leaves the quic transport out then), instead of refusing to start.
    ...(withQuic
      ? {
          quic: { binding: `127.0.0.1:${quic}`, certificate_file: certificateFile, privatekey_file: keyFile },
        }
      : {}),
    metrics: { binding: `127.0.0.1:${metrics}` },
    // Every peer of the load generator comes from 127.0.0.1, like clients behind a reverse
    // proxy (docs/configuration.md): the default of 16 waiting per address refused joins of a
    // fast join rate on a busy server (issue 17: "JoinRoom: ... stream aborted"). The
    // server-wide budget (max_unauthenticated, 256) still holds.
    limit: { max_unauthenticated_per_address: 256 },
    shutdown: { grace_period: 0 },
    log: { terminal: { format: 'text', filters: ['warn'] } },
  };
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, stringifyToml(config));
  const nodeArgs = options.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`];
  const [command, args] = pinned(options.cpus, process.execPath, [
    ...nodeArgs,
    join(REPO, 'server/main.ts'),
    '--config',
    configFile,
  ]);
  // The config is ours alone: GRID_* variables of the caller's shell would override it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GRID_')));
  const { child, exited, logTail, stop, ready } = spawnLogged(command, args, {
    cwd: dir,
    env,
    logFile: join(dir, 'grid.log'),
    cleanup: async () => {
      if (options.cpuProf === undefined) await rm(dir, { recursive: true, force: true });
    },
  });
  await ready(async () => (await fetch(`http://127.0.0.1:${metrics}/readyz`)).ok, 'grid');
  return {
    pid: child.pid!,
    web: `127.0.0.1:${http}`,
    ...(withQuic ? { quic: `127.0.0.1:${quic}` } : {}),
    metrics: `127.0.0.1:${metrics}`,
    accessKey,
    logTail,
    stop,
    exited,
  };
}

/** The bare UDP relay (bench/udpRelay.ts). */
export async function startUdpRelay(options: { cpus?: string; cpuProf?: string }): Promise<StartedServer> {
  const nodeArgs = options.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`];
  const [command, args] = pinned(options.cpus, process.execPath, [
    ...nodeArgs,
    join(REPO, 'bench/udpRelay.ts'),
  ]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`udp relay exited with code ${code}`)));
  });
  return {
    pid: child.pid!,
    udp: `127.0.0.1:${port}`,
    accessKey: '',
    logTail: async () => '',
    stop: stopper(child, async () => {}),
  };
}

/** Server-side voice counters: from a grid's /metrics, or a UDP relay's `S` answer. */
export type ServerCounters = { in: number; out: number };

/** `grid_voice_packets_total{direction="in"|"out"}` from Prometheus text. */
export function parseVoiceCounters(text: string): ServerCounters | undefined {
  const read = (direction: string) => {
    const match = new RegExp(
      `^grid_voice_packets_total\\{[^}]*direction="${direction}"[^}]*\\} (\\S+)`,
      'm',
    ).exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const inCount = read('in');
  const outCount = read('out');
  return inCount === undefined || outCount === undefined ? undefined : { in: inCount, out: outCount };
}

export async function readServerCounters(server: {
  metrics?: string;
  udp?: string;
}): Promise<ServerCounters | undefined> {
  try {
    if (server.metrics !== undefined) {
      const response = await fetch(`http://${server.metrics}/metrics`);
      return parseVoiceCounters(await response.text());
    }
    if (server.udp !== undefined) return await askUdpRelay(server.udp);
  } catch {
    // Counters are extra information: the client-side numbers stand without them.
  }
  return undefined;
}

async function askUdpRelay(address: string): Promise<ServerCounters> {
  const colon = address.lastIndexOf(':');
  const socket = createSocket('udp4');
  try {
    return await new Promise<ServerCounters>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 1_000);
      socket.once('message', (message) => {
        clearTimeout(timer);
        const { received, forwarded } = JSON.parse(message.toString()) as {
          received: number;
          forwarded: number;
        };
        resolve({ in: received, out: forwarded });
      });
      socket.send('S', Number(address.slice(colon + 1)), address.slice(0, colon));
    });
  } finally {
    socket.close();
  }
}
