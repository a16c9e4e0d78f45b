/**
 * `npm run fuzz`: coverage-guided fuzzing (Jazzer.js, libFuzzer inside Node) of every parser
 * that reads client bytes, each target for a bounded time, then a table of executions per
 * second and coverage (libFuzzer's `cov`: instrumented edges reached; `ft`: features).
 *
 *   npm run fuzz                              every target, 60 s each
 *   npm run fuzz -- --seconds 20              the CI run (about 4 minutes for all)
 *   npm run fuzz -- --seconds 300 qpack jwt   some targets, longer
 *   npm run fuzz -- --coverage                also the line and branch coverage of each
 *                                             target's source files (slower executions)
 *
 * Each target starts from its committed seed corpus `fuzz/corpus/<target>/` (read-only; new
 * inputs go to a temporary directory, or to `--keep DIR`). A crash or broken invariant stops
 * that target, its input is saved as `fuzz/crashes/<target>-crash-<sha1>` and the run exits 1
 * (an allocation bomb that runs the capped heap out of memory fails the run too, but V8 aborts
 * before libFuzzer can save the input: replay the corpus under the same cap to find it):
 * copy it to `fuzz/regressions/<target>/` with the fix, and test/fuzz/replay.test.ts replays
 * it on every `npm test`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureJazzerAddon } from './jazzerNative.ts';
import { FUZZ_TARGETS, type FuzzTargetInfo, INSTRUMENTED_FOLDERS } from './targets/index.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Heap of each fuzzing process (MB). */
const HEAP_MB = 128;

type Result = {
  target: string;
  status: string;
  runs: number;
  execPerSecond: number;
  cov: number;
  ft: number;
  corpus: number;
  /** With --coverage: lines and branches of the target's subject files reached, in percent. */
  lines?: number;
  branches?: number;
};

type Totals = { total: number; covered: number };

/** Sums istanbul's json-summary over the target's subject files. */
function subjectCoverage(
  summaryFile: string,
  subjects: readonly string[],
): { lines: number; branches: number } {
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<
    string,
    { lines: Totals; branches: Totals }
  >;
  const lines = { total: 0, covered: 0 };
  const branches = { total: 0, covered: 0 };
  for (const subject of subjects) {
    const entry = summary[join(root, subject)];
    lines.total += entry?.lines.total ?? 0;
    lines.covered += entry?.lines.covered ?? 0;
    branches.total += entry?.branches.total ?? 0;
    branches.covered += entry?.branches.covered ?? 0;
  }
  const percent = (t: Totals) => (t.total === 0 ? 0 : Math.round((1000 * t.covered) / t.total) / 10);
  return { lines: percent(lines), branches: percent(branches) };
}

/** libFuzzer's last status line: `#1234 DONE cov: 210 ft: 900 corp: 120/4Kb ... exec/s: 8000 rss: ...`. */
function parseStats(output: string): Omit<Result, 'target' | 'status' | 'corpus'> {
  const lines = output.split('\n').filter((line) => /^#\d+\s/.test(line));
  const last = lines.at(-1) ?? '';
  const number = (pattern: RegExp) => Number(pattern.exec(last)?.[1] ?? 0);
  return {
    runs: number(/^#(\d+)/),
    cov: number(/cov: (\d+)/),
    ft: number(/ft: (\d+)/),
    execPerSecond: number(/exec\/s: (\d+)/),
  };
}

function runTarget(
  target: FuzzTargetInfo,
  seconds: number,
  workDir: string,
  options: { verbose: boolean; coverage: boolean },
): Promise<Result> {
  const { verbose } = options;
  const coverageDir = `${workDir}-coverage`;
  const seeds = join(root, 'fuzz', 'corpus', target.name);
  const crashes = join(root, 'fuzz', 'crashes');
  mkdirSync(crashes, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const args = [
    // A capped heap turns an allocation bomb (a parser reserving memory for what an input only
    // declares) into a finding: V8 aborts, libFuzzer saves the input.
    `--max-old-space-size=${HEAP_MB}`,
    '--import',
    join(root, 'fuzz', 'typeStripping.ts'),
    join(root, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js'),
    join(root, 'fuzz', 'targets', `${target.name}.ts`),
    // Instrument the server's code only (coverage feedback comes from what we want to test).
    ...INSTRUMENTED_FOLDERS.flatMap((folder) => ['--includes', join(root, folder)]),
    ...(target.async ? [] : ['--sync']),
    // Source coverage (istanbul) slows every execution: only when asked.
    ...(options.coverage
      ? ['--coverage', '--coverage_directory', coverageDir, '--coverage_reporters', 'json-summary']
      : []),
    '--',
    workDir,
    seeds,
    `-max_total_time=${seconds}`,
    '-max_len=4096',
    '-timeout=10',
    '-rss_limit_mb=2048',
    `-artifact_prefix=${crashes}/${target.name}-`,
    '-print_final_stats=1',
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > 1_000_000) output = output.slice(-500_000);
      if (verbose) process.stderr.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => {
      const stats = parseStats(output);
      const corpus = readdirSync(workDir).length;
      const status = code === 0 ? 'ok' : 'FINDING';
      if (code !== 0 && !verbose) process.stderr.write(output.slice(-6000));
      const summary = join(coverageDir, 'coverage-summary.json');
      const coverage = existsSync(summary) ? subjectCoverage(summary, target.subjects) : {};
      resolve({ target: target.name, status, corpus, ...stats, ...coverage });
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '60' },
      keep: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      coverage: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new Error(`--seconds must be a positive integer, got ${values.seconds}`);
  const unknown = positionals.filter((name) => !FUZZ_TARGETS.some((target) => target.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown fuzz target(s) ${unknown.join(', ')}; known: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`,
    );
  }
  const targets =
    positionals.length === 0 ? FUZZ_TARGETS : FUZZ_TARGETS.filter((t) => positionals.includes(t.name));
  console.log(ensureJazzerAddon());
  const scratch = values.keep ?? mkdtempSync(join(tmpdir(), 'grid-fuzz-'));
  const results: Result[] = [];
  try {
    for (const target of targets) {
      console.log(`fuzzing ${target.name} for ${seconds} s ...`);
      results.push(
        await runTarget(target, seconds, join(scratch, target.name), {
          verbose: values.verbose,
          coverage: values.coverage,
        }),
      );
    }
  } finally {
    if (values.keep === undefined) rmSync(scratch, { recursive: true, force: true });
  }
  const header = 'target         status        runs   exec/s  cov (edges)  ft (features)  corpus';
  console.log(`\n${header}${values.coverage ? '  lines %  branches %' : ''}`);
  for (const r of results) {
    const columns = [
      r.target.padEnd(14),
      r.status.padEnd(8),
      String(r.runs).padStart(9),
      String(r.execPerSecond).padStart(8),
      String(r.cov).padStart(12),
      String(r.ft).padStart(14),
      String(r.corpus).padStart(7),
    ];
    if (values.coverage)
      columns.push(String(r.lines ?? '-').padStart(8), String(r.branches ?? '-').padStart(11));
    console.log(columns.join(' '));
  }
  if (results.some((r) => r.status !== 'ok')) {
    console.error(
      '\nfindings: see the inputs in fuzz/crashes/ (replay: node fuzz/replay.ts <target> <file>)',
    );
    process.exitCode = 1;
  }
}

await main();
