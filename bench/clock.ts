/**
 * One clock for every bench process: CLOCK_MONOTONIC in microseconds (`process.hrtime`), which
 * is system-wide, so a timestamp written by a sender in one process can be compared with the
 * receive time in another process on the same machine.
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
