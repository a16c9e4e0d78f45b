// Child processes of a test cluster: each in its own process group (so a stop kills what
// it forked too), output to a log file, tracked by a watchdog (reaper.ts) and by exit and
// signal handlers, so that neither a failing test nor a killed runner leaves orphans.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';

export interface Managed {
  name: string;
  pid: number;
  logFile: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<void>;
  child: ChildProcess;
}

/** Last `lines` lines of a log file, for error messages. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pid: number): boolean {
  return killGroup(pid, 0 as unknown as NodeJS.Signals);
}

/** A set of processes and temp directories that go away together. */
export class ProcessGroup {
  readonly procs: Managed[] = [];
  private readonly dirs = new Set<string>();
  private reaper: { stdin: Socket; child: ChildProcess } | null = null;
  private stopped = false;

  constructor() {
    live.add(this);
    installHandlers();
  }

  private tellReaper(line: string): void {
    if (!this.reaper) {
      const child = spawn(process.execPath, [join(import.meta.dirname, 'reaper.ts')], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.unref();
      const stdin = child.stdin as Socket;
      stdin.unref(); // the watchdog must not keep the event loop alive
      stdin.on('error', () => {});
      this.reaper = { stdin, child };
    }
    this.reaper.stdin.write(line + '\n');
  }

  /** Registers a directory to delete when the group stops. */
  ownDir(dir: string): void {
    this.dirs.add(dir);
    this.tellReaper(`dir ${dir}`);
  }

  start(
    name: string,
    command: string,
    args: string[],
    opts: { logDir: string; env?: NodeJS.ProcessEnv },
  ): Managed {
    if (this.stopped) throw new Error('process group already stopped');
    const logFile = join(opts.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        detached: true, // own process group: kill(-pid) reaches its children too
        stdio: ['ignore', fd, fd],
        env: opts.env ?? process.env,
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error(`cannot start ${command}`);
    child.unref();
    const m: Managed = {
      name,
      pid: child.pid,
      logFile,
      exit: null,
      child,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          m.exit = { code, signal };
          resolve();
        });
        child.once('error', () => {
          m.exit = { code: -1, signal: null };
          resolve();
        });
      }),
    };
    this.procs.push(m);
    this.tellReaper(`pgid ${child.pid}`);
    return m;
  }

  /** Throws with the log tail if a process died. */
  assertAlive(): void {
    for (const p of this.procs) {
      if (p.exit) {
        throw new Error(
          `${p.name} exited (code ${p.exit.code}, signal ${p.exit.signal}); log ${p.logFile}:\n${tail(p.logFile)}`,
        );
      }
    }
  }

  /**
   * Stops the processes one by one, last started first (clients before the API server,
   * the API server before etcd, so none waits on a peer that is already gone): SIGTERM to
   * the process group, SIGKILL after `graceMs`. Then removes the directories.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.procs].reverse()) {
      killGroup(p.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (groupAlive(p.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      killGroup(p.pid, 'SIGKILL');
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 1000))]);
    }
    this.removeDirs();
    this.closeReaper();
    live.delete(this);
  }

  /** Synchronous last resort (process 'exit' handler, signals). */
  stopNow(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.procs) killGroup(p.pid, 'SIGKILL');
    this.removeDirs();
    this.closeReaper();
    live.delete(this);
  }

  private removeDirs(): void {
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  }

  private closeReaper(): void {
    if (!this.reaper) return;
    this.reaper.stdin.write('clear\n');
    this.reaper.stdin.end();
    this.reaper = null;
  }
}

const live = new Set<ProcessGroup>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', () => {
    for (const g of [...live]) g.stopNow();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const g of [...live]) g.stopNow();
      process.kill(process.pid, sig); // the default action, now that the listener is gone
    });
  }
}
