/**
 * System usage sampled every `[metrics] system_update_interval`: the figures behind the CPU and
 * memory gauges and the CPU part of the supervisor's `load` (docs/operations.md, "Load").
 *
 * `cpu` is the event loop utilisation of the main thread over the last interval (0..1), not the
 * machine's CPU: a Node server saturates when its one JavaScript thread is busy, whatever the
 * other cores do, so that is the figure a load balancer should weigh.
 */
import { cpus } from 'node:os';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';

export type SystemUsage = {
  /** Event loop utilisation of the main thread, 0..1, over the last interval. */
  cpu: number;
  /** Process CPU time (user + system) over wall time and cores, 0..1, over the last interval. */
  processCpu: number;
  /** Resident set size, bytes. */
  rssBytes: number;
  /** V8 heap in use, bytes. */
  heapUsedBytes: number;
};

export type SystemUsageSamplerParams = {
  /** Sampling interval, ms (`[metrics] system_update_interval`). */
  intervalMs: number;
};

export class SystemUsageSampler {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  #lastCpu: NodeJS.CpuUsage = process.cpuUsage();
  #lastAt = performance.now();
  #usage: SystemUsage = { cpu: 0, processCpu: 0, rssBytes: 0, heapUsedBytes: 0 };

  constructor(params: SystemUsageSamplerParams) {
    this.#intervalMs = params.intervalMs;
    // No CPU figure until a whole interval has passed: start-up work (module loading) would
    // otherwise make a fresh server look fully loaded.
    const memory = process.memoryUsage();
    this.#usage = { cpu: 0, processCpu: 0, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed };
  }

  /** The latest sample. */
  get usage(): Readonly<SystemUsage> {
    return this.#usage;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes a sample now (also what the interval does). */
  sample(): Readonly<SystemUsage> {
    const now = performance.now();
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const elapsedUs = (now - this.#lastAt) * 1000;
    const cpuUs = cpu.user - this.#lastCpu.user + (cpu.system - this.#lastCpu.system);
    this.#usage = {
      cpu: clamp01(performance.eventLoopUtilization(elu, this.#lastElu).utilization),
      processCpu: elapsedUs > 0 ? clamp01(cpuUs / elapsedUs / Math.max(1, cpus().length)) : 0,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
    };
    this.#lastElu = elu;
    this.#lastCpu = cpu;
    this.#lastAt = now;
    return this.#usage;
  }
}

export function clamp01(x: number): number {
  if (!Number.isFinite(x) || x < 0) return 0;
  return Math.min(x, 1);
}
