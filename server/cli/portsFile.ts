/**
 * `GRID_PORTS_FILE`: this server's own listener ports, assigned from outside after the process
 * was configured. The operator's `PortRange` mode (docs/operator.md) writes each pod's ports into
 * a pod annotation once the pod is on a node; the kubelet projects it into a downward-API file,
 * empty until the annotation exists and refreshed when it appears. grid waits for the file to
 * hold its ports, then applies them as the `GRID_*_PORT` variables they are written as:
 *
 *     GRID_HTTP_PORT=7000
 *     GRID_HTTP_WEBRTC_PORT=7001
 *     GRID_METRICS_PORT=7002
 *     GRID_QUIC_PORT=7003
 *
 * Only those four variables are accepted (the file sets ports, nothing else), each at most once.
 */
import { open } from 'node:fs/promises';
import { ConfigError } from '../config/index.ts';

/** Variables the file may set. */
export const PORT_FILE_VARS = [
  'GRID_HTTP_PORT',
  'GRID_HTTP_WEBRTC_PORT',
  'GRID_QUIC_PORT',
  'GRID_METRICS_PORT',
];
/** Four short lines fit many times over: a larger file is not one of ours, and not read. */
const MAX_BYTES = 4096;

/** The variables of the file's text; a problem names the file and the line. */
export function parsePortsFile(text: string, source: string): Record<string, string> {
  const vars: Record<string, string> = {};
  const fail = (line: number, message: string): never => {
    throw new ConfigError([{ source: `${source}:${line}`, path: '', message }]);
  };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z_]+)=(\d{1,5})$/.exec(line);
    if (!m) fail(i + 1, `expected GRID_<LISTENER>_PORT=<port>, got ${JSON.stringify(line.slice(0, 80))}`);
    const [, name, port] = m!;
    if (!PORT_FILE_VARS.includes(name!)) fail(i + 1, `${name} is not one of ${PORT_FILE_VARS.join(', ')}`);
    if (name! in vars) fail(i + 1, `${name} is set twice`);
    if (Number(port) < 1 || Number(port) > 65535) fail(i + 1, `port ${port} is not 1..65535`);
    vars[name!] = String(Number(port));
  });
  return vars;
}

/** The file's text (at most MAX_BYTES), '' while it does not exist yet. */
async function readBounded(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  try {
    const buffer = Buffer.alloc(MAX_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_BYTES)
      throw new ConfigError([{ source: path, path: '', message: `larger than ${MAX_BYTES} bytes` }]);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The file's variables now (none while it is missing or empty): for `grid check`, which does not wait. */
export async function readPortsFile(path: string): Promise<Record<string, string>> {
  return parsePortsFile(await readBounded(path), path);
}

export type WaitOptions = {
  /** How often the file is read while it holds no ports (the kubelet refreshes it). */
  pollMs?: number;
  /** Told once, and then every `remindMs`, while the server waits. */
  onWaiting?: (waitedMs: number) => void;
  remindMs?: number;
  signal?: AbortSignal;
};

/**
 * The variables of the ports file once it holds any. Waits while it is missing or empty: the
 * operator assigns ports only once the pod is on a node, and may have none free yet (its status
 * says so). The caller's signal ends the wait (SIGTERM while waiting).
 */
export async function waitForPortsFile(
  path: string,
  options: WaitOptions = {},
): Promise<Record<string, string>> {
  const pollMs = options.pollMs ?? 500;
  const remindMs = options.remindMs ?? 60_000;
  const started = Date.now();
  let remindedAt: number | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const text = await readBounded(path);
    const vars = parsePortsFile(text, path);
    if (Object.keys(vars).length > 0) return vars;
    const waited = Date.now() - started;
    if (remindedAt === undefined || waited - remindedAt >= remindMs) {
      remindedAt = waited;
      options.onWaiting?.(waited);
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, pollMs);
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(options.signal!.reason);
        },
        { once: true },
      );
    });
  }
}
