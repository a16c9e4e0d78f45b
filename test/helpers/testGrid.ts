/**
 * A real, in-process ODIN Grid for integration tests: the same assembly as `grid` (config
 * text → parseConfigText → assembleGrid → Grid), on 127.0.0.1 with OS-chosen ports, TLS with
 * a fresh self-signed certificate, one generated access key (with `d`, so the server can
 * re-issue gateway tokens), and logs recorded as JSON objects.
 *
 *   const grid = await startTestGrid({ toml: '[limit]\nmax_peers = 2' });
 *   after(() => grid.close());
 *   const alice = await grid.connect('alice', 'lobby');
 *
 * `toml` is merged into the base config table by table (its keys win), so a test changes one
 * limit without restating the `[http]` section. `close()` shuts the grid down at once, closes
 * every client the helper made and removes the temp dir: no socket or timer is left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { OdinClient, type OdinClientOptions } from '../../client/odinClient.ts';
import { RpcSocket } from '../../client/rpcSocket.ts';
import { accessKeyToJwk, generateAccessKey, signToken, type TokenAudience } from '../../common/auth/index.ts';
import { assembleGrid } from '../../server/assembly.ts';
import { parseConfigText } from '../../server/config/index.ts';
import type { AttachGuard } from '../../server/core/attachGuard.ts';
import type { Sfu } from '../../server/core/sfu.ts';
import { createDevCertificate } from '../../server/dev/certificate.ts';
import { Grid } from '../../server/grid.ts';
import type { Listener } from '../../server/listener.ts';
import { createLogger } from '../../server/observability/log.ts';
import { QuicListener } from '../../server/transports/quic/quicListener.ts';
import { WebListener } from '../../server/transports/web/webListener.ts';
import { writeAtomically } from './atomicWriter.ts';

export const LOOPBACK = '127.0.0.1';

export type TestGridOptions = {
  /** TOML merged over the base config, e.g. `"[limit]\nmax_clients = 1"`. */
  toml?: string;
  /** How often a draining grid checks whether its rooms are empty, ms. Default 10. */
  drainPollMs?: number;
  /** `[quic]` (from `toml`) serves the same certificate files as `[http]`. Default false. */
  quicTls?: boolean;
  /** The `[http]` listener's guard against stream-id guessing (e.g. one on a fake clock). */
  attachGuard?: AttachGuard;
};

export type TokenOptions = {
  /** `aud`; absent: none (a server accepts it for joining and for Connect). */
  audience?: TokenAudience | TokenAudience[];
  /** Extra or replaced claims (`sub`, `nsp`, `cid`, `rid` as a list ...). */
  claims?: Record<string, unknown>;
  lifetimeSeconds?: number;
};

/** One recorded log line (pino JSON). */
export type LogLine = { level: number; msg: string; module?: string; [key: string]: unknown };

export class RecordedLogs {
  readonly lines: LogLine[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });

  /** Lines whose message contains `text`. */
  find(text: string): LogLine[] {
    return this.lines.filter((line) => line.msg.includes(text));
  }

  /** Lines at error level or above (pino: 50 error, 60 fatal). */
  get errors(): LogLine[] {
    return this.lines.filter((line) => line.level >= 50);
  }
}

export type TestGrid = {
  /** `127.0.0.1:<port>` of the [http] listener. */
  address: string;
  /** `https://127.0.0.1:<port>/`: the gateway Connect endpoint. */
  gatewayUrl: string;
  /** The server certificate (PEM) at start, to trust. */
  ca: string;
  /** Directory of `tls.crt`/`tls.key`, laid out as a mounted Secret (helpers/atomicWriter.ts). */
  tlsDir: string;
  accessKey: string;
  /** A token for `room` (or a list of rooms) and `user`, signed with the grid's access key. */
  token(room: string | string[], user: string, options?: TokenOptions): Promise<string>;
  sfu: Sfu;
  /** The [quic] listener, when the config has one. */
  quicListener: QuicListener | undefined;
  grid: Grid;
  webListener: WebListener;
  /** Every listener of the grid (`[metrics]`, `[http]`, `[quic]` as configured). */
  listeners: readonly Listener[];
  logs: RecordedLogs;
  /** An authenticated OdinClient (voice off unless asked), closed by `close()`. */
  connect(user: string, rooms: string | string[], options?: OdinClientOptions): Promise<OdinClient>;
  /** A raw RPC socket on `path` (e.g. `/main`), closed by `close()`. */
  socket(path: string, options?: { requestTimeoutMs?: number }): Promise<RpcSocket>;
  /** Clients made by `connect`, sockets by `socket`, plus anything a test registers. */
  track(close: () => Promise<unknown> | unknown): void;
  close(): Promise<void>;
};

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** `over` merged into `base` table by table; anything else in `over` replaces. */
function mergeTables(base: Table, over: Table): Table {
  const merged: Table = { ...base };
  for (const [key, value] of Object.entries(over)) {
    merged[key] = isTable(value) && isTable(merged[key]) ? mergeTables(merged[key], value) : value;
  }
  return merged;
}

