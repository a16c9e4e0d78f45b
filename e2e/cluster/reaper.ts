// Watchdog of a test cluster, started by processes.ts in its own process group.
// It reads lines from stdin: `pgid N` (a process group to kill), `dir PATH` (a directory to
// remove), `clear` (forget everything: the owner cleaned up itself). When stdin ends (the
// owner exited, even by SIGKILL, so no exit handler ran) it kills what is left and removes
// the directories, so a crashed test run leaves no control-plane processes or temp dirs.
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const groups = new Set<number>();
const dirs = new Set<string>();

function reap(): void {
  // The owner is gone, and with it any use for the cluster's state: no graceful shutdown.
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  process.exit(0);
}

process.on('SIGINT', () => {}); // a Ctrl-C of the terminal's group must not skip the clean-up
process.on('SIGHUP', () => {});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [cmd, ...rest] = line.split(' ');
  const arg = rest.join(' ');
  if (cmd === 'pgid') groups.add(Number(arg));
  else if (cmd === 'unpgid') groups.delete(Number(arg));
  else if (cmd === 'dir') dirs.add(arg);
  else if (cmd === 'clear') {
    groups.clear();
    dirs.clear();
  }
});
lines.on('close', reap);
