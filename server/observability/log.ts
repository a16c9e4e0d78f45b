/**
 * Logging for `grid`: pino, configured from `verbosity` and `[log.terminal]`.
 *
 * Verbosity (root `verbosity`, overridden by `[log.terminal] verbosity`) maps to pino levels:
 *
 * | verbosity | level | what you see                                                    |
 * |-----------|-------|-----------------------------------------------------------------|
 * | 0         | info  | start-up, listeners, joins refused, warnings and errors          |
 * | 1         | debug | plus per-client and per-room lifecycle                           |
 * | 2         | trace | plus per-RPC detail                                              |
 * | 3         | trace | plus the libraries' own diagnostics where a transport exposes them |
 *
 * `format`: `text` (human-readable, colour on a TTY), `json` (one object per line, for log
 * collectors) or `none` (nothing at all).
 *
 * `filters` are directives in the style of Rust's env_logger, as the original server's are:
 * `target=level` sets the level of one module (the `module` of a child logger, e.g. `webrtc`,
 * `quic`, `supervisor`), so `webrtc=error` silences a noisy part without losing its failures;
 * a bare `level` replaces the level that `verbosity` gives; a bare `target` keeps only that
 * module's errors, as the public ODIN example configs use it (`filters = ["webrtc",
 * "webrtc_ice"]`: "modules filtered from logs ... except for error messages"). Levels: off,
 * error, warn, info, debug, trace. The config schema validates the syntax.
 *
 * Secrets never reach a log line: the redaction paths below cover every field name under
 * which this code base carries a token, key or password. Code must still not interpolate
 * secrets into messages; redaction is the safety net, not the policy.
 */
import type { Writable } from 'node:stream';
import { type Level, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'text' | 'json' | 'none';

export type LogOptions = {
  /** 0..3, see the table above. */
  verbosity: number;
  format: LogFormat;
  /** `target=level` or `level` directives, see above. */
  filters: readonly string[];
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: Writable;
};

export const defaultLogOptions: LogOptions = { verbosity: 0, format: 'text', filters: [] };

/** Field names whose values are secrets wherever they appear (one or two levels deep). */
export const redactedFields = [
  'token',
  'accessKey',
  'access_key',
  'password',
  'authorization',
  'd',
  'signature',
  'privateKey',
] as const;

const redactPaths = redactedFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

export function levelForVerbosity(verbosity: number): Level {
  if (verbosity <= 0) return 'info';
  if (verbosity === 1) return 'debug';
  return 'trace';
}

/**
 * The application logger. `module(name)` gives the child logger a subsystem should use;
 * it honours `filters`.
 */
export type GridLogger = Logger & { module(name: string): Logger };

type FilterLevel = Level | 'silent';

const filterLevels: ReadonlySet<string> = new Set(['off', 'error', 'warn', 'info', 'debug', 'trace']);

/** Reads `filters` into a default level (from a bare `level`) and per-module levels. */
export function parseLogFilters(filters: readonly string[]): {
  level?: FilterLevel;
  modules: Map<string, FilterLevel>;
} {
  const toLevel = (text: string): FilterLevel => (text === 'off' ? 'silent' : (text as Level));
  const modules = new Map<string, FilterLevel>();
  let level: FilterLevel | undefined;
  for (const filter of filters) {
    const at = filter.lastIndexOf('=');
    const text = filter.trim();
    if (at !== -1) modules.set(filter.slice(0, at).trim(), toLevel(filter.slice(at + 1).trim()));
    else if (filterLevels.has(text)) level = toLevel(text);
    else modules.set(text, 'error');
  }
  return level === undefined ? { modules } : { level, modules };
}

export function createLogger(options: LogOptions = defaultLogOptions): GridLogger {
  const filters = parseLogFilters(options.filters);
  const level = filters.level ?? levelForVerbosity(options.verbosity);
  const base = {
    level,
    enabled: options.format !== 'none',
    base: undefined,
    redact: { paths: redactPaths, censor: '<redacted>' },
  };
  const destination =
    options.format === 'text'
      ? pretty({
          destination: options.destination ?? 1,
          sync: true,
          colorize: options.destination === undefined && process.stdout.isTTY === true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        })
      : (options.destination ?? pino.destination({ dest: 1, sync: true }));
  const root = pino(base, destination);
  const logger = root as GridLogger;
  logger.module = (name: string) =>
    root.child({ module: name }, { level: filters.modules.get(name) ?? level });
  return logger;
}

/** A logger that drops everything: for tests and library use where the caller passes none. */
export function silentLogger(): GridLogger {
  return createLogger({ verbosity: 0, format: 'none', filters: [] });
}
