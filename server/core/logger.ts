/**
 * The logger the core writes to: the `(fields, message)` subset of pino's API, so a pino
 * logger (or a child of it) fits, and tests pass a recorder.
 */
export type LogMethod = (fields: Record<string, unknown>, message: string) => void;

export interface CoreLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const ignore: LogMethod = () => {};

export const silentLogger: CoreLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
