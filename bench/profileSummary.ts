#!/usr/bin/env node
/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. `grid-bench --cpu-prof DIR`):
 * self time by function and by source file, the top entries, as a share of the busy (not idle)
 * sampled time, so a profile of a whole run (start-up, joins, idle gaps) still reads well.
 *
 *   node bench/profileSummary.ts FILE.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

export type ProfileLine = { name: string; share: number };

/** Self time per function and per file, descending, as shares of the busy sampled time. */
export function summarizeProfile(profile: Profile): { byFunction: ProfileLine[]; byFile: ProfileLine[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    if (byId.get(id)?.callFrame.functionName === '(idle)') return;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, time] of self) {
    const frame = byId.get(id)!.callFrame;
    const short = frame.url
      .replace(/^.*\/node_modules\//, '')
      .replace(/^file:\/\/.*?\/(server|client|bench)\//, '$1/');
    const name =
      `${frame.functionName || '(anonymous)'} ${short ? `${short}:${frame.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + time);
    const key = short === '' ? frame.functionName || '(native)' : short.replace(/:\d+$/, '');
    file.set(key, (file.get(key) ?? 0) + time);
  }
  const sorted = (m: Map<string, number>) =>
    [...m].map(([name, time]) => ({ name, share: time / total })).sort((a, b) => b.share - a.share);
  return { byFunction: sorted(fn), byFile: sorted(file) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/profileSummary.ts FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const { byFunction, byFile } = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const print = (title: string, lines: ProfileLine[]) => {
    process.stdout.write(`${title}\n`);
    for (const line of lines.slice(0, top))
      process.stdout.write(`  ${(line.share * 100).toFixed(1).padStart(5)}%  ${line.name}\n`);
  };
  print('self time by file', byFile);
  print('self time by function', byFunction);
}
