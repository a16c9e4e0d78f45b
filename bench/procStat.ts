/**
 * CPU and memory of a process from Linux /proc (the server the bench started): CPU time from
 * /proc/<pid>/stat (utime + stime, all threads), resident memory from /proc/<pid>/status.
 * A server can end while the bench watches it (a crash, an OOM kill): sampling it then says so
 * (`undefined`) instead of throwing, and the bench reports the ended server as a result.
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

/** True when /proc/<pid>/status describes a process that has exited and not yet been reaped. */
export function isZombie(status: string): boolean {
  return /^State:\s+[ZX]/m.test(status);
}

export type ProcSample = { atMs: number; cpuSeconds: number; rssBytes: number };

/** Reads a /proc file of a process; undefined when the process is gone. */
function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (error) {
    // ENOENT: the process was reaped; ESRCH: it exited while the file was being read.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw error;
  }
}

/** CPU time and RSS of `pid` now, or undefined when the process has ended (gone or a zombie). */
export function sampleProcess(pid: number): ProcSample | undefined {
  const atMs = performance.now();
  const stat = readProc(pid, 'stat');
  const status = readProc(pid, 'status');
  // A zombie keeps its stat line but has no memory (and no VmRSS line) left to report.
  if (stat === undefined || status === undefined || isZombie(status)) return undefined;
  return { atMs, cpuSeconds: parseCpuSeconds(stat), rssBytes: parseRssBytes(status) };
}

/** Share of one core used between two samples (1 = one core busy all the time). */
export function cpuShare(from: ProcSample, to: ProcSample): number {
  const wall = (to.atMs - from.atMs) / 1000;
  return wall > 0 ? (to.cpuSeconds - from.cpuSeconds) / wall : 0;
}
