/**
 * The seam between a listener (web, quic, metrics) and the process (grid.ts): what a listener
 * gives the process, and the error that names a listener that cannot open. Its own module so
 * that listeners depend on this contract, not on the process that drives them.
 */
/** What a transport (web, quic, metrics) gives the process. */
export interface Listener {
  /** e.g. `http 127.0.0.1:4433` */
  readonly name: string;
  open(): Promise<void>;
  /** Stop accepting new clients; existing ones keep working. */
  drain(): void;
  /** Close everything, telling clients `reason`. */
  close(reason: string): Promise<void>;
}

/** A listener could not open; the message names it, the cause and the usual fix. */
export class ListenerError extends Error {
  override name = 'ListenerError';
  readonly listener: string;
  constructor(listener: string, cause: Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint =
      code === 'EADDRINUSE'
        ? ': the address is in use (another grid?); stop that process or change the binding in config.toml (docs/configuration.md)'
        : code === 'EADDRNOTAVAIL'
          ? ': no network interface has that address; fix the binding in config.toml'
          : code === 'EACCES'
            ? ': not allowed to bind that port (ports below 1024 need privileges)'
            : '';
    super(`${listener}: cannot open: ${cause.message}${hint}`, { cause });
    this.listener = listener;
  }
}
