/**
 * `sfu.Report` every `[supervisor] report_interval` (ODIN-PROTOCOL.md section 5): load, clients
 * and every room; the answer's tasks are executed on the core (tasks.ts).
 *
 * - First report: at once, or `report_interval` after start (one warm-up cycle) with
 *   `no_warmup = true` (the ODIN docs: "When true, the server waits for one report cycle").
 * - While draining the load is 1, and `reportNow()` (called when draining starts) tells the
 *   supervisor at once instead of at the next cycle.
 * - Supervisor down: the server keeps serving. After the n-th failure in a row the next attempt
 *   waits min(report_interval × 2^(n-1), 30 s) (never less than report_interval); the first
 *   failure and every later one is logged at warn, the recovery at info. When reports have been
 *   failing for `goneAfterMs` (300 s, as the original server documents) since the first failure
 *   of the streak, `onGone` is called once: the process drains and exits 1
 *   (`grid.shutdown('supervisor-gone')`).
 */
import type { Logger } from 'pino';
import { durationFromMs, parseReportResult, type ReportParams } from '../../common/gateway/protocol.ts';
import type { SupervisorConfig } from '../config/index.ts';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.ts';
import type { Room } from '../core/room.ts';
import type { OutcomeCounts } from '../observability/metrics.ts';
import type { JsonRpcClient } from './jsonRpcClient.ts';
import { executeTask, type TaskTarget } from './tasks.ts';

/** The original server stops after this long without a successful report. */
export const SUPERVISOR_GONE_AFTER_MS = 300_000;
/** Longest wait between attempts while the supervisor is down. */
export const MAX_REPORT_BACKOFF_MS = 30_000;

/** What a report reads from the core (server/core/sfu.ts fits). */
export type ReportSource = TaskTarget & {
  rooms(): Iterable<Room>;
  readonly clientCount: number;
};

export type SupervisorReporterParams = {
  config: Pick<SupervisorConfig, 'report_interval' | 'no_warmup'>;
  client: JsonRpcClient;
  sfu: ReportSource;
  /** The current load, 0..1 (load.ts). */
  load: () => number;
  version: string;
  publicEndpoint: string;
  logger: Logger;
  /** Called once when reports have failed for `goneAfterMs`. */
  onGone: () => void;
  /** Timers and `now` for backoff and the 300 s rule; injectable for tests. */
  clock?: Clock;
  /** The clock rooms' `createdAt` is on (the Sfu's). Default performance.now. */
  roomClock?: () => number;
  goneAfterMs?: number;
};

export class SupervisorReporter {
  /** Successful and failed reports, read by metrics. */
  readonly stats: OutcomeCounts = { successes: 0, failures: 0 };
  readonly #params: SupervisorReporterParams;
  readonly #clock: Clock;
  readonly #roomClock: () => number;
  readonly #goneAfterMs: number;
  #timer: TimerHandle | undefined;
  #running = false;
  #inFlight: Promise<void> | undefined;
  #failuresInRow = 0;
  #failingSince: number | undefined;
  #gone = false;

  constructor(params: SupervisorReporterParams) {
    this.#params = params;
    this.#clock = params.clock ?? systemClock;
    this.#roomClock = params.roomClock ?? (() => performance.now());
    this.#goneAfterMs = params.goneAfterMs ?? SUPERVISOR_GONE_AFTER_MS;
  }

  /** Failed reports in a row (0 when the last one succeeded). */
  get failuresInRow(): number {
    return this.#failuresInRow;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.#params.config.no_warmup ? this.#params.config.report_interval : 0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves when no report is in flight (e.g. the draining report, before the process exits). */
  async settled(): Promise<void> {
    await this.#inFlight;
  }

  /** Reports now (after any report in flight) and restarts the cycle from here. */
  async reportNow(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    this.#inFlight = this.#cycle();
    await this.#inFlight;
  }

  /** The params of the next report (exported for tests and docs). */
  reportParams(): ReportParams {
    const now = this.#roomClock();
    const rooms = [];
    for (const room of this.#params.sfu.rooms()) {
      rooms.push({
        id: [room.namespace, room.id] as [string, string],
        customer: room.customer,
        age: durationFromMs(now - room.createdAt),
        peers: room.peers.size,
      });
    }
    return {
      public_endpoint: this.#params.publicEndpoint,
      server: 'grid',
      version: this.#params.version,
      load: this.#params.load(),
      clients: this.#params.sfu.clientCount,
      rooms,
    };
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#inFlight = this.#cycle();
    }, ms);
  }

  async #cycle(): Promise<void> {
    const { config, logger } = this.#params;
    const ok = await this.#report();
    let next = config.report_interval;
    if (!ok) {
      next = Math.max(
        config.report_interval,
        Math.min(config.report_interval * 2 ** (this.#failuresInRow - 1), MAX_REPORT_BACKOFF_MS),
      );
      const failingMs = this.#clock.now() - (this.#failingSince ?? this.#clock.now());
      if (failingMs >= this.#goneAfterMs && !this.#gone) {
        this.#gone = true;
        logger.error(
          { failingMs, failures: this.#failuresInRow },
          `no successful report to the supervisor for ${Math.round(failingMs / 1000)} s: draining and stopping (exit 1)`,
        );
        this.stop();
        this.#params.onGone();
        return;
      }
    }
    this.#schedule(next);
  }

  /** One report; true when the supervisor answered. */
  async #report(): Promise<boolean> {
    const { client, logger, sfu } = this.#params;
    let result: unknown;
    try {
      result = await client.call('sfu.Report', this.reportParams());
    } catch (error) {
      this.stats.failures++;
      this.#failuresInRow++;
      this.#failingSince ??= this.#clock.now();
      logger.warn(
        { failures: this.#failuresInRow, reason: (error as Error).message },
        'sfu.Report failed; still serving, retrying with backoff',
      );
      return false;
    }
    this.stats.successes++;
    if (this.#failuresInRow > 0) {
      logger.info({ after: this.#failuresInRow }, 'sfu.Report succeeded again: the supervisor is back');
    }
    this.#failuresInRow = 0;
    this.#failingSince = undefined;
    let parsed: ReturnType<typeof parseReportResult>;
    try {
      parsed = parseReportResult(result);
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, 'sfu.Report answer ignored');
      return true;
    }
    for (const problem of parsed.problems) logger.warn({ reason: problem }, 'supervisor task skipped');
    for (const task of parsed.tasks) {
      try {
        logger.info({ task: task.task }, `supervisor task: ${executeTask(sfu, task)}`);
      } catch (error) {
        logger.error({ task: task.task, err: error }, 'supervisor task failed');
      }
    }
    return true;
  }
}
