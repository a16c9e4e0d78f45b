/**
 * CPU and memory of a process from Linux /proc (the server the bench started): CPU time from
 * /proc/<pid>/stat (utime + stime, all threads), resident memory from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime in seconds from the text of /proc/<pid>/stat. */
export function parseCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may contain spaces: split after it.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** VmRSS in bytes from the text of /proc/<pid>/status. */
export function parseRssBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error('no VmRSS line in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}

export type ProcSample = { atMs: number; cpuSeconds: number; rssBytes: number };

export function sampleProcess(pid: number): ProcSample {
  return {
    atMs: performance.now(),
    cpuSeconds: parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    rssBytes: parseRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')),
  };
}

/** Share of one core used between two samples (1 = one core busy all the time). */
export function cpuShare(from: ProcSample, to: ProcSample): number {
  const wall = (to.atMs - from.atMs) / 1000;
  return wall > 0 ? (to.cpuSeconds - from.cpuSeconds) / wall : 0;
}
