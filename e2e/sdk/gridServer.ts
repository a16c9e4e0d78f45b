/**
 * The real `grid` server as a child process, for browser tests: `node server/main.ts --config F`
 * with a config written into a temp directory, exactly as an operator would run it.
 *
 * - [http] on 127.0.0.1 with a fresh self-signed certificate for `localhost` and `127.0.0.1`
 *   (server/dev/certificate.ts); `public_address` is `localhost:<port>`, the address the web SDK
 *   opens `wss://<address>/main` and `/room` on, as the gateway `Connect` answer tells it.
 * - `webrtc_binding` 127.0.0.1:<udp port>, `webrtc_candidates = ["127.0.0.1"]`: the one UDP port
 *   every browser's WebRTC goes through.
 * - one access key generated per run; tokens are minted from it with `@4players/odin-tokens`.
 *
 * The child runs in its own process group and is killed with it on `stop()`, on this process's
 * exit, and when it fails to start. Its log (JSON lines) is kept for error messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessKeyToJwk, generateAccessKey, jwkToTomlSection } from '../../common/auth/index.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const host = '127.0.0.1';

export type GridServer = {
  pid: number;
  httpPort: number;
  webRtcPort: number;
  /** The `[quic]` UDP port (0 without `quic`). */
  quicPort: number;
  /** The `[metrics]` TCP port (0 without `metrics`). */
  metricsPort: number;
  /** Where the SDK POSTs the gateway `Connect` call: the [http] listener's `/`. */
  gatewayUrl: string;
  /** `localhost:<httpPort>`: what `Connect` answers and the SDK opens its WebSockets on. */
  publicAddress: string;
  accessKey: string;
  certificatePem: string;
  /** The server's log lines so far (JSON objects as text). */
  log: () => string[];
  /** UDP ports the server process has open, read from /proc (Linux). */
  udpPorts: () => number[];
  stop: () => Promise<void>;
};

export type StartGridOptions = {
  /** Root `verbosity` (0 info, 1 debug, 2 trace). Default 0; ODIN_E2E_GRID_VERBOSITY overrides. */
  verbosity?: number;
  /** Milliseconds to wait for the listener; default 30 s (a cold start compiles a lot of TS). */
  startTimeoutMs?: number;
  /** Node flags for the server process, e.g. `['--max-old-space-size=256']`. */
  nodeArgs?: string[];
  /** Lines added to the `[http]` table, e.g. `['max_connections = 2000']`. */
  httpLines?: string[];
  /** TOML tables appended to the config (e.g. `[limit]`, `[metrics]`). */
  extraToml?: string;
  /** Also open a `[quic]` listener (on a free UDP port, the same certificate). */
  quic?: boolean;
  /** Also open a `[metrics]` listener on a free TCP port. */
  metrics?: boolean;
  /** The IP of `webrtc_binding` and the advertised candidate. Default 127.0.0.1. */
  webRtcHost?: string;
};

