/**
 * The `grid` process: owns the listeners and decides when the server starts, drains and stops.
 *
 * Life (docs/architecture.md, "The server's life"):
 *   starting ─► running ─► draining ─► stopped
 * `shutdown()` drains: the core refuses new joins and listeners new clients, existing rooms
 * keep working until they are empty or `[shutdown] grace_period` ends, then every peer gets
 * `Left {ServerClosing}` and everything closes. A second `shutdown()`
 * with `immediate` skips the wait. The transports plug in through `Listener`.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ExitCode, type ExitCodeValue } from './cli/exitCodes.ts';
import type { GridConfig } from './config/index.ts';
import { type Listener, ListenerError } from './listener.ts';

export type GridState = 'starting' | 'running' | 'draining' | 'stopped';

export type ShutdownReason = 'signal' | 'license-expired' | 'supervisor-gone' | 'telemetry-failed' | 'error';

/** What the process needs of the SFU core to drain it (server/core/sfu.ts fits). */
export interface DrainableCore {
  /** Refuse new joins; peers already in rooms stay. */
  setDraining(draining: boolean): void;
  /** Every peer gets `Left {ServerClosing}`, every client is closed with `reason`. */
  closeAll(reason: string): void;
  /** Peers in rooms: draining waits for 0. */
  readonly peerCount: number;
}

export type GridParams = {
  config: GridConfig;
  logger: Logger;
  listeners?: Listener[];
  /** The SFU core; absent in a process with no client listeners. */
  core?: DrainableCore;
  /** Poll interval while draining, ms. */
  drainPollMs?: number;
};

type GridEvents = { state: [GridState] };

const exitCodeFor: Record<ShutdownReason, ExitCodeValue> = {
  signal: ExitCode.ok,
  'license-expired': ExitCode.invalidLicense,
  'supervisor-gone': ExitCode.failure,
  'telemetry-failed': ExitCode.failure,
  error: ExitCode.failure,
};

export class Grid extends EventEmitter<GridEvents> {
  #config: GridConfig;
  #logger: Logger;
  #listeners: Listener[];
  #core: DrainableCore | undefined;
  #drainPollMs: number;
  #state: GridState = 'starting';
  #exitCode: ExitCodeValue = ExitCode.ok;
  #skipWait: () => void = () => {};
  /**
   * Holds the event loop open from start() to stop: a server stays up until it is told to stop,
   * even when it has nothing to listen on (a config with no listener sections).
   */
  #keepAlive: NodeJS.Timeout | undefined;
  #resolveStopped!: (code: ExitCodeValue) => void;
  /** Resolves with the process exit code once the server has stopped. */
  readonly stopped: Promise<ExitCodeValue>;

  constructor(params: GridParams) {
    super();
    this.#config = params.config;
    this.#logger = params.logger;
    this.#listeners = params.listeners ?? [];
    this.#core = params.core;
    this.#drainPollMs = params.drainPollMs ?? 250;
    this.stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
  }

  get state(): GridState {
    return this.#state;
  }

  /** Ready = listeners up, config final, not draining (what `/readyz` reports). */
  get ready(): boolean {
    return this.#state === 'running';
  }

  /**
   * Opens every listener. When one cannot open (a port in use, a bad certificate), the ones
   * already open are closed again and a ListenerError names the listener: a server that
   * cannot listen must exit, not linger half-started.
   */
  async start(): Promise<void> {
    this.#keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    const opened: Listener[] = [];
    for (const listener of this.#listeners) {
      try {
        await listener.open();
      } catch (error) {
        for (const open of opened.reverse()) await open.close('the server could not start').catch(() => {});
        clearInterval(this.#keepAlive);
        this.#exitCode = ExitCode.failure;
        this.#setState('stopped');
        this.#resolveStopped(this.#exitCode);
        throw new ListenerError(listener.name, error as Error);
      }
      opened.push(listener);
      this.#logger.info({ listener: listener.name }, 'listening');
    }
    this.#setState('running');
  }

  /**
   * Drain and stop. Safe to call more than once: a later call with `immediate` cuts the
   * grace period short (the second SIGTERM); other repeated calls only wait.
   */
  async shutdown(reason: ShutdownReason, options: { immediate?: boolean } = {}): Promise<ExitCodeValue> {
    if (this.#state === 'draining' && options.immediate) this.#skipWait();
    if (this.#state === 'draining' || this.#state === 'stopped') return this.stopped;
    this.#exitCode = exitCodeFor[reason];
    this.#setState('draining');
    const gracePeriodMs = this.#config.shutdown.grace_period;
    this.#logger.info({ reason, gracePeriodMs }, 'draining: new joins are refused, rooms keep working');
    this.#core?.setDraining(true);
    for (const listener of this.#listeners) listener.drain();
    if (!options.immediate) await this.#waitForEmpty(gracePeriodMs);
    this.#core?.closeAll('the server is shutting down');
    for (const listener of this.#listeners) await listener.close('the server is shutting down');
    clearInterval(this.#keepAlive);
    this.#setState('stopped');
    this.#logger.info({ reason, exitCode: this.#exitCode }, 'stopped');
    this.#resolveStopped(this.#exitCode);
    return this.#exitCode;
  }

  async #waitForEmpty(gracePeriodMs: number): Promise<void> {
    const deadline = Date.now() + gracePeriodMs;
    const peers = () => this.#core?.peerCount ?? 0;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const remaining = peers();
        if (remaining === 0) return finish();
        if (Date.now() >= deadline) {
          this.#logger.warn({ peers: remaining }, 'grace period over: closing the remaining peers');
          return finish();
        }
        timer = setTimeout(check, this.#drainPollMs);
      };
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#skipWait = finish;
      timer = setTimeout(check, 0);
    });
  }

  #setState(state: GridState): void {
    this.#state = state;
    this.emit('state', state);
  }
}
