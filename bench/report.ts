/** Human-readable output of the bench: numbers with separators, two-column tables. */
import type { JoinResult, Percentiles, RunResult } from './loadTest.ts';

export function fmtInt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return Math.round(value).toLocaleString('en-US');
}

export function fmtMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

export function fmtBytes(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MB`;
  if (abs >= 1024) return `${(value / 1024).toFixed(1)} KB`;
  return `${Math.round(value)} B`;
}

export function fmtPercent(share: number | undefined, digits = 0): string {
  if (share === undefined || !Number.isFinite(share)) return '-';
  return `${(share * 100).toFixed(digits)} %`;
}

export function fmtPercentiles(p: Percentiles, keys: (keyof Percentiles)[] = ['p50', 'p95', 'p99']): string {
  return `${keys.map((k) => fmtMs(p[k])).join(' / ')} ms`;
}

/** Rows of [label, value] as aligned text; a row with an empty label is a heading. */
export function formatTable(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows
    .map(([label, value]) => (label === '' ? value : `  ${label.padEnd(width)}  ${value}`))
    .join('\n');
}

/** Memory per peer from the RSS before and after joining. */
export function perPeer(
  before: number | undefined,
  after: number | undefined,
  peers: number,
): number | undefined {
  if (before === undefined || after === undefined || peers === 0) return undefined;
  return (after - before) / peers;
}

export function joinRows(join: JoinResult): [string, string][] {
  return [
    [
      'peers joined',
      `${join.peers}${join.failures.length ? ` (${join.failures.length} failed)` : ''} in ${join.seconds.toFixed(1)} s`,
    ],
    ['connect p50/p99', fmtPercentiles(join.connect, ['p50', 'p99'])],
    ['join p50/p99', fmtPercentiles(join.join, ['p50', 'p99'])],
    [
      'server RSS idle',
      `${fmtBytes(join.rssAfter)} (${fmtBytes(perPeer(join.rssBefore, join.rssAfter, join.peers))} per peer)`,
    ],
  ];
}

export function runRows(run: RunResult): [string, string][] {
  const rows: [string, string][] = [
    ['voice in (sent)', `${fmtInt(run.inPerSecond)} packets/s`],
    [
      'voice out (received)',
      `${fmtInt(run.outPerSecond)} packets/s (expected ${fmtInt(run.expectedOutPerSecond)})`,
    ],
    ['loss', fmtPercent(run.loss, 2)],
    ['latency p50/p95/p99', `${fmtPercentiles(run.latency)} (max ${fmtMs(run.latency.max)})`],
  ];
  if (run.server) {
    rows.push([
      'server counters',
      `in ${fmtInt(run.server.inPerSecond)}/s, out ${fmtInt(run.server.outPerSecond)}/s`,
    ]);
  }
  if (run.serverCpu !== undefined) {
    const perCore = run.serverCpu > 0 ? run.outPerSecond / run.serverCpu : undefined;
    rows.push([
      'server CPU',
      `${fmtPercent(run.serverCpu)} of one core (${fmtInt(perCore)} forwarded/s per core)`,
    ]);
    rows.push(['server RSS', fmtBytes(run.serverRss)]);
  }
  const c = run.clients;
  rows.push([
    'load clients',
    `CPU ${c.cpu.map((x) => fmtPercent(x)).join(', ')}; loop delay p99 ${fmtMs(c.loopDelayP99Ms)} ms; longest GC ${fmtMs(c.gcMaxMs)} ms` +
      (c.skipped ? `; ${fmtInt(c.skipped)} sends skipped (clients too slow)` : '') +
      (c.refused ? `; ${fmtInt(c.refused)} refused` : ''),
  ]);
  return rows;
}