/** Starts the server; retries with other ports when a picked port was taken meanwhile. */
export async function startGridServer(options: StartGridOptions = {}): Promise<GridServer> {
  const dir = mkdtempSync(join(tmpdir(), 'odin-grid-e2e-sdk-'));
  const certificate = await createDevCertificate(['localhost', host]);
  writeFileSync(join(dir, 'tls.crt'), certificate.certificatePem);
  writeFileSync(join(dir, 'tls.key'), certificate.privateKeyPem, { mode: 0o600 });
  const accessKey = generateAccessKey();
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(dir, accessKey, certificate.certificatePem, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnce(
  dir: string,
  accessKey: string,
  certificatePem: string,
  options: StartGridOptions,
): Promise<GridServer> {
  const httpPort = await freeTcpPort();
  const webRtcPort = await freeUdpPort();
  const quicPort = options.quic ? await freeUdpPort() : 0;
  const metricsPort = options.metrics ? await freeTcpPort() : 0;
  const verbosity = Number(process.env.ODIN_E2E_GRID_VERBOSITY ?? options.verbosity ?? 0);
  const configFile = join(dir, 'config.toml');
  writeFileSync(
    configFile,
    [
      `verbosity = ${verbosity}`,
      `public_address = "localhost:${httpPort}"`,
      '',
      '[authorization]',
      'leeway = 5000',
      '',
      jwkToTomlSection(accessKeyToJwk(accessKey)),
      '[http]',
      `binding = "${host}:${httpPort}"`,
      `certificate_file = ${JSON.stringify(join(dir, 'tls.crt'))}`,
      `privatekey_file = ${JSON.stringify(join(dir, 'tls.key'))}`,
      `webrtc_binding = "${options.webRtcHost ?? host}:${webRtcPort}"`,
      `webrtc_candidates = ["${options.webRtcHost ?? host}"]`,
      ...(options.httpLines ?? []),
      '',
      ...(options.quic
        ? [
            '[quic]',
            `binding = "${host}:${quicPort}"`,
            `certificate_file = ${JSON.stringify(join(dir, 'tls.crt'))}`,
            `privatekey_file = ${JSON.stringify(join(dir, 'tls.key'))}`,
            '',
          ]
        : []),
      ...(options.metrics ? ['[metrics]', `binding = "${host}:${metricsPort}"`, ''] : []),
      options.extraToml ?? '',
      '[shutdown]',
      'grace_period = 0',
      '',
      // Every RPC call the server refuses is logged (info), so a test can tell that the SDK
      // sent nothing the server did not understand; calls left unanswered for 1 s are warned.
      '[internal]',
      'log_rejected_api_calls = true',
      'log_hanging_api_calls = 1_000 # ms',
      '',
    ].join('\n'),
  );

  const args = [...(options.nodeArgs ?? []), join(repoRoot, 'server', 'main.ts'), '--config', configFile];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GRID_LOG_TERMINAL_FORMAT: 'json', NO_COLOR: '1' },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${process.execPath} server/main.ts`);
  const lines: string[] = [];
  const stopOnExit = () => killGroup(pid, 'SIGKILL');
  process.once('exit', stopOnExit);

  const expectedListeners = 1 + (options.quic ? 1 : 0) + (options.metrics ? 1 : 0);
  let listeners = 0;
  const listening = new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        if (process.env.ODIN_E2E_GRID_ECHO === '1') process.stderr.write(`grid: ${line}\n`);
        // One `listening` line per listener; the server is up when all of them are.
        if (parseLogLine(line)?.msg === 'listening' && ++listeners === expectedListeners) resolve();
        newline = buffered.indexOf('\n');
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      const log = lines.join('\n');
      const message = `grid exited before it was listening (code ${code}, signal ${signal}); its log:\n${log}`;
      reject(/EADDRINUSE/.test(log) ? new PortTakenError(message) : new Error(message));
    });
  });
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      listening,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`grid was not listening after ${timeoutMs} ms; its log:\n${lines.join('\n')}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    killGroup(pid, 'SIGKILL');
    process.off('exit', stopOnExit);
    throw error;
  } finally {
    clearTimeout(timer);
  }

  return {
    pid,
    httpPort,
    webRtcPort,
    quicPort,
    metricsPort,
    gatewayUrl: `https://localhost:${httpPort}/`,
    publicAddress: `localhost:${httpPort}`,
    accessKey,
    certificatePem,
    log: () => lines.slice(),
    udpPorts: () => udpPortsOf(pid),
    stop: async () => {
      await stopChild(child, pid);
      process.off('exit', stopOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A parsed JSON log line, or undefined for anything else (a stack trace, a warning). */
export function parseLogLine(line: string): { msg?: string; level?: number } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { msg?: string; level?: number };
  } catch {
    return undefined;
  }
}

/** SIGTERM (a clean drain: grace_period is 0), SIGKILL after 5 s. */
async function stopChild(child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
  killGroup(pid, 'SIGKILL'); // anything the server forked
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * Local ports of the UDP sockets a process holds: its fds that are sockets (`socket:[inode]`)
 * matched against the kernel's UDP tables, where the port is the hex after the colon of
 * `local_address` and the inode is column 10 (proc(5), /proc/net/udp).
 */
export function udpPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const ports = new Set<number>();
  for (const table of [`/proc/${pid}/net/udp`, `/proc/${pid}/net/udp6`]) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.trim().split('\n').slice(1)) {
      const columns = row.trim().split(/\s+/);
      const local = columns[1];
      const inode = columns[9];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      ports.add(Number.parseInt(local.split(':')[1] ?? '', 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
