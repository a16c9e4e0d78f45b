/**
 * Self size and count per constructor of a V8 heap snapshot (.heapsnapshot JSON), largest first:
 * what DevTools' "Summary" view shows, for the terminal.
 *
 *   node bench/transports/heapSnapshotSummary.ts FILE [top=30]
 */
import { readFileSync } from 'node:fs';

export type ConstructorRow = { name: string; selfSize: number; count: number };

type Snapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
};

export function summarizeHeapSnapshot(file: string): ConstructorRow[] {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const rows = new Map<string, ConstructorRow>();
  const nodes = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    // Objects by constructor name; everything else (strings, code, arrays' backing stores...) by type.
    const name =
      type === 'object' || type === 'closure' ? `${snapshot.strings[nodes[i + nameAt]!]}` : `(${type})`;
    const key = type === 'closure' ? `${name}()` : name;
    let row = rows.get(key);
    if (row === undefined) {
      row = { name: key, selfSize: 0, count: 0 };
      rows.set(key, row);
    }
    row.selfSize += nodes[i + sizeAt]!;
    row.count++;
  }
  return [...rows.values()].sort((a, b) => b.selfSize - a.selfSize);
}

if (import.meta.main) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: node bench/transports/heapSnapshotSummary.ts FILE [top=30]');
    process.exit(2);
  }
  for (const row of summarizeHeapSnapshot(file).slice(0, Number(process.argv[3] ?? 30))) {
    console.log(`${String(row.selfSize).padStart(12)} ${String(row.count).padStart(9)}  ${row.name}`);
  }
}
