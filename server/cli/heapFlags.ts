/**
 * The V8 young-generation cap `grid` runs with, applied by re-executing itself once.
 *
 * Why: the voice path makes garbage per packet, and V8 grows its semi-spaces when garbage comes
 * fast — on Node 24 to 64 MiB of young generation (measured by the relay bench), RSS that is
 * per process, not per peer, but that a small pod pays in full. Capped at 2 MiB per semi-space
 * the scavenges are more frequent but each copies less; docs/performance.md ("Sizing a
 * deployment") has the CPU and memory measured for 1, 2, 4 MiB and the default.
 *
 * Why a re-exec: the cap has to be a Node option. `v8.setFlagsFromString` once the isolate
 * exists does not change the heap's configured size (measured: the young generation still grew
 * to 128 MiB), and a shebang flag cannot be overridden by NODE_OPTIONS (command-line flags win).
 * `process.execve` replaces this process with the same program plus the flag — same pid, so
 * signals, supervisors and container runtimes see one process — before the server starts.
 *
 * Override: any `--max-semi-space-size` already given (NODE_OPTIONS or node's command line) is
 * kept as it is; `--max-semi-space-size=0` means V8's own default.
 */

export const GRID_MAX_SEMI_SPACE_MB = 2;

const SEMI_SPACE_FLAG = /--max[-_]semi[-_]space[-_]size(?:[=\s]+(\d+))?/;

/** The semi-space cap in MiB an operator already chose, `undefined` when none was given. */
export function chosenSemiSpaceMb(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): number | undefined {
  // Node applies NODE_OPTIONS first and its command line after, so the command line wins.
  for (const source of [execArgv.join(' '), nodeOptions ?? '']) {
    const match = SEMI_SPACE_FLAG.exec(source);
    if (match) return Number(match[1] ?? 0);
  }
  return undefined;
}

/** The Node flags to re-execute with: empty when the operator chose a cap already. */
export function heapFlagsToAdd(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  return chosenSemiSpaceMb(execArgv, nodeOptions) === undefined
    ? [`--max-semi-space-size=${GRID_MAX_SEMI_SPACE_MB}`]
    : [];
}

/**
 * Re-executes this process with grid's heap flags unless they are set already; returns only
 * when no re-exec is needed or possible (Node without `process.execve`, i.e. before 22.15, or
 * Windows: grid then runs with V8's default young generation, and says so in its log).
 */
export function reexecWithHeapFlags(): void {
  const add = heapFlagsToAdd(process.execArgv, process.env.NODE_OPTIONS);
  if (add.length === 0 || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...add, ...process.argv.slice(1)]);
}

/** Whether `grid ARGS` runs the server (the other commands are short-lived: no re-exec). */
export function isServerCommand(args: readonly string[]): boolean {
  const [command] = args;
  if (command === undefined) return true;
  return command.startsWith('-') && !['--help', '-h', '--version', '-V'].includes(command);
}

/** One log line: the young-generation cap this process runs with and how to change it. */
export function describeHeapFlags(execArgv: readonly string[], nodeOptions: string | undefined): string {
  const mb = chosenSemiSpaceMb(execArgv, nodeOptions);
  if (mb === undefined) return "young generation: V8's default (grid could not re-execute itself with a cap)";
  const size = mb === 0 ? "V8's default" : `${mb} MiB per semi-space`;
  return `young generation: ${size} (--max-semi-space-size; set NODE_OPTIONS=--max-semi-space-size=N to change)`;
}