export async function startTestGrid(options: TestGridOptions = {}): Promise<TestGrid> {
  const dir = await mkdtemp(join(tmpdir(), 'odin-grid-test-'));
  const certificate = await createDevCertificate([LOOPBACK, 'localhost']);
  // As Kubernetes mounts a TLS Secret: tls.crt -> ..data/tls.crt, ..data -> a timestamped dir.
  const tlsDir = join(dir, 'tls');
  const certificateFile = join(tlsDir, 'tls.crt');
  const keyFile = join(tlsDir, 'tls.key');
  await writeAtomically(tlsDir, {
    'tls.crt': certificate.certificatePem,
    'tls.key': certificate.privateKeyPem,
  });
  const accessKey = generateAccessKey();
  const base: Table = {
    public_address: LOOPBACK,
    authorization: { keys: [accessKeyToJwk(accessKey)] },
    http: {
      binding: `${LOOPBACK}:0`,
      webrtc_binding: `${LOOPBACK}:0`,
      webrtc_candidates: [LOOPBACK],
      certificate_file: certificateFile,
      privatekey_file: keyFile,
    },
    log: { terminal: { format: 'json', verbosity: 1 } },
  };
  const merged = mergeTables(base, parseToml(options.toml ?? '') as Table);
  if (options.quicTls && isTable(merged.quic)) {
    merged.quic = { ...merged.quic, certificate_file: certificateFile, privatekey_file: keyFile };
  }
  const text = stringifyToml(merged);
  const config = parseConfigText(text, { source: 'testGrid.toml', checkFiles: true });
  const logs = new RecordedLogs();
  const logger = createLogger({ verbosity: 1, format: 'json', filters: [], destination: logs.stream });
  const { sfu, listeners } = assembleGrid(
    config,
    logger,
    options.attachGuard ? { attachGuard: options.attachGuard } : {},
  );
  const webListener = listeners.find((listener) => listener instanceof WebListener);
  if (webListener === undefined) throw new Error('testGrid: the config has no [http] listener');
  const grid = new Grid({ config, logger, listeners, core: sfu, drainPollMs: options.drainPollMs ?? 10 });
  await grid.start();

  const address = `${LOOPBACK}:${webListener.port}`;
  const ca = certificate.certificatePem;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const token = (room: string | string[], user: string, tokenOptions: TokenOptions = {}) =>
    signToken(
      accessKey,
      { rid: room, uid: user, ...tokenOptions.claims },
      {
        ...(tokenOptions.audience === undefined ? {} : { audience: tokenOptions.audience }),
        ...(tokenOptions.lifetimeSeconds === undefined
          ? {}
          : { lifetimeSeconds: tokenOptions.lifetimeSeconds }),
      },
    );
  let closed: Promise<void> | undefined;

  return {
    address,
    gatewayUrl: `https://${address}/`,
    ca,
    tlsDir,
    accessKey,
    token,
    sfu,
    grid,
    webListener,
    quicListener: listeners.find((listener) => listener instanceof QuicListener),
    listeners,
    logs,
    async connect(user, rooms, clientOptions = {}) {
      const client = await OdinClient.connect(address, await token(rooms, user), {
        ca,
        voice: false,
        localAddress: LOOPBACK,
        ...clientOptions,
      });
      closers.push(() => client.close());
      return client;
    },
    async socket(path, socketOptions = {}) {
      const socket = await RpcSocket.open(`wss://${address}${path}`, { ca, ...socketOptions });
      closers.push(() => socket.close());
      return socket;
    },
    track(close) {
      closers.push(close);
    },
    close() {
      closed ??= (async () => {
        await Promise.allSettled(closers.map((close) => close()));
        await grid.shutdown('signal', { immediate: true });
        await rm(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/**
 * Resolves once `check()` holds. For state with no event to await (counts in the core);
 * polls every 5 ms and fails with `what` after `timeoutMs`.
 */
/** Waits for an event (`waitFor` in test/helpers/waitFor.ts: a generous cap, not a timing verdict). */
export { waitFor as eventually } from './waitFor.ts';
